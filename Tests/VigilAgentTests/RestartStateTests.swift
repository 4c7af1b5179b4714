import Foundation
import Logging
import Metrics
import Synchronization
import Testing
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilStore
import VigilTestSupport
import VigilValidation
@testable import VigilAgent
import VigilProvisioning

/// What the gateway knows survives a restart, in-process: the pipeline on real files, the
/// in-memory inbox twin, and a "crash image" (a copy of the state directory taken while the
/// gateway runs: what a power cut or SIGKILL leaves, since everything acknowledged is synced).
@Suite struct RestartStateTests {
    final class Published: Sendable {
        let messages = Mutex<[(topic: String, payload: [UInt8])]>([])
        func on(_ topic: String) -> [[UInt8]] { messages.withLock { $0.filter { $0.topic == topic }.map(\.payload) } }
    }

    struct Gateway {
        let pipeline: PipelineService
        let source: MQTTMessageSource
        let store: Store
        let keeper: StateKeeper
        let published: Published
        let task: Task<Void, any Error>

        func stop() async {
            source.finish()
            task.cancel()
            _ = await task.result
        }
    }

    let keyring = Keyring.generate()
    let keyBytes = Array(repeating: UInt8(0x3C), count: 32)
    var key: DeviceKey { DeviceKey(device: DeviceID("dev-s")!, bytes: keyBytes)! }
    static let t0: UInt64 = 1_795_350_000_000
    static let settingsTopic = "vigil/v1/_gateway/gw-test/patient-settings"

    func provision(_ directory: TemporaryDirectory) throws {
        try DeviceRegistry.write(.init(device: "dev-s", patient: "Patient/s", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: directory.path + "/devices"))
    }

    /// Starts the pipeline on `directory` as the agent does: state restored from the checkpoint
    /// and the log, removals guarded by the keeper.
    func start(_ directory: TemporaryDirectory, uptime: @escaping @Sendable () -> Duration = PipelineService.Dependencies.processUptime,
               patients: PatientSettingsStore? = nil) throws -> Gateway {
        let logger = Logger(label: "t")
        let sensors = SensorBook()
        let opened = try RestoredState.open(
            directory: directory.path + "/log", keyring: keyring,
            options: StoreOptions(segmentBytes: 1_024, quotaBytes: 1 << 30, reserveBytes: 0), logger: logger,
            metrics: StoreMetrics(factory: NOOPMetricsHandler.instance), sensors: sensors)
        let keeper = StateKeeper(file: CheckpointFile(directory: directory.path + "/log", keyring: keyring), sensors: sensors,
                                 logger: logger, metrics: NOOPMetricsHandler.instance)
        opened.store.guardRemovals { lane, end in keeper.mayRemove(lane, through: end) }
        let (messages, source) = MQTTMessages.inMemory()
        let published = Published()
        let pipeline = PipelineService(.init(
            messages: messages, topics: Topics(),
            registry: DeviceRegistry(directory: URL(fileURLWithPath: directory.path + "/devices"), logger: logger),
            metrics: AgentMetrics(factory: NOOPMetricsHandler.instance), logger: logger, summaryInterval: .seconds(60),
            publish: { topic, payload in published.messages.withLock { $0.append((topic, payload)) } },
            publishRetained: { _, _ in }, store: opened.store, validator: opened.validator, commitWindow: .milliseconds(2),
            scoring: .perReading, patients: patients, patientSettingsTopic: Self.settingsTopic, sensors: sensors, restored: opened.state, keeper: keeper, uptime: uptime))
        let task = Task { try await pipeline.run() }
        return Gateway(pipeline: pipeline, source: source, store: opened.store, keeper: keeper, published: published, task: task)
    }

    /// Five readings a second apart from `seq`; abnormal ones score NEWS2 6 (pulse 131.7, SpO2 87.3 %).
    func frame(seq: UInt32, abnormal: Bool = false, minutesLater: UInt64 = 0) -> MQTTMessage {
        let values: [(Channel, Int16)] = abnormal ? [(.pulseRate, 1_317), (.spo2, 873)] : [(.pulseRate, 720), (.spo2, 970)]
        let payload = FrameEncoder.readings(
            key: key, boot: 1, seq: seq, t0: Self.t0 + UInt64(seq) * 1_000 + minutesLater * 60_000,
            records: (0..<5).map { .init(dt: UInt32($0) * 1_000, values: values) }, flags: .clockSynced)
        return MQTTMessage(topic: "vigil/v1/dev-s/up", payload: payload, qos: .atLeastOnce, retain: false)
    }

