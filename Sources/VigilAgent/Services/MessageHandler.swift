import CoreMetrics
import Foundation
import Logging
import VigilCore
import VigilModels
import VigilMQTT
import VigilProtocol
import VigilStore
import VigilValidation
import VigilScoring

/// The state and decisions of the pipeline for one message at a time (owned by one task).
///
/// Accepted readings are appended to the store and held as *pending* until the batch's group
/// commit (``commit()``); only then are they recorded as stored and acknowledged to devices.
struct MessageHandler {
    let dependencies: PipelineService.Dependencies
    let tally: @Sendable (PipelineService.Key, Int, Int) -> Void
    var validator: Validator
    var resends = ResendScheduler()
    private var rejectLog = RateLimiter<String>(burst: 5, interval: .seconds(60))
    private var rejectCounters: [String: Counter] = [:]
    private var readingCounters: [DeviceID: Counter] = [:]
    private let duplicates: Counter
    private let gapsAbandoned: Counter
    private let resendRequests: Counter
    /// Signal quality, NEWS2 and the quantized models, per device and patient (bounded by the
    /// registry: only provisioned devices get here).
    private var scorer: ReadingScorer
    private let alertsRecorded: Counter
    private let jsonFrames: Counter
    private let storeFull: Counter
    private let acksSent: Counter
    private let clock = ContinuousClock()
    /// The gateway's wall clock against its monotonic one: jumps move every uptime mapping.
    private var gatewayClock = GatewayClock()
    /// Whether the gateway's clock is synchronised (from the tick's facts; trusted until known).
    private var gatewayClockTrusted = true
    private let gatewayClockJumps: Counter
    private var storeLog = RateLimiter<String>(burst: 3, interval: .seconds(60))

    private struct Pending {
        let accepted: Validator.Accepted
        let fresh: [UInt32]
        /// As stored (with quality grades), for the sensor book once it is durable.
        let batch: ReadingBatch
    }

    private struct SequenceKey: Hashable {
        let device: DeviceID
        let boot: UInt32
        let seq: UInt32
    }

    private struct BootKey: Hashable {
        let device: DeviceID
        let boot: UInt32
    }

    private var pending: [Pending] = []
    private var pendingSequences: Set<SequenceKey> = []
    /// Devices that sent only readings already pending: acknowledged after the commit.
    private var acknowledgeAfterCommit: Set<BootKey> = []
    /// When the oldest pending reading arrived (the group-commit window runs from here).
    private(set) var pendingSince: ContinuousClock.Instant?
    /// Something in the batch must not wait for the window (an alert).
    private(set) var urgent = false

    /// Entries appended without readings (an alert acknowledgement) that still need a sync.
    private var unsynced = false
    /// Alerts were raised, cleared or acknowledged in this batch: the alert board needs updating.
    private var alertsChanged = false
    /// Time of the newest upstream acknowledgement applied (checkpointed with the scorer).
    private var lastAcknowledgement: Int64
    /// When this run began (wall clock): silence is counted from here at the earliest.
    private let startedAt: Int64

    var hasPending: Bool { !pending.isEmpty || !acknowledgeAfterCommit.isEmpty || unsynced }
    var pendingCount: Int { pending.count }

    init(dependencies: PipelineService.Dependencies, tally: @escaping @Sendable (PipelineService.Key, Int, Int) -> Void) {
        self.dependencies = dependencies
        self.tally = tally
        validator = dependencies.validator
        duplicates = dependencies.metrics.duplicates
        scorer = ReadingScorer(models: dependencies.models, settings: dependencies.scoring)
        alertsRecorded = dependencies.metrics.alertsRecorded
        jsonFrames = dependencies.metrics.jsonFrames
        gatewayClockJumps = dependencies.metrics.gatewayClockJumps
        // Known from the first message on, not only from the first tick.
        gatewayClockTrusted = dependencies.gatewayWatch?.clockSynchronized != false
        storeFull = dependencies.metrics.storeFull
        acksSent = dependencies.metrics.acksSent
        gapsAbandoned = dependencies.metrics.gapsAbandoned
        resendRequests = dependencies.metrics.resendRequests
        lastAcknowledgement = dependencies.restored.lastAcknowledgement
        startedAt = dependencies.wallClock()
        restore(dependencies.restored)
    }

