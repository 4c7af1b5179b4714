import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Testing
import VigilCore
import VigilMQTT
import VigilProvisioning
import VigilStore
import VigilTestSupport
import VigilUplink
@testable import VigilAgent

/// The MQTT uplink in-process: the store on real files, the upstream broker the in-memory twin
/// of the MQTT client (``InMemoryMQTTConnection``).
@Suite struct MQTTUplinkServiceTests {
    struct Harness {
        let service: MQTTUplinkService
        let store: Store
        let upstream: InMemoryMQTTConnection
        let directory: TemporaryDirectory
    }

    final class Forwarded: Sendable { let payloads = Mutex<[[UInt8]]>([]) }

    /// The gateway's clock as a test sets it: unsynchronised until `synchronized` is set.
    final class TimeSource: GatewayTimeSource {
        let synchronized = Atomic<Bool>(false)
        static let wrongOffset: Int64 = 1_000_000_000
        static let rightOffset: Int64 = 1_795_000_000_000

        func timeBase() -> GatewayTimeBase {
            let synced = synchronized.load(ordering: .relaxed)
            return GatewayTimeBase(boot: 1, bootTime: 70_000, wallOffset: synced ? Self.rightOffset : Self.wrongOffset, synchronized: synced)
        }

        func confirmed(retimed: Int, uncertain: Int) {}
        func holding(_ readings: Int) {}
    }

    func harness(backoff: Backoff = Backoff(initialMilliseconds: 10, maximumMilliseconds: 50),
                 time: (any GatewayTimeSource)? = nil, audit: (any AuditSource)? = nil) throws -> (Harness, Forwarded) {
        let directory = try TemporaryDirectory("mqtt-uplink-service")
        let (store, _) = try Store.open(directory: directory.path + "/log", keyring: .generate(), logger: Logger(label: "t"))
        let upstream = InMemoryMQTTConnection()
        let forwarded = Forwarded()
        let service = MQTTUplinkService(
            store: store, mapper: FHIRMapper(gateway: "gw-m"), client: upstream,
            settings: .init(topicPrefix: "up", gateway: "gw-m", backoff: backoff), logger: Logger(label: "t"),
            metrics: NOOPMetricsHandler.instance, time: time, audit: audit,
            forwardUpstream: { _, payload in forwarded.payloads.withLock { $0.append(payload) } })
        return (Harness(service: service, store: store, upstream: upstream, directory: directory), forwarded)
    }

    func readings(seq: UInt32, count: Int = 10) -> Entry { SampleEntries.readings(device: "dev-m", seq: seq, count: count) }

    func alert() -> Entry { SampleEntries.news2Raise(device: "dev-m") }

    /// Audit entries as AuditEvents after the alert and before the readings; the cursor moves
    /// only once the upstream broker has acknowledged them.
    @Test func auditEntriesArePublishedAfterAlertsAndConfirmedByPUBACK() async throws {
        let auditDirectory = try TemporaryDirectory("mqtt-audit")
        defer { auditDirectory.remove() }
        let log = AuditLog(directory: auditDirectory.path, keys: AuditKeys(keyring: Keyring.generate()))
        for subject in ["ring-1", "ring-2"] {
            try log.append(action: "phi.view", details: [("what", "readings"), ("subject", subject)],
                           caller: AuditCaller(uid: 1_000, user: "nurse", role: "clinician"))
        }
        let tail = AuditTail(log: log)
        let (harness, _) = try harness(audit: AuditUpload(tail: tail, logger: Logger(label: "t")))
        defer { harness.directory.remove() }
        harness.store.append(readings(seq: 0))
        harness.store.append(alert())
        _ = try harness.store.commit()
        harness.upstream.failPublishes(with: MQTTError(kind: .notConnected, message: "upstream down"))
        let task = Task { try await harness.service.run() }
        try await Task.sleep(for: .milliseconds(150))
        #expect(tail.confirmed == nil, "nothing confirmed without PUBACKs")
        harness.upstream.failPublishes(with: nil)
        #expect(await eventually { harness.store.unsentCount(.routine) == 0 && tail.confirmed?.seq == 2 })
        let topics = harness.upstream.published.map(\.topic)
        let communication = try #require(topics.firstIndex(of: "up/gw-m/fhir/Communication"))
        let audit = try #require(topics.firstIndex(of: "up/gw-m/fhir/AuditEvent"))
        let reading = try #require(harness.upstream.published.firstIndex { String(decoding: $0.payload, as: UTF8.self).contains("urn:vigil:gw-m:obs:") })
        #expect(communication < audit && audit < reading, "\(topics)")
        #expect(topics.filter { $0 == "up/gw-m/fhir/AuditEvent" }.count == 2)
        task.cancel()
        _ = await task.result
    }

