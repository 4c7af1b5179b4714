import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VigilCore
import VigilModels
import VigilMQTT
import VigilProtocol
import VigilStore
import VigilValidation
import VigilScoring
import VigilProvisioning

/// The per-message path: topic → device → decode and authenticate → validate (duplicates,
/// replays, gaps, clock) → accepted readings. Rejections are counted per reason and logged at a
/// bounded rate, with device ids and reason codes only, never readings.
///
/// Accepted readings go to the encrypted store in group commits: the pipeline handles every
/// message already waiting, waits up to the commit window for more, then one `fdatasync` covers
/// the batch and only then are the devices acknowledged.
public final class PipelineService: Service {
    public struct Dependencies: Sendable {
        public var messages: MQTTMessages
        public var topics: Topics
        public var registry: DeviceRegistry
        public var metrics: AgentMetrics
        public var logger: Logger
        public var summaryInterval: Duration
        /// Fire-and-forget publish to a device topic (acks, resend requests).
        public var publish: @Sendable (String, [UInt8]) -> Void
        /// The same, retained by the broker (CONFIG: a device gets it whenever it subscribes).
        public var publishRetained: @Sendable (String, [UInt8]) -> Void
        public var store: Store
        /// Sequence state rebuilt from the store at start (``Validator/restore(device:boot:seqs:)``).
        public var validator: Validator
        public var commitWindow: Duration
        /// How live readings are scored (models.*).
        package var scoring = ScoringSettings()
        /// Where upstream acknowledges alerts (``Topics/gatewayAlertAck(_:)``).
        public var alertAckTopic: String?
        /// Patients' clinical settings (files the CLI writes; changes from upstream).
        package var patients: PatientSettingsStore?
        /// Where upstream changes them (``Topics/gatewayPatientSettings(_:)``).
        public var patientSettingsTopic: String?
        /// What is observed of each sensor (status, rates, rejections, recent readings).
        package var sensors: SensorBook?
        /// The open alert episodes, for status and metrics.
        package var alertBoard: AlertBoard?
        /// Each patient's coverage per day, for reports.
        package var coverageBoard: CoverageBoard?
        /// The gateway clock's jumps, for status.
        package var clockBoard: ClockBoard?
        /// The gateway's own facts for its technical conditions (`nil`: only the sensors' are judged,
        /// from the start of the run).
        package var gatewayWatch: GatewayWatch?
        /// Quantized models run on every reading.
        public var models: [QuantizedModel] = []
        /// Messages handled in one group commit at most.
        public var maxBatch = 1_024
        /// Where the group commit's write and fdatasync run (off the cooperative pool).
        public var storeIO = BlockingIO()
        /// The scorer's state and the log entries to replay over it, restored at start.
        var restored = RestoredState()
        /// Keeps the checkpoint: handed the pipeline's state after every commit.
        var keeper: StateKeeper?
        /// How often the checkpoint is written while something changed.
        public var checkpointInterval: Duration = .seconds(60)
        /// How often the time-driven conditions (silence, the uplink, the clock) are judged.
        public var tickInterval: Duration = .seconds(10)
        /// How often the registry and patients' settings directories are looked at (a `stat` each;
        /// a message from an unknown device reloads at once). Every wake-up costs an idle box.
        public var registryWatchInterval: Duration = .seconds(5)
        /// Monotonic time since start, for rate limits and resend pacing (a twin in tests).
        public var uptime: @Sendable () -> Duration = Self.processUptime
        /// The gateway's wall clock in Unix ms, for receive times and clock mapping (a twin in tests).
        public var wallClock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000) }

        /// The gateway's boot-time clock (ms, does not jump) and its boot, for receipts while the
        /// wall clock is unsynchronised (``ClockReceipt``; twins in tests).
        package var bootClock: @Sendable () -> Int64 = BootClock.milliseconds
        package var gatewayBoot: UInt64 = BootClock.gatewayBoot
        /// Looked at every tick, so this boot's synchronised offset is remembered even while the
        /// uplink sends nothing (it corrects this boot's readings after a reboot).
        package var timeline: GatewayTimeline?

        public static let processUptime: @Sendable () -> Duration = {
            let start = ContinuousClock.now
            return { ContinuousClock.now - start }
        }()
    }

    private let dependencies: Dependencies
    private var logger: Logger { dependencies.logger }
    private let processedCount = Atomic<UInt64>(0)
    /// Per device and kind, what arrived since the last summary line (shared with the ticker).
    private let interval = Mutex<[Key: Tally]>([:])
    /// The CONFIG version last published per device (published again after a restart: harmless,
    /// the broker keeps one retained message per topic and devices ignore versions they have).
    private let publishedConfigs = Mutex<[DeviceID: UInt32]>([:])

    struct Key: Hashable, Comparable {
        var device: String
        var kind: String
        static func < (a: Key, b: Key) -> Bool { (a.device, a.kind) < (b.device, b.kind) }
    }

    struct Tally {
        var messages = 0
        var bytes = 0
        var readings = 0
    }

    public init(_ dependencies: Dependencies) {
        self.dependencies = dependencies
    }

    /// Messages fully handled since start: the watchdog's measure of progress.
    public var processed: UInt64 { processedCount.load(ordering: .relaxed) }

    public func run() async throws {
        dependencies.registry.reload()
        logger.info("device registry loaded", metadata: ["devices": "\(dependencies.registry.count)"])
        if let patients = dependencies.patients {
            patients.reloadIfChanged()
            logger.info("patient clinical settings loaded", metadata: ["patients": "\(patients.current.count)"])
        }
        publishConfigs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.logSummaries() }
            group.addTask { await self.watchRegistry() }
            group.addTask { await self.checkpointPeriodically() }
            group.addTask { await self.tick() }
            defer { group.cancelAll() }
            do {
                try await consume()
            } catch {
                // Nothing written since the last good sync can be trusted, and nothing unsynced was
                // acknowledged: the group stops and the agent exits for a restart and recovery.
                logger.critical("store sync failed: stopping for a restart and recovery", metadata: ["error": "\(error)"])
                throw error
            }
        }
        logSummary()
        if let keeper = dependencies.keeper { _ = try? await dependencies.storeIO.run { keeper.write() } }
        logger.info("pipeline drained", metadata: ["processed": "\(processed)"])
        // The inbox closes when ingest stops, which happens first in a graceful shutdown; the
        // group expects services to finish in its order, so wait for our own turn.
        try? await gracefulShutdown()
    }

    /// Ends when the ingest service stops the client and the inbox is drained.
    private func consume() async throws {
        var handler = MessageHandler(dependencies: dependencies, tally: { [self] key, bytes, readings in
            self.interval.withLock { tallies in
                tallies[key, default: Tally()].messages += 1
                tallies[key, default: Tally()].bytes += bytes
                tallies[key, default: Tally()].readings += readings
            }
        })
        let messages = dependencies.messages
        for await message in messages {
            handler.handle(message)
            processedCount.add(1, ordering: .relaxed)
            drain(messages, into: &handler)
            let full = handler.pendingCount >= dependencies.maxBatch
            if let since = handler.pendingSince, !handler.urgent, !full, dependencies.commitWindow > .zero {
                // Group commit: let readings arriving within the window share this sync.
                try? await Alarms.shared.sleep(until: since + dependencies.commitWindow)
                drain(messages, into: &handler)
            }
            try await handler.commit()
        }
        try await handler.commit()
    }

    private func drain(_ messages: MQTTMessages, into handler: inout MessageHandler) {
        while handler.pendingCount < dependencies.maxBatch, !handler.urgent, let next = messages.nextIfAvailable() {
            handler.handle(next)
            processedCount.add(1, ordering: .relaxed)
        }
    }

    /// Writes the checkpoint every interval while the state changes, so a restart replays at
    /// most that much of the log.
    private func checkpointPeriodically() async {
        guard let keeper = dependencies.keeper else { return }
        while !Task.isCancelled {
            try? await Alarms.shared.sleep(for: dependencies.checkpointInterval)
            _ = try? await dependencies.storeIO.run { keeper.writeIfChanged() }
        }
    }

    /// The topic of the pipeline's own clock ticks in its inbox: `$`-topics cannot be published
    /// by a device to a subscription of ours (MQTT 4.7.2), so only the pipeline puts them there.
    static let tickTopic = "$vigil/tick"

    /// Puts a tick in line with the messages every interval: the one task that owns the scorer
    /// judges the time-driven conditions between messages.
    private func tick() async {
        while !Task.isCancelled {
            try? await Alarms.shared.sleep(for: dependencies.tickInterval)
            dependencies.messages.inject(MQTTMessage(topic: Self.tickTopic, payload: [], qos: .atMostOnce, retain: false))
        }
    }

    /// Picks up registry changes (new devices, new settings) and patients' clinical settings
    /// within ``Dependencies/registryWatchInterval``.
    private func watchRegistry() async {
        while !Task.isCancelled {
            try? await Alarms.shared.sleep(for: dependencies.registryWatchInterval)
            // The pipeline may have reloaded the registry itself (a message from a new device):
            // compare the published versions every time, not only when this reload saw a change.
            dependencies.registry.reloadIfChanged()
            dependencies.patients?.reloadIfChanged()
            publishConfigs()
        }
    }

    /// Publishes a signed, retained CONFIG for every device whose settings version is new, and
    /// clears the retained CONFIG of a device that was removed (an empty retained message).
    func publishConfigs() {
        let provisioned = dependencies.registry.summaries
        let removed = publishedConfigs.withLock { published in
            let gone = published.keys.filter { provisioned[$0.rawValue] == nil }
            for device in gone { published[device] = nil }
            return gone
        }
        for device in removed {
            dependencies.publishRetained(dependencies.topics.topic(device, .config), [])
            logger.notice("cleared the settings of a removed device", metadata: ["device": "\(device)"])
        }
        for (device, config) in dependencies.registry.configs {
            guard publishedConfigs.withLock({ $0[device] }) != config.version,
                  let profile = dependencies.registry.profile(for: device) else { continue }
            let frame = FrameEncoder.config(key: profile.key, version: config.version, entries: config.entries)
            dependencies.publishRetained(dependencies.topics.topic(device, .config), frame)
            publishedConfigs.withLock { $0[device] = config.version }
            logger.notice("published device settings", metadata: ["device": "\(device)", "config_version": "\(config.version)"])
        }
    }

    private func logSummaries() async {
        while !Task.isCancelled {
            try? await Alarms.shared.sleep(for: dependencies.summaryInterval)
            logSummary()
        }
    }

    private func logSummary() {
        let tallies = interval.withLock { tallies in
            defer { tallies.removeAll(keepingCapacity: true) }
            return tallies
        }
        for key in tallies.keys.sorted() {
            var metadata: Logger.Metadata = [
                "device": "\(key.device)", "kind": "\(key.kind)",
                "messages": "\(tallies[key]!.messages)", "bytes": "\(tallies[key]!.bytes)",
            ]
            if key.kind == "up" { metadata["readings"] = "\(tallies[key]!.readings)" }
            logger.info("received", metadata: metadata)
        }
    }
}