    /// Takes over the scorer's checkpointed state and replays what the log holds beyond it (its
    /// alerts are in the log already and are not stored again), then hands the result to the
    /// keeper: the state at start accounts for the whole log.
    private mutating func restore(_ restored: RestoredState) {
        if let state = restored.scorer { scorer.state = state }
        for item in restored.replay {
            switch item {
            case .readings(var batch):
                _ = scorer.score(&batch)
                dependencies.sensors?.stored(batch, at: batch.receivedAt)
            case .technical(let alert):
                scorer.restoreTechnical(alert)
            case .acknowledgement(let alert):
                if let id = alert.event.alertID, let by = alert.event.by {
                    _ = scorer.acknowledge(patient: alert.patient, alertID: id, by: by, at: alert.time)
                }
                lastAcknowledgement = max(lastAcknowledgement, alert.time)
            }
        }
        // Rollups the replay finished may be in the log already (a crash after storing them):
        // stored again, they name the same resources, which the server creates once.
        for rollup in scorer.takeRollups() { dependencies.store.append(.rollup(rollup)) }
        dependencies.alertBoard?.replace(with: scorer.openEpisodes)
        dependencies.coverageBoard?.replace(with: scorer.coverageLedger)
        handOver()
    }

    /// Gives the keeper the state as of the last commit, with the log positions it covers.
    private func handOver() {
        guard let keeper = dependencies.keeper else { return }
        let store = dependencies.store
        keeper.update(PipelineState(validator: validator, scorer: scorer.state, lastAcknowledgement: lastAcknowledgement),
                      known: store.known())
    }

    private var logger: Logger { dependencies.logger }
    private var now: Duration { dependencies.uptime() }

    /// The generation of the patients' settings last applied to the scorer.
    private var appliedSettings = -1

    mutating func handle(_ message: MQTTMessage) {
        applyPatientSettings()
        if message.topic == dependencies.patientSettingsTopic {
            handlePatientSettings(message.payload)
            return
        }
        if message.topic == PipelineService.tickTopic {
            handleTick()
            return
        }
        if message.topic == dependencies.alertAckTopic {
            handleAlertAck(message.payload)
            return
        }
        guard let (device, kind) = dependencies.topics.parse(message.topic) else {
            reject(.unknownTopic, device: nil, bytes: message.payload.count, detail: String(message.topic.prefix(96)))
            return
        }
        switch kind {
        case .up: handleReadings(message.payload, from: device)
        case .status: handleStatus(message.payload, from: device)
        case .ack, .config, .cmd: reject(.unknownType, device: device, bytes: message.payload.count)
        }
    }

    /// Samples the gateway's clocks; a jump moves every device's uptime mapping with it, is
    /// counted and logged (once per jump: a jump is rare). Returns wall minus boot-time now.
    @discardableResult
    private mutating func watchGatewayClock(wall: Int64) -> Int64 {
        let monotonic = dependencies.bootClock()
        if let jump = gatewayClock.observe(wall: wall, monotonic: monotonic) {
            validator.gatewayClockJumped(by: jump.by)
            gatewayClockJumps.increment()
            dependencies.clockBoard?.update(gatewayClock)
            logger.notice("gateway clock jumped", metadata: [
                "by_seconds": "\(jump.by / 1_000)", "synchronized": "\(gatewayClockTrusted)", "jumps": "\(gatewayClock.jumps)",
            ])
        }
        return wall - monotonic
    }