    /// The alert is published before readings that were waiting; while the upstream broker
    /// refuses publishes the cursor stays; once it takes them, everything goes and the cursor
    /// passes it; an acknowledgement from upstream is forwarded to the pipeline.
    @Test func alertsFirstNothingConfirmedUntilPublishedAndAcksForwarded() async throws {
        let (harness, forwarded) = try harness()
        defer { harness.directory.remove() }
        for frame in 0..<4 as Range<UInt32> { harness.store.append(readings(seq: frame * 10)) }
        harness.store.append(alert())
        _ = try harness.store.commit()
        harness.upstream.failPublishes(with: MQTTError(kind: .notConnected, message: "upstream down"))
        let task = Task { try await harness.service.run() }
        try await Task.sleep(for: .milliseconds(200))
        #expect(harness.upstream.published.isEmpty)
        #expect(harness.store.unsentCount(.routine) == 4 && harness.store.unsentCount(.priority) == 1, "nothing confirmed")

        harness.upstream.failPublishes(with: nil)
        #expect(await eventually { harness.store.unsentCount(.routine) == 0 && harness.store.unsentCount(.priority) == 0 })
        let published = harness.upstream.published
        let communication = try #require(published.firstIndex { $0.topic == "up/gw-m/fhir/Communication" })
        let reading = try #require(published.firstIndex { String(decoding: $0.payload, as: UTF8.self).contains("urn:vigil:gw-m:obs:") })
        #expect(communication < reading, "the alert before the readings: \(published.map(\.topic))")

        harness.upstream.source.yield(MQTTMessage(topic: "up/gw-m/alert-ack", payload: Array("ack".utf8), qos: .atLeastOnce, retain: false))
        #expect(await eventually { forwarded.payloads.withLock { $0 } == [Array("ack".utf8)] })
        task.cancel()
        _ = await task.result
    }

    /// Readings stored while the gateway's clock was unsynchronised wait for the sync (an alert
    /// behind them does not), then go with their times corrected.
    @Test func readingsOfAnUnsynchronisedClockWaitForTheSyncAndGoCorrected() async throws {
        let time = TimeSource()
        let (harness, _) = try harness(time: time)
        defer { harness.directory.remove() }
        guard case .readings(var batch) = readings(seq: 0, count: 1) else { return }
        batch.timeQuality = .estimated
        batch.readings[0].flags |= StoredReading.gatewayUnsynced
        batch.readings[0].time = TimeSource.wrongOffset + 60_000
        batch.receivedAt = TimeSource.wrongOffset + 60_000
        batch.receipt = ClockReceipt(gatewayBoot: 1, wallOffset: TimeSource.wrongOffset)
        harness.store.append(.readings(batch))
        harness.store.append(alert())
        _ = try harness.store.commit()
        let task = Task { try await harness.service.run() }
        #expect(await eventually { harness.store.unsentCount(.priority) == 0 }, "the alert goes at once")
        try await Task.sleep(for: .milliseconds(300))
        #expect(harness.store.unsentCount(.routine) == 1, "the reading waits")
        time.synchronized.store(true, ordering: .relaxed)
        #expect(await eventually { harness.store.unsentCount(.routine) == 0 })
        let corrected = ISOTime.milliseconds(TimeSource.rightOffset + 60_000)
        #expect(harness.upstream.published.contains { String(decoding: $0.payload, as: UTF8.self).contains(corrected) && String(decoding: $0.payload, as: UTF8.self).contains("gateway-clock-corrected") })
        task.cancel()
        _ = await task.result
    }

    /// Upstream down, the uplink in a 5-10 minute backoff: a graceful shutdown ends it at once.
    @Test func aGracefulShutdownEndsItsBackoff() async throws {
        let (harness, _) = try harness(backoff: Backoff(initialMilliseconds: 600_000, maximumMilliseconds: 600_000))
        defer { harness.directory.remove() }
        harness.store.append(readings(seq: 0))
        _ = try harness.store.commit()
        harness.upstream.failPublishes(with: MQTTError(kind: .notConnected, message: "upstream down"))
        let group = ServiceGroup(configuration: .init(services: [.init(service: harness.service)], logger: Logger(label: "t")))
        let finished = Mutex(false)
        let task = Task {
            try await group.run()
            finished.withLock { $0 = true }
        }
        try await Task.sleep(for: .milliseconds(300))
        await group.triggerGracefulShutdown()
        // Bounded only to keep a broken build from hanging the suite: the backoff is 5–10 minutes.
        #expect(await eventually(timeout: .seconds(30)) { finished.withLock { $0 } })
        task.cancel()
        #expect(harness.store.unsentCount(.routine) == 1)
    }
}
