import Foundation
import Logging
import Metrics
import ServiceLifecycle
import VigilCore
import VigilFormats
import VigilStore

/// Forwards the log to the hospital's FHIR server: the priority lane (alerts, gaps) before every
/// request, so an alert waits at most for the one routine request in flight; the routine backlog
/// oldest first in bounded Bundles; the cursor advances only after the server confirmed.
///
/// Failures: transient ones (connection errors, timeouts, 5xx, 429) back off exponentially with
/// full jitter, or as long as `Retry-After` says; an entry rejected permanently goes with the
/// server's OperationOutcome to ``DeadLetters`` and the rest is sent again; a rejection the server
/// did not attribute to an entry halves the Bundle until it is found.
package final class UplinkService: Service {
    package struct Settings: Sendable {
        package var maxEntries: Int
        package var maxBytes: Int
        package var backoff: Backoff
        /// Routine records wait up to this long after the last routine request to share the
        /// next one, unless a full read's worth is waiting (a backlog drains at full speed).
        /// Per-request work dominates a live gateway's uplink: at 100 readings/s, sending every
        /// 20-ms poll cost more CPU than everything else together. Alerts never wait.
        package var routineBatch: Duration = .zero
        /// How often an uplink that found records it could not send yet (a request just made)
        /// looks again.
        package var pollInterval: Duration = .milliseconds(20)
        /// How long an idle uplink waits for a commit before it looks anyway (for audit entries
        /// written by another process, and a held reading's recheck).
        package var idleWait: Duration = .seconds(5)
        /// Unsent routine records beyond which new readings are sent ahead of the backlog.
        package var liveThreshold = 4_096
        /// How often the gateway's heartbeat (``GatewayHeartbeat``) is sent; nil: never.
        package var heartbeatInterval: Duration?
        /// How long readings stored while the gateway's clock is unsynchronised wait for it to
        /// synchronise (then corrected) before they are sent as of uncertain time.
        package var holdUnsynchronised: Duration = .seconds(900)

        package init(maxEntries: Int, maxBytes: Int, backoff: Backoff, routineBatch: Duration = .zero) {
            self.maxEntries = maxEntries
            self.maxBytes = maxBytes
            self.backoff = backoff
            self.routineBatch = routineBatch
        }
    }

    private let store: Store
    private let mapper: FHIRMapper
    private let transport: any FHIRPosting
    /// Reads may decrypt a whole segment: off the cooperative pool.
    private let storeIO: BlockingIO
    /// Waits between requests (backoff, Retry-After, polls); a test records the delays.
    private let sleep: @Sendable (Duration) async -> Void
    private let deadLetters: DeadLetters
    private let settings: Settings
    private let logger: Logger
    private let created: Counter
    private let existing: Counter
    private let deadLettered: Counter
    private let failures: Counter
    private let bytesSent: Counter
    private let lastSuccess: Gauge
    private let heartbeats: Counter

    private let sensors: any SensorFactsSource
    private let status: any UplinkObserver
    private let retiming: UplinkRetiming
    private let heartbeat: (any HeartbeatSource)?
    private let audit: (any AuditSource)?
    private let auditEvents: Counter

    package init(store: Store, mapper: FHIRMapper, transport: any FHIRPosting, deadLetters: DeadLetters, settings: Settings, logger: Logger,
         metrics factory: any MetricsFactory, sensors: any SensorFactsSource = NoSensorFacts(),
         status: any UplinkObserver = NoUplinkObserver(), heartbeat: (any HeartbeatSource)? = nil,
         time: (any GatewayTimeSource)? = nil, audit: (any AuditSource)? = nil,
         sleep: @escaping @Sendable (Duration) async -> Void = sleepUnlessShuttingDown, storeIO: BlockingIO = BlockingIO()) {
        self.sleep = sleep
        retiming = UplinkRetiming(source: time, holdLimit: settings.holdUnsynchronised, factory: factory)
        self.storeIO = storeIO
        self.sensors = sensors
        self.status = status
        self.heartbeat = heartbeat
        self.audit = audit
        auditEvents = Counter(label: "vigil_uplink_audit_events_total", factory: factory)
        created = Counter(label: "vigil_uplink_entries_total", dimensions: [("outcome", "created")], factory: factory)
        existing = Counter(label: "vigil_uplink_entries_total", dimensions: [("outcome", "existing")], factory: factory)
        deadLettered = Counter(label: "vigil_uplink_entries_total", dimensions: [("outcome", "dead_letter")], factory: factory)
        failures = Counter(label: "vigil_uplink_request_failures_total", factory: factory)
        bytesSent = Counter(label: "vigil_uplink_bytes_sent_total", factory: factory)
        lastSuccess = Gauge(label: "vigil_uplink_last_success_timestamp_seconds", factory: factory)
        heartbeats = Counter(label: "vigil_uplink_heartbeats_total", factory: factory)
        self.store = store
        self.mapper = mapper
        self.transport = transport
        self.deadLetters = deadLetters
        self.settings = settings
        self.logger = logger
    }

    package func run() async throws {
        var state = SendState(limit: settings.maxEntries)
        var lastRoutine = ContinuousClock.now - settings.routineBatch
        var nextBeat = ContinuousClock.now
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if let interval = settings.heartbeatInterval, let source = heartbeat, ContinuousClock.now >= nextBeat {
                    // After a failure, again within a minute: the link's return shows at once.
                    let delivered = await sendHeartbeat(source, &state)
                    nextBeat = .now + (delivered ? interval : min(interval, .seconds(60)))
                }
                // The audit trail right after alerts: the hospital's copy is what makes it
                // tamper-evident beyond the box, so it must not wait behind a backlog of readings.
                if let audit, !store.hasUnsent(.priority) {
                    let records = audit.pending(limit: max(1, min(state.limit, Self.auditPerRequest)))
                    if !records.isEmpty {
                        if let delay = await sendAudit(records, to: audit, &state) { await sleep(delay) }
                        continue
                    }
                }
                guard let lane = store.nextLaneToUpload,
                      lane == .priority || ContinuousClock.now - lastRoutine >= settings.routineBatch
                          || store.unsentCount(.routine) >= UInt64(Self.recordsPerRead),
                      lane == .priority || state.routineHeldUntil.map({ ContinuousClock.now >= $0 }) ?? true else {
                    // Idle, or routine records waiting for their batch or the clock: sleep until
                    // the next commit or the first of those moments, not a poll every 20 ms.
                    var until = ContinuousClock.now + settings.idleWait
                    if settings.heartbeatInterval != nil, heartbeat != nil { until = min(until, nextBeat) }
                    if store.hasUnsent(.routine) {
                        until = min(until, max(lastRoutine + settings.routineBatch, state.routineHeldUntil ?? .now))
                    }
                    await waitForCommit(until: until)
                    continue
                }
                if lane == .routine { lastRoutine = .now }
                if let delay = await sendOnce(lane, &state) {
                    // A backoff can be minutes long; a shutdown must not wait for it.
                    await sleep(delay)
                }
            }
        } onGracefulShutdown: {}
        try? await transport.shutdown()
    }

    /// Until the store commits, `deadline` passes, or a graceful shutdown begins.
    private func waitForCommit(until deadline: ContinuousClock.Instant) async {
        let timeout = deadline - .now
        guard timeout > .zero else { return }
        let store = self.store
        await cancelWhenGracefulShutdown { await store.committed.wait(upTo: timeout) }
    }

    /// Records read from the log for one request at most.
    static let recordsPerRead = 256

    /// Where live readings began (`start`) and the next one not yet sent (`next`).
    struct LiveMode {
        let start: Position
        var next: Position
    }

    struct SendState {
        var limit: Int
        var attempt = 0
        /// Identifiers the server confirmed whose record the cursor has not passed yet.
        var done: Set<String> = []
        var live: LiveMode?
        var liveGeneration: UInt64 = 0
        var preferLive = false
        /// Devices sent, with the status revision sent (0: none known then).
        var devices: [String: Int] = [:]
        var gatewaySent = false
        var random = SystemRandomNumberGenerator()
        /// The routine lane waits for the gateway's clock to synchronise until then (the
        /// priority lane does not).
        var routineHeldUntil: ContinuousClock.Instant?
    }

    /// How often held records are looked at again while the clock is unsynchronised.
    static let holdRecheck: Duration = .seconds(1)

    /// One request; returns how long to wait before the next (nil: go on at once).
    private func sendOnce(_ lane: Lane, _ state: inout SendState) async -> Duration? {
        let stored: [StoredRecord]
        var fromLive = false
        do {
            let limit = max(1, min(state.limit, Self.recordsPerRead))
            if lane == .routine { updateLiveMode(&state) }
            if lane == .routine, let live = state.live {
                // Alternate: the newest readings, then a Bundle of the backlog, and so on.
                state.preferLive.toggle()
                let fresh = state.preferLive ? try await read(.routine, from: live.next, limit: limit) : []
                if !fresh.isEmpty {
                    stored = fresh
                    fromLive = true
                } else {
                    stored = try await read(.routine, limit: limit).filter { $0.position < live.start }
                    if stored.isEmpty {
                        // The backlog has caught up with where the live readings began: all of it
                        // up to the newest live reading sent is confirmed.
                        advance(.routine, to: live.next, &state)
                        state.live = nil
                        logger.info("uplink: backlog drained")
                        return nil
                    }
                }
            } else {
                stored = try await read(lane, limit: limit)
            }
        } catch {
            logger.error("uplink could not read the log", metadata: ["lane": "\(lane)", "error": "\(error)"])
            return .seconds(5)
        }
        let prepared = retiming.prepare(stored)
        if prepared.held { state.routineHeldUntil = .now + Self.holdRecheck }
        let records = prepared.records
        guard !records.isEmpty else { return prepared.held ? nil : settings.pollInterval }
        // Devices first (conditional updates): once per run, and again when one reports new
        // firmware or battery.
        var devices = TransactionBundle()
        if !state.gatewaySent { devices.append(mapper.gatewayDevice()) }
        var revisions: [String: Int] = [:]
        for record in records {
            guard let (device, patient) = record.entry.uplinkSource, revisions[device] == nil else { continue }
            let facts = sensors.uplinkFacts(of: device)
            let revision = facts?.revision ?? 0
            revisions[device] = revision
            guard state.devices[device].map({ $0 < revision }) ?? true else { continue }
            devices.append(mapper.sensor(device, patient: patient, firmware: facts?.firmware, battery: facts?.battery))
        }
        if !devices.isEmpty {
            if let delay = await send(devices, state: &state, records: 0, onConfirmed: { _ in }) { return delay }
            state.gatewaySent = true
            state.devices.merge(revisions) { max($0, $1) }
        }
        var bundle = TransactionBundle()
        var completeThrough: StoredRecord?
        var completeCount = 0
        var partial = false
        for record in records {
            let pending = mapper.resources(for: record.entry).filter { !state.done.contains($0.identifier) && !deadLetters.contains($0.identifier) }
            let room = state.limit - bundle.entries.count
            if pending.count <= room {
                bundle.append(contentsOf: pending)
                completeThrough = record
                completeCount += 1
            } else {
                bundle.append(contentsOf: Array(pending.prefix(max(room, 0))))
                partial = room > 0
                break
            }
            if bundle.entries.count >= state.limit || bundle.byteCount >= settings.maxBytes { break }
        }
        // Confirmed up to here: the cursor moves for the backlog, the live mark for live readings.
        let confirm = { [self] (state: inout SendState) in
            guard let through = completeThrough else { return }
            if fromLive {
                state.live?.next = through.next
            } else {
                advance(lane, to: through.next, &state)
            }
        }
        if bundle.isEmpty {
            confirm(&state)
            retiming.confirmed(prepared, through: completeCount)
            return nil
        }
        let sent = bundle
        let delay = await send(bundle, state: &state, records: completeCount) { [retiming] state in
            retiming.confirmed(prepared, through: completeCount)
            // Only a record sent in part needs its confirmed resources remembered.
            if partial || completeThrough == nil {
                for entry in sent.entries { state.done.insert(entry.identifier) }
            } else if !fromLive {
                state.done.removeAll(keepingCapacity: true)
            }
            confirm(&state)
        }
        return delay
    }

    /// A backlog larger than `liveThreshold` records turns on live mode: what arrives from now on
    /// is sent as it comes, alternating with Bundles of the backlog, which drains oldest first up
    /// to where live mode began; then the cursor jumps over what live mode already sent. If
    /// eviction rewrites segments meanwhile (positions move), live mode ends and everything after
    /// the cursor is sent again (the server drops repeats by identifier).
    private func updateLiveMode(_ state: inout SendState) {
        let generation = store.layoutGeneration
        if state.live != nil && state.liveGeneration != generation {
            state.live = nil
            logger.info("uplink: the log was compacted; resending from the cursor")
        }
        guard state.live == nil, store.unsentCount(.routine) > UInt64(settings.liveThreshold) else { return }
        let end = store.end(.routine)
        state.live = LiveMode(start: end, next: end)
        state.liveGeneration = generation
        logger.info("uplink: draining a backlog in the background; new readings go first", metadata: [
            "backlog_records": "\(store.unsentCount(.routine))",
        ])
    }

    /// Posts a bundle and applies the server's answer; returns a delay when it should be retried.
    private func send(_ bundle: TransactionBundle, state: inout SendState, records: Int,
                      onConfirmed: (inout SendState) -> Void) async -> Duration? {
        let now = { Int64(Date().timeIntervalSince1970 * 1_000) }
        let outcome: TransactionOutcome
        do {
            let response = try await transport.post(bundle.encoded())
            bytesSent.increment(by: response.sentBytes)
            outcome = TransactionOutcome.classify(status: response.status, retryAfter: response.retryAfter,
                                                  body: response.body, entries: bundle.entries.count)
        } catch {
            outcome = .retry(reason: "\(type(of: error)): \(error)", after: nil)
        }
        switch outcome {
        case .confirmed(let createdCount, let existingCount):
            created.increment(by: createdCount)
            existing.increment(by: existingCount)
            lastSuccess.record(Date().timeIntervalSince1970)
            status.succeeded(records: records, at: now())
            state.attempt = 0
            state.limit = min(settings.maxEntries, state.limit * 2)
            onConfirmed(&state)
            return nil
        case .rejected(let rejections):
            for (index, rejection) in rejections.sorted(by: { $0.key < $1.key }) {
                let resource = bundle.entries[index]
                do {
                    try deadLetters.record(resource, status: rejection.status, outcome: rejection.outcome)
                    deadLettered.increment()
                    logger.warning("uplink: entry rejected permanently, moved to the dead-letter file", metadata: [
                        "type": "\(resource.type)", "status": "\(rejection.status)", "path": "\(deadLetters.path)",
                    ])
                } catch {
                    logger.error("uplink: could not write the dead-letter file", metadata: ["error": "\(error)"])
                    return .seconds(5)
                }
            }
            return nil
        case .unattributed(let rejection):
            state.limit = max(1, bundle.entries.count / 2)
            logger.info("uplink: server rejected a bundle without naming the entry; splitting", metadata: [
                "status": "\(rejection.status)", "entries": "\(bundle.entries.count)",
            ])
            return nil
        case .retry(let reason, let after):
            failures.increment()
            status.failed(reason, at: now())
            let delay = after ?? .milliseconds(settings.backoff.delayMilliseconds(attempt: state.attempt, using: &state.random))
            state.attempt += 1
            logger.warning("uplink: request failed, will retry", metadata: [
                "reason": "\(reason.prefix(200))", "retry_in_ms": "\(delay.components.seconds * 1_000 + delay.components.attoseconds / 1_000_000_000_000_000)",
                "attempt": "\(state.attempt)",
            ])
            return delay
        }
    }

    /// Audit entries per request at most.
    static let auditPerRequest = 64

    /// One request of AuditEvents; confirmed entries move the audit cursor. One the server
    /// refuses for good goes to the dead letters like any resource, and the cursor passes it.
    private func sendAudit(_ records: [AuditRecord], to audit: any AuditSource, _ state: inout SendState) async -> Duration? {
        var bundle = TransactionBundle()
        if !state.gatewaySent { bundle.append(mapper.gatewayDevice()) }
        var sending = 0
        for record in records {
            let event = mapper.auditEvent(record)
            guard !deadLetters.contains(event.identifier) else { continue }
            bundle.append(event)
            sending += 1
        }
        guard let last = records.last else { return nil }
        guard sending > 0 else {
            audit.confirmed(through: last)
            return nil
        }
        return await send(bundle, state: &state, records: 0) { [auditEvents] state in
            state.gatewaySent = true
            auditEvents.increment(by: sending)
            audit.confirmed(through: last)
        }
    }

    /// One heartbeat request; true when the server confirmed it. Not stored and not retried: the
    /// next one replaces it.
    private func sendHeartbeat(_ source: any HeartbeatSource, _ state: inout SendState) async -> Bool {
        var bundle = TransactionBundle()
        bundle.append(mapper.gatewayHeartbeat(source.heartbeat(at: Int64(Date().timeIntervalSince1970 * 1_000))))
        let time = { Int64(Date().timeIntervalSince1970 * 1_000) }
        do {
            let response = try await transport.post(bundle.encoded())
            bytesSent.increment(by: response.sentBytes)
            let outcome = TransactionOutcome.classify(status: response.status, retryAfter: response.retryAfter,
                                                      body: response.body, entries: 1)
            switch outcome {
            case .confirmed:
                heartbeats.increment()
                status.succeeded(records: 0, at: time())
                state.gatewaySent = true
                return true
            case .retry(let reason, _):
                status.failed(reason, at: time())
            case .rejected, .unattributed:
                logger.warning("uplink: the server refused the heartbeat", metadata: ["status": "\(response.status)"])
            }
        } catch {
            status.failed("\(type(of: error)): \(error)", at: time())
        }
        return false
    }

    private func read(_ lane: Lane, from position: Position? = nil, limit: Int) async throws -> [StoredRecord] {
        let store = self.store
        return try await storeIO.run { try store.read(lane, from: position, limit: limit) }
    }

    private func advance(_ lane: Lane, to position: Position, _ state: inout SendState) {
        do {
            try store.advance(lane, to: position)
        } catch {
            logger.error("uplink could not persist its cursor", metadata: ["lane": "\(lane)", "error": "\(error)"])
        }
        if state.done.count > 100_000 { state.done.removeAll() }
    }

}