    private mutating func handleReadings(_ payload: [UInt8], from device: DeviceID) {
        let receivedAt = dependencies.wallClock()
        let wallOffset = watchGatewayClock(wall: receivedAt)
        let profile = dependencies.registry.profile(for: device)
        switch validator.validate(payload, from: device, profile: profile, now: now, receivedAt: receivedAt,
                                  gatewayClockTrusted: gatewayClockTrusted) {
        case .accepted(let accepted):
            if JSONFrame.isJSON(payload) { jsonFrames.increment() }
            let fresh = accepted.fresh.filter { !pendingSequences.contains(SequenceKey(device: device, boot: accepted.frame.boot, seq: $0)) }
            tally(.init(device: device.rawValue, kind: "up"), payload.count, fresh.count)
            guard !fresh.isEmpty else {
                // An MQTT redelivery or resend of readings already in this batch.
                duplicates.increment()
                acknowledgeAfterCommit.insert(BootKey(device: device, boot: accepted.frame.boot))
                return
            }
            var batch = StoredReadings.entry(accepted, fresh: Set(fresh), receivedAt: receivedAt)
            if !gatewayClockTrusted {
                // Stored with what corrects them once the clock syncs (the uplink's ``Retimer``).
                for index in batch.readings.indices { batch.readings[index].flags |= StoredReading.gatewayUnsynced }
                batch.receipt = ClockReceipt(gatewayBoot: dependencies.gatewayBoot, wallOffset: wallOffset)
            }
            let alerts = scorer.score(&batch)
            dependencies.store.append(.readings(batch))
            for rollup in scorer.takeRollups() { dependencies.store.append(.rollup(rollup)) }
            if !alerts.isEmpty { alertsChanged = true }
            for (model, alert) in alerts {
                // Alerts go to the priority lane and are synced at once, not after the window.
                dependencies.store.append(.alert(alert))
                urgent = true
                alertsRecorded.increment()
                logger.notice("alert", metadata: ["device": "\(device)", "model": "\(model)"])
            }
            for seq in fresh { pendingSequences.insert(SequenceKey(device: device, boot: accepted.frame.boot, seq: seq)) }
            pending.append(Pending(accepted: accepted, fresh: fresh, batch: batch))
            if pendingSince == nil { pendingSince = clock.now }
        case .duplicate(_, let boot, let ackThrough):
            duplicates.increment()
            tally(.init(device: device.rawValue, kind: "up"), payload.count, 0)
            if let ackThrough, let profile { sendAck(profile, boot: boot, seq: ackThrough) }
        case .rejected(let reason):
            reject(reason.code, device: device, bytes: payload.count)
            if case .frame(.badMAC) = reason, let profile {
                record(scorer.authenticationFailed(device: device.rawValue, patient: profile.patient, at: receivedAt))
            }
        }
    }

    /// Stores technical (or reminder) events in the priority lane, synced at once.
    private mutating func record(_ alerts: [(model: String, alert: AlertEntry)]) {
        guard !alerts.isEmpty else { return }
        for (model, alert) in alerts {
            dependencies.store.append(.alert(alert))
            alertsRecorded.increment()
            logger.notice("alert", metadata: [
                "device": "\(alert.device)", "model": "\(model)", "event": "\(alert.event.kind.rawValue)",
                "condition": "\(alert.event.condition ?? "")",
            ])
        }
        urgent = true
        unsynced = true
        alertsChanged = true
        if pendingSince == nil { pendingSince = clock.now }
    }

    /// The pipeline's clock tick: silent sensors, the gateway's own conditions, reminders.
    private mutating func handleTick() {
        let now = dependencies.wallClock()
        var assigned: [String: (patient: String, kind: String?)] = [:]
        for (device, summary) in dependencies.registry.summaries { assigned[device] = (summary.patient, summary.kind) }
        watchGatewayClock(wall: now)
        let (facts, listeningSince) = dependencies.gatewayWatch?.sample(at: now) ?? (GatewayFacts(), startedAt)
        gatewayClockTrusted = facts.clockUnsyncedSince == nil
        _ = dependencies.timeline?.timeBase()
        record(scorer.tick(now: now, assigned: assigned, facts: facts, listeningSince: listeningSince))
        let rollups = scorer.closeRollups(now: now)
        for rollup in rollups { dependencies.store.append(.rollup(rollup)) }
        if !rollups.isEmpty {
            unsynced = true
            if pendingSince == nil { pendingSince = clock.now }
        }
        let days = scorer.closeCoverageDays(now: now, assigned: Set(assigned.values.map(\.patient)))
        for day in days { dependencies.store.append(.coverage(day)) }
        if !days.isEmpty {
            logger.info("coverage: days recorded", metadata: ["days": "\(days.count)"])
            unsynced = true
            if pendingSince == nil { pendingSince = clock.now }
        }
        dependencies.coverageBoard?.replace(with: scorer.coverageLedger)
    }