    func ackedThrough(_ gateway: Gateway) -> UInt32? {
        gateway.published.on("vigil/v1/dev-s/ack").compactMap { payload -> UInt32? in
            guard case .ack(let ack)? = try? FrameDecoder.decode(payload, key: key) else { return nil }
            return ack.seq
        }.max()
    }

    func resends(_ gateway: Gateway) -> [ClosedRange<UInt32>] {
        gateway.published.on("vigil/v1/dev-s/cmd").compactMap { payload in
            guard case .resend(let resend)? = try? FrameDecoder.decode(payload, key: key) else { return nil }
            return resend.fromSeq...resend.toSeq
        }
    }

    /// 300 readings in 12 commits, so the 1 KiB segments fill and are sealed one after another.
    func fillSealedSegments(_ gateway: Gateway) async {
        for seq in stride(from: UInt32(0), to: 300, by: 25) {
            for offset in stride(from: UInt32(0), to: 25, by: 5) { gateway.source.yield(frame(seq: seq + offset)) }
            #expect(await eventually { ackedThrough(gateway) == seq + 24 })
        }
    }

    /// Starts the gateway on `image` after `fillSealedSegments`: the next reading is
    /// acknowledged, reading 0 resent is acknowledged again as a duplicate, and nothing is asked
    /// for again. Returns the sequence numbers of every reading then in the log.
    func continueAfterRestart(_ image: TemporaryDirectory) async throws -> [UInt32] {
        let second = try start(image)
        second.source.yield(frame(seq: 300))
        #expect(await eventually { ackedThrough(second) == 304 })
        second.source.yield(frame(seq: 0))
        #expect(await eventually { second.published.on("vigil/v1/dev-s/ack").count >= 2 }, "a duplicate is acknowledged again")
        await second.stop()
        #expect(resends(second).isEmpty, "asked again for stored readings: \(resends(second))")
        return try entries(image).flatMap { entry -> [UInt32] in
            guard case .readings(let batch) = entry else { return [] }
            return batch.readings.map(\.seq)
        }
    }

    func entries(_ directory: TemporaryDirectory) throws -> [Entry] {
        try StoreInspector(directory: directory.path + "/log", keyring: keyring).entries().map(\.entry)
    }

    func news2Alerts(_ directory: TemporaryDirectory) throws -> [AlertEvent] {
        try entries(directory).compactMap { entry in
            guard case .alert(let alert) = entry, alert.event.model == "news2" else { return nil }
            return alert.event
        }
    }

