import Foundation
import Logging
import Metrics
import ServiceLifecycle
import VigilCore
import VigilMQTT
import VigilStore

/// Forwards the log to a hospital MQTT broker (or IoT hub) instead of a FHIR server: each record's
/// FHIR resources, as JSON, QoS 1, on `<topic_prefix>/<gateway>/fhir/<ResourceType>`, through the
/// same libmosquitto wrapper as ingest. Priority lane first, as for FHIR; the cursor advances only
/// when the upstream broker has acknowledged (PUBACK) every resource of the records sent. Delivery
/// is at least once: after a crash between the PUBACK and the cursor's sync a record is sent
/// again, and consumers drop repeats by the resource's identifier.
///
/// Upstream acknowledgements of alerts arrive on `<topic_prefix>/<gateway>/alert-ack` and are
/// handed to the pipeline (``forwardUpstream``, with its topic) exactly as if published on the local broker.
package final class MQTTUplinkService: Service {
    package struct Settings: Sendable {
        package var topicPrefix: String
        package var gateway: String
        /// Resources published before waiting for their PUBACKs.
        package var window: Int = 512
        package var backoff: Backoff
        package var pollInterval: Duration = .milliseconds(20)
        /// How long an idle uplink waits for a commit before it looks anyway (as for FHIR).
        package var idleWait: Duration = .seconds(5)
        /// How often the heartbeat is published (retained, on `<prefix>/<gateway>/heartbeat`); nil: never.
        package var heartbeatInterval: Duration?
        /// As for FHIR (``UplinkService/Settings/holdUnsynchronised``).
        package var holdUnsynchronised: Duration = .seconds(900)

        package init(topicPrefix: String, gateway: String, backoff: Backoff) {
            self.topicPrefix = topicPrefix
            self.gateway = gateway
            self.backoff = backoff
        }
    }

    private let store: Store
    private let mapper: FHIRMapper
    private let client: any MQTTConnection
    private let settings: Settings
    private let logger: Logger
    private let forwardUpstream: @Sendable (String, [UInt8]) -> Void
    private let status: any UplinkObserver
    private let heartbeat: (any HeartbeatSource)?
    private let audit: (any AuditSource)?
    private let retiming: UplinkRetiming
    private let published: Counter
    private let failures: Counter
    private let lastSuccess: Gauge

    package init(store: Store, mapper: FHIRMapper, client: any MQTTConnection, settings: Settings, logger: Logger, metrics factory: any MetricsFactory,
         status: any UplinkObserver = NoUplinkObserver(), heartbeat: (any HeartbeatSource)? = nil, time: (any GatewayTimeSource)? = nil,
         audit: (any AuditSource)? = nil, forwardUpstream: @escaping @Sendable (String, [UInt8]) -> Void) {
        self.status = status
        retiming = UplinkRetiming(source: time, holdLimit: settings.holdUnsynchronised, factory: factory)
        self.heartbeat = heartbeat
        self.audit = audit
        published = Counter(label: "vigil_uplink_entries_total", dimensions: [("outcome", "published")], factory: factory)
        failures = Counter(label: "vigil_uplink_request_failures_total", factory: factory)
        lastSuccess = Gauge(label: "vigil_uplink_last_success_timestamp_seconds", factory: factory)
        self.store = store
        self.mapper = mapper
        self.client = client
        self.settings = settings
        self.logger = logger
        self.forwardUpstream = forwardUpstream
    }


    package func run() async throws {
        try await client.start()
        let messages = client.messages
        let acks = Task { [forwardUpstream] in
            for await message in messages { forwardUpstream(message.topic, message.payload) }
        }
        let connection = Task { [client, logger] in
            var wasConnected = false
            for await state in client.connectionStates() {
                switch state {
                case .connected:
                    wasConnected = true
                    logger.notice("uplink (MQTT): connected to the upstream broker")
                case .disconnected(let reason, let retry):
                    let metadata: Logger.Metadata = ["reason": "\(reason)", "retry_ms": "\(retry)"]
                    if reason.needsOperator {
                        logger.error("uplink (MQTT): the upstream broker refused the gateway: check uplink.mqtt credentials and ACL",
                                     metadata: metadata)
                    } else if wasConnected {
                        logger.warning("uplink (MQTT): disconnected from the upstream broker; reconnecting", metadata: metadata)
                    } else {
                        logger.info("uplink (MQTT): could not connect to the upstream broker; retrying", metadata: metadata)
                    }
                    wasConnected = false
                case .connecting, .stopped:
                    break
                }
            }
        }
        var devices: Set<String> = []
        var attempt = 0
        var random = SystemRandomNumberGenerator()
        var nextBeat = ContinuousClock.now
        // The routine lane waits for the gateway's clock to synchronise until then.
        var routineHeldUntil = ContinuousClock.now
        await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if let interval = settings.heartbeatInterval, let source = heartbeat, ContinuousClock.now >= nextBeat {
                    // Retained, so a consumer that subscribes later sees the last one and its time.
                    let beat = mapper.gatewayHeartbeat(source.heartbeat(at: Int64(Date().timeIntervalSince1970 * 1_000)))
                    let topic = "\(settings.topicPrefix)/\(settings.gateway)/heartbeat"
                    let sent = (try? client.enqueue(topic: topic, payload: beat.json, qos: .atLeastOnce, retain: true)) != nil
                    nextBeat = .now + (sent ? interval : min(interval, .seconds(60)))
                }
                let auditPending = store.hasUnsent(.priority) ? [] : audit?.pending(limit: UplinkService.auditPerRequest) ?? []
                let lane = store.nextLaneToUpload
                guard !auditPending.isEmpty || lane.map({ $0 == .priority || ContinuousClock.now >= routineHeldUntil }) ?? false else {
                    // Until the next commit, heartbeat or held reading's recheck (no 20-ms poll).
                    var until = ContinuousClock.now + settings.idleWait
                    if settings.heartbeatInterval != nil, heartbeat != nil { until = min(until, nextBeat) }
                    if lane != nil { until = min(until, routineHeldUntil) }
                    let timeout = until - .now
                    if timeout > .zero {
                        let store = self.store
                        await cancelWhenGracefulShutdown { await store.committed.wait(upTo: timeout) }
                    }
                    continue
                }
                do {
                    if let audit, !auditPending.isEmpty {
                        // After alerts, before readings, as for FHIR.
                        try await publishAudit(auditPending, to: audit)
                    } else if let lane, try await sendOnce(lane, devices: &devices) { routineHeldUntil = .now + UplinkService.holdRecheck }
                    attempt = 0
                } catch {
                    failures.increment()
                    status.failed("\(error)", at: Int64(Date().timeIntervalSince1970 * 1_000))
                    let delay = settings.backoff.delayMilliseconds(attempt: attempt, using: &random)
                    attempt += 1
                    logger.warning("uplink (MQTT): publish failed, will retry", metadata: [
                        "error": "\(error)", "retry_in_ms": "\(delay)", "attempt": "\(attempt)",
                    ])
                    await sleepUnlessShuttingDown(for: .milliseconds(delay))
                }
            }
        } onGracefulShutdown: { [client, settings] in
            // A planned stop disconnects cleanly, so the broker drops our will: say `offline`
            // ourselves (queued publishes go out before the disconnect).
            try? client.enqueue(topic: "\(settings.topicPrefix)/\(settings.gateway)/status", payload: Array("offline".utf8),
                                qos: .atLeastOnce, retain: true)
            // Publishes waiting for PUBACKs from a broker that is down would wait for the
            // reconnect: stopping the client fails them (the cursor has not moved: they are sent
            // again after the restart) and ends its reconnect loop.
            Task { await client.shutdown() }
        }
        acks.cancel()
        connection.cancel()
        await client.shutdown()
    }

    /// Audit entries as AuditEvents on `<prefix>/<gateway>/fhir/AuditEvent`; the cursor moves once
    /// every PUBACK is in.
    private func publishAudit(_ records: [AuditRecord], to audit: any AuditSource) async throws {
        let resources = records.map(mapper.auditEvent)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for resource in resources {
                let topic = "\(settings.topicPrefix)/\(settings.gateway)/fhir/\(resource.type)"
                group.addTask { [client] in try await client.publish(topic: topic, payload: resource.json, qos: .atLeastOnce) }
            }
            try await group.waitForAll()
        }
        published.increment(by: resources.count)
        if let last = records.last { audit.confirmed(through: last) }
    }

    /// One window of records; `true` when a record must wait for the gateway's clock to sync.
    private func sendOnce(_ lane: Lane, devices: inout Set<String>) async throws -> Bool {
        let prepared = retiming.prepare(try store.read(lane, limit: 256))
        let records = prepared.records
        guard let last = records.last else { return prepared.held }
        var resources: [FHIRResource] = []
        if devices.isEmpty { resources.append(mapper.gatewayDevice()) }
        var newDevices: Set<String> = []
        for record in records {
            if let (device, patient) = record.entry.uplinkSource, !devices.contains(device), newDevices.insert(device).inserted {
                resources.append(mapper.sensor(device, patient: patient))
            }
            resources += mapper.resources(for: record.entry)
        }
        var start = 0
        while start < resources.count {
            let chunk = resources[start..<min(start + settings.window, resources.count)]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for resource in chunk {
                    let topic = "\(settings.topicPrefix)/\(settings.gateway)/fhir/\(resource.type)"
                    group.addTask { [client] in try await client.publish(topic: topic, payload: resource.json, qos: .atLeastOnce) }
                }
                try await group.waitForAll()
            }
            start += chunk.count
        }
        devices.formUnion(newDevices)
        published.increment(by: resources.count)
        lastSuccess.record(Date().timeIntervalSince1970)
        try store.advance(lane, to: last.next)
        retiming.confirmed(prepared, through: records.count)
        status.succeeded(records: records.count, at: Int64(Date().timeIntervalSince1970 * 1_000))
        return prepared.held
    }

}