    /// The group commit: makes the batch durable, records it as stored, acknowledges it, and asks
    /// for what is missing. A failed sync is thrown, with nothing of the batch acknowledged: the
    /// service group stops and the agent exits 74 (``AgentExit``), to be restarted and recover.
    mutating func commit() async throws {
        guard hasPending else { return }
        defer {
            pending.removeAll(keepingCapacity: true)
            pendingSequences.removeAll(keepingCapacity: true)
            acknowledgeAfterCommit.removeAll(keepingCapacity: true)
            pendingSince = nil
            urgent = false
            unsynced = false
            alertsChanged = false
        }
        let store = dependencies.store
        let outcome = try await dependencies.storeIO.run { try store.commit() }
        if alertsChanged { dependencies.alertBoard?.replace(with: scorer.openEpisodes) }
        var acks: [BootKey: UInt32] = [:]
        if outcome.dropped.contains(.routine) {
            // Not stored, so not acknowledged: each device keeps these readings and resends them.
            storeFull.increment(by: pending.count)
            if case .emit(let suppressed) = storeLog.check("full", now: now) {
                logger.error("store full: readings not stored and not acknowledged", metadata: [
                    "frames": "\(pending.count)", "suppressed": "\(suppressed)",
                ])
            }
            pending.removeAll()
        }
        var gaps: [DataGap] = []
        for item in pending {
            let device = item.accepted.device
            let boot = item.accepted.frame.boot
            let result = validator.commit(item.accepted, only: item.fresh)
            counter(for: device).increment(by: item.fresh.count)
            dependencies.sensors?.stored(item.batch, at: item.batch.receivedAt)
            if let through = result.ackThrough { acks[BootKey(device: device, boot: boot)] = through }
            if let abandoned = result.abandoned {
                gapsAbandoned.increment()
                let count = UInt32(clamping: Int(abandoned.upperBound) - Int(abandoned.lowerBound) + 1)
                gaps.append(DataGap(device: device.rawValue, patient: item.accepted.patient, reason: .undelivered,
                                    from: item.accepted.mappedT0, to: item.accepted.mappedT0, count: count))
                logger.warning("gave up waiting for missing readings", metadata: [
                    "device": "\(device)", "boot": "\(boot)",
                    "from_seq": "\(abandoned.lowerBound)", "to_seq": "\(abandoned.upperBound)",
                ])
            }
            if let gap = followUp(device: device, boot: boot, patient: item.accepted.patient, gaps: result.gaps,
                                  at: item.accepted.mappedT0) {
                gaps.append(gap.record)
                if let through = gap.ackThrough { acks[BootKey(device: device, boot: boot)] = through }
            }
        }
        for key in acknowledgeAfterCommit where acks[key] == nil {
            if let through = validator.sequences(of: key.device)?.state(boot: key.boot)?.contiguousThrough { acks[key] = through }
        }
        // A gap record is synced before the ACK that moves past the gap: once a device drops the
        // readings it was asked for, the record of their loss must already be durable.
        if !gaps.isEmpty {
            for gap in gaps { dependencies.store.append(.gap(gap)) }
            _ = try await dependencies.storeIO.run { try store.commit() }
        }
        for (key, through) in acks {
            if let profile = dependencies.registry.profile(for: key.device) { sendAck(profile, boot: key.boot, seq: through) }
        }
        handOver()
    }