/// Sleeps for `duration`, or until a graceful shutdown begins (or the task is cancelled).
@Sendable package func sleepUnlessShuttingDown(for duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Alarms.shared.sleep(for: duration) }
}

extension Store {
    /// Alerts and gaps before readings: the lane an uplink should send from next, if any.
    package var nextLaneToUpload: Lane? { hasUnsent(.priority) ? .priority : hasUnsent(.routine) ? .routine : nil }
}

extension Entry {
    /// The device (and its patient) a record came from: each gets a Device resource upstream.
    package var uplinkSource: (device: String, patient: String)? {
        switch self {
        case .readings(let batch): (batch.device, batch.patient)
        case .alert(let alert): alert.device.isEmpty ? nil : (alert.device, alert.patient)
        case .gap(let gap): (gap.device, gap.patient)
        case .rollup(let rollup): (rollup.device, rollup.patient)
        case .coverage: nil
        }
    }
}

/// What the uplink sends in a sensor's Device resource: firmware and battery as last reported,
/// and a revision that grows when they change (so the Device is updated then).
package struct SensorFacts: Sendable, Equatable {
    package var firmware: String
    package var battery: Int?
    package var revision: Int

    package init(firmware: String, battery: Int?, revision: Int) {
        self.firmware = firmware
        self.battery = battery
        self.revision = revision
    }
}

/// Where those facts come from (the agent's sensor book).
package protocol SensorFactsSource: Sendable {
    func uplinkFacts(of device: String) -> SensorFacts?
}

/// No facts known: Devices carry identity only.
package struct NoSensorFacts: SensorFactsSource {
    package init() {}
    package func uplinkFacts(of device: String) -> SensorFacts? { nil }
}

/// Told of each request's outcome (the agent's uplink status for `vigil status` and metrics).
package protocol UplinkObserver: Sendable {
    func succeeded(records: Int, at time: Int64)
    func failed(_ reason: String, at time: Int64)
}

package struct NoUplinkObserver: UplinkObserver {
    package init() {}
    package func succeeded(records: Int, at time: Int64) {}
    package func failed(_ reason: String, at time: Int64) {}
}