    /// The state directory as a crash would leave it at this instant.
    func crashImage(of directory: TemporaryDirectory) throws -> TemporaryDirectory {
        let image = try TemporaryDirectory("crash-image")
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            try FileManager.default.copyItem(atPath: directory.path + "/" + name, toPath: image.path + "/" + name)
        }
        return image
    }

    func routineSegments(_ directory: TemporaryDirectory) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path + "/log/routine")) ?? []).count
    }

    /// Readings 0–299 stored, acknowledged, uploaded and their segments deleted; then a crash.
    /// After the restart the next readings are acknowledged at once, nothing deleted is asked for
    /// again, and an old reading resent is a duplicate, not stored twice.
    @Test func acknowledgementsContinueAfterTheUploadedLogWasTrimmed() async throws {
        let directory = try TemporaryDirectory("restart-trim")
        defer { directory.remove() }
        try provision(directory)
        let first = try start(directory)
        await fillSealedSegments(first)
        let segmentsBefore = routineSegments(directory)
        // The uplink confirmed everything: sealed segments before its cursor are deleted.
        try first.store.advance(.routine, to: first.store.end(.routine))
        #expect(routineSegments(directory) < segmentsBefore - 1, "uploaded segments were deleted")
        #expect(FileManager.default.fileExists(atPath: directory.path + "/log/checkpoint"))
        let image = try crashImage(of: directory)
        defer { image.remove() }
        await first.stop()

        let stored = try await continueAfterRestart(image)
        #expect(!stored.contains(0) && stored.contains(300), "the resent reading 0 was not stored twice")
    }

    /// A long log nothing was uploaded from, and a checkpoint: the next start opens every sealed
    /// segment the checkpoint accounts for from its seal (their entries are not read, nothing is
    /// replayed), and the gateway carries on as if it had read them all: the next readings are
    /// acknowledged, and an old one resent is a duplicate.
    @Test func aStartAfterACheckpointDoesNotReadTheSegmentsItAccountsFor() async throws {
        let directory = try TemporaryDirectory("restart-known")
        defer { directory.remove() }
        try provision(directory)
        let first = try start(directory)
        await fillSealedSegments(first)
        #expect(first.keeper.write())
        let image = try crashImage(of: directory)
        defer { image.remove() }
        await first.stop()
        let segments = routineSegments(image)
        try #require(segments > 5)

        let opened = try RestoredState.open(
            directory: image.path + "/log", keyring: keyring, options: StoreOptions(segmentBytes: 1_024, quotaBytes: 1 << 30, reserveBytes: 0),
            logger: Logger(label: "t"), metrics: StoreMetrics(factory: NOOPMetricsHandler.instance), sensors: nil)
        // All but the newest routine segment (its entries may not all be before the position).
        #expect(opened.report.trusted >= segments - 1)
        // No reading is replayed (the priority lane's newest segment is read, and its technical
        // events applied again change nothing).
        let replayed = opened.state.replay.filter { if case .readings = $0 { true } else { false } }
        #expect(replayed.isEmpty, "replayed \(replayed.count) batches the checkpoint reflects")
        #expect(opened.store.unsentCount(.routine) == 60, "every batch still counted (60 of 5 readings)")
        try opened.store.close()

        let stored = try await continueAfterRestart(image)
        #expect(stored.filter { $0 == 0 }.count == 1, "the resent reading 0 was not stored twice")
        #expect(stored.count == 305)
    }

    /// An episode raised after the last checkpoint, then a crash (`graceful` false: the log is
    /// replayed over the older checkpoint), or a stop (`graceful`: the checkpoint has it): the
    /// condition continues without a second raise, the reminder comes on schedule with the same
    /// id, and the end of the condition clears that id.
    @Test(arguments: [false, true])
    func anEpisodeContinuesAcrossARestartAndIsClearedByItsOwnID(graceful: Bool) async throws {
        let directory = try TemporaryDirectory("restart-episode")
        defer { directory.remove() }
        try provision(directory)
        let first = try start(directory)
        first.source.yield(frame(seq: 0))
        #expect(await eventually { ackedThrough(first) == 4 })
        #expect(first.keeper.write(), "a periodic checkpoint, before the deterioration")
        first.source.yield(frame(seq: 5, abnormal: true))
        #expect(await eventually { ackedThrough(first) == 9 })
        let raised = try news2Alerts(directory)
        #expect(raised.map(\.kind) == [.raise], "\(raised.map(\.kind))")
        let id = try #require(raised.first?.alertID)
        if graceful { await first.stop() }
        let image = try crashImage(of: directory)
        defer { image.remove() }
        if !graceful { await first.stop() }

        let second = try start(image)
        second.source.yield(frame(seq: 10, abnormal: true))
        second.source.yield(frame(seq: 15, abnormal: true, minutesLater: 31))
        second.source.yield(frame(seq: 20, minutesLater: 31))
        #expect(await eventually { ackedThrough(second) == 24 })
        await second.stop()
        let alerts = try news2Alerts(image)
        #expect(alerts.map(\.kind) == [.raise, .remind, .clear], "\(alerts.map(\.kind))")
        #expect(alerts.allSatisfy { $0.alertID == id }, "one episode: \(alerts.map { $0.alertID ?? "-" })")
    }

    /// A sensor that ran before the gateway knew it: its first frame is seq 1000. The gateway
    /// asks for what came before (the newest 256) three times, then gives it up with one gap
    /// record and acknowledges.
    @Test func aBootFirstSeenMidSequenceIsAcknowledgedAfterTheResendsWithOneGapRecord() async throws {
        let directory = try TemporaryDirectory("restart-midboot")
        defer { directory.remove() }
        try provision(directory)
        let clock = Mutex(Duration.zero)
        let gateway = try start(directory, uptime: { clock.withLock { $0 } })
        for step in 0..<4 {
            gateway.source.yield(frame(seq: 1_000 + UInt32(step) * 5))
            #expect(await eventually { ackedThrough(gateway) != nil || resends(gateway).count == step + 1 }, "step \(step)")
            clock.withLock { $0 += ResendScheduler.interval }
        }
        #expect(await eventually { ackedThrough(gateway) == 1_019 })
        await gateway.stop()
        #expect(resends(gateway) == Array(repeating: 744...999, count: ResendScheduler.maxAttempts))
        let gaps = try entries(directory).compactMap { entry -> DataGap? in
            if case .gap(let gap) = entry { return gap }
            return nil
        }
        #expect(gaps.count == 1 && gaps.first?.reason == .beforeFirstSeen && gaps.first?.count == 1_000, "\(gaps)")
    }
}