    /// Asks for the device's first gap, or gives it up after the resend attempts
    /// (``ResendScheduler``): then the gap is recorded and the ACK moves past it. A gap at the
    /// start of a boot is what the device sent before this gateway first saw the boot (it was
    /// running before the gateway, or the gateway was new).
    private mutating func followUp(
        device: DeviceID, boot: UInt32, patient: String, gaps: [ClosedRange<UInt32>], at time: Int64
    ) -> (record: DataGap, ackThrough: UInt32?)? {
        switch resends.next(device: device, boot: boot, gaps: gaps, now: now) {
        case nil:
            return nil
        case .resend(let request):
            sendResend(device: device, request)
            return nil
        case .abandon(_, let range):
            let through = validator.abandon(device: device, boot: boot, range: range)
            gapsAbandoned.increment()
            let reason: DataGap.Reason = range.lowerBound == 0 ? .beforeFirstSeen : .undelivered
            logger.warning("gave up waiting for missing readings", metadata: [
                "device": "\(device)", "boot": "\(boot)", "from_seq": "\(range.lowerBound)", "to_seq": "\(range.upperBound)",
                "reason": "\(reason.rawValue)",
            ])
            let count = UInt32(clamping: Int(range.upperBound) - Int(range.lowerBound) + 1)
            return (DataGap(device: device.rawValue, patient: patient, reason: reason, from: time, to: time, count: count), through)
        }
    }

    private mutating func sendResend(device: DeviceID, _ request: ResendScheduler.Request) {
        guard let profile = dependencies.registry.profile(for: device) else { return }
        let frame = FrameEncoder.resend(key: profile.key, boot: request.boot, fromSeq: request.range.lowerBound, toSeq: request.range.upperBound)
        dependencies.publish(dependencies.topics.topic(device, .cmd), frame)
        resendRequests.increment()
        logger.info("requested a resend", metadata: [
            "device": "\(device)", "boot": "\(request.boot)",
            "from_seq": "\(request.range.lowerBound)", "to_seq": "\(request.range.upperBound)",
        ])
    }

    private func sendAck(_ profile: DeviceProfile, boot: UInt32, seq: UInt32) {
        dependencies.publish(dependencies.topics.topic(profile.device, .ack), FrameEncoder.ack(key: profile.key, boot: boot, seq: seq))
        acksSent.increment()
    }

    /// An acknowledgement from upstream, `{"patient", "alert_id", "by"}`: stored in the priority
    /// lane (so it is uploaded and audited), and the episode stops sending reminders.
    private mutating func handleAlertAck(_ payload: [UInt8]) {
        guard let ack = AlertAcknowledgement.parse(payload) else {
            reject(.badAlertAck, device: nil, bytes: payload.count)
            return
        }
        let (patient, alertID, by) = (ack.patient, ack.alertID, ack.by)
        let receivedAt = dependencies.wallClock()
        guard let (model, entry) = scorer.acknowledge(patient: patient, alertID: alertID, by: by, at: receivedAt) else {
            reject(.unknownAlert, device: nil, bytes: payload.count)
            return
        }
        dependencies.store.append(.alert(entry))
        lastAcknowledgement = max(lastAcknowledgement, receivedAt)
        urgent = true
        unsynced = true
        alertsChanged = true
        if pendingSince == nil { pendingSince = clock.now }
        alertsRecorded.increment()
        logger.notice("alert acknowledged", metadata: ["model": "\(model)", "alert_id": "\(alertID)"])
    }

    /// Settings newer than the scorer's take effect now: the patient's next readings are scored
    /// with them, and the change is stored in the priority lane (uploaded, like an alert event).
    private mutating func applyPatientSettings() {
        guard let patients = dependencies.patients else { return }
        let generation = patients.generation
        guard generation != appliedSettings else { return }
        appliedSettings = generation
        for settings in patients.current.values.sorted(by: { $0.updatedAt < $1.updatedAt }) where scorer.apply(settings) {
            dependencies.store.append(.alert(ReadingScorer.settingsEntry(settings)))
            urgent = true
            unsynced = true
            if pendingSince == nil { pendingSince = clock.now }
            logger.notice("patient clinical settings in force", metadata: ["version": "\(settings.version)"])
        }
    }

    /// A change from upstream, `{"patient", "by", ...}` (README): validated, written like
    /// one made with `vigil patient set` (durably, audited), and in force from the next reading.
    private mutating func handlePatientSettings(_ payload: [UInt8]) {
        guard let patients = dependencies.patients else {
            reject(.badPatientSettings, device: nil, bytes: payload.count)
            return
        }
        do {
            let (patient, change) = try ClinicalSettings.Change.parse(json: payload)
            _ = try patients.change(patient, change, at: dependencies.wallClock())
        } catch {
            reject(.badPatientSettings, device: nil, bytes: payload.count, detail: nil)
            logger.warning("patient settings refused", metadata: ["reason": "\(error)"])
            return
        }
        applyPatientSettings()
    }

    private mutating func handleStatus(_ payload: [UInt8], from device: DeviceID) {
        guard let profile = dependencies.registry.profile(for: device) else {
            reject(.unprovisioned, device: device, bytes: payload.count)
            return
        }
        do {
            guard case .status(let status) = try FrameDecoder.decode(payload, key: profile.key) else {
                reject(.unknownType, device: device, bytes: payload.count)
                return
            }
            tally(.init(device: device.rawValue, kind: "status"), payload.count, 0)
            let receivedAt = dependencies.wallClock()
            dependencies.sensors?.status(device: device.rawValue, frame: status, at: receivedAt)
            record(scorer.status(device: device.rawValue, patient: profile.patient, online: status.online,
                                 battery: status.battery.map(Int.init), rssi: status.rssi.map(Int.init), at: receivedAt))
            logger.notice(status.online ? "device online" : "device offline", metadata: [
                "device": "\(device)", "boot": "\(status.boot)", "firmware": "\(status.firmware)",
                "config_version": "\(status.configVersion)",
            ])
            if status.online, let wanted = dependencies.registry.configs[device]?.version, status.configVersion < wanted {
                logger.info("device has not applied its settings yet", metadata: [
                    "device": "\(device)", "config_version": "\(status.configVersion)", "pending_version": "\(wanted)",
                ])
            }
        } catch {
            reject(error.rawValue, device: device, bytes: payload.count)
            if error == .badMAC {
                record(scorer.authenticationFailed(device: device.rawValue, patient: profile.patient, at: dependencies.wallClock()))
            }
        }
    }

    private mutating func counter(for device: DeviceID) -> Counter {
        if let existing = readingCounters[device] { return existing }
        let created = dependencies.metrics.readingsAccepted(device: device.rawValue)
        readingCounters[device] = created
        return created
    }

    /// Counts per reason; logs with the device id (not the payload) at a bounded rate per reason.
    /// Why the pipeline refused a message that never reached the validator (the validator's own
    /// reasons are ``ValidationReason``; the decoder's are its error's raw value).
    enum Rejection: String {
        case unknownTopic = "unknown_topic"
        case unknownType = "unknown_type"
        case badAlertAck = "bad_alert_ack"
        case unknownAlert = "unknown_alert"
        case badPatientSettings = "bad_patient_settings"
        case unprovisioned
    }

    private mutating func reject(_ reason: Rejection, device: DeviceID?, bytes: Int, detail: String? = nil) {
        reject(reason.rawValue, device: device, bytes: bytes, detail: detail)
    }

    private mutating func reject(_ reason: String, device: DeviceID?, bytes: Int, detail: String? = nil) {
        let counter = rejectCounters[reason] ?? dependencies.metrics.rejected(reason: reason)
        rejectCounters[reason] = counter
        counter.increment()
        if let device { dependencies.sensors?.rejected(device: device.rawValue, reason: reason) }
        guard case .emit(let suppressed) = rejectLog.check(reason, now: now) else { return }
        var metadata: Logger.Metadata = ["reason": "\(reason)", "bytes": "\(bytes)", "suppressed": "\(suppressed)"]
        if let device { metadata["device"] = "\(device)" }
        if let detail { metadata["topic"] = "\(detail)" }
        logger.warning("rejected a message", metadata: metadata)
    }
}
