import Foundation
import Logging
import Metrics
import Synchronization
import ServiceLifecycle
import Testing
import VigilCore
import VigilProvisioning
import VigilStore
import VigilTestSupport
import VigilUplink
@testable import VigilAgent

/// The FHIR uplink in-process: the store on real files, the server an in-memory twin of the
/// transport that answers from a script, waits recorded instead of slept.
@Suite struct UplinkServiceTests {
    /// The hospital's side: records each posted Bundle's entries (resource type and identifier)
    /// and answers with the next scripted reply, then with success for every entry.
    final class FakeServer: FHIRPosting {
        enum Reply: Sendable { case ok, retryAfter(String), unattributed, unavailable }
        struct State {
            var script: [Reply] = []
            var posts: [[(type: String, identifier: String)]] = []
        }
        let state = Mutex(State())
        /// Called with each post's number (from 0) before it is answered.
        let onPost = Mutex<(@Sendable (Int) -> Void)?>(nil)

        init(_ script: [Reply] = []) { state.withLock { $0.script = script } }

        var posts: [[(type: String, identifier: String)]] { state.withLock { $0.posts } }

        func post(_ body: [UInt8]) async throws -> FHIRTransport.Response {
            let bundle = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            let entries = (bundle["entry"] as? [[String: Any]] ?? []).map { entry in
                let resource = entry["resource"] as? [String: Any] ?? [:]
                let identifier = ((resource["identifier"] as? [[String: Any]])?.first?["value"] as? String) ?? resource["id"] as? String ?? ""
                return (type: resource["resourceType"] as? String ?? "", identifier: identifier)
            }
            let (reply, number) = state.withLock { state -> (Reply?, Int) in
                state.posts.append(entries)
                return (state.script.isEmpty ? nil : state.script.removeFirst(), state.posts.count - 1)
            }
            onPost.withLock { $0 }?(number)
            switch reply {
            case .retryAfter(let seconds)?:
                return .init(status: 429, retryAfter: seconds, body: [], sentBytes: body.count)
            case .unavailable?:
                return .init(status: 503, body: [], sentBytes: body.count)
            case .unattributed?:
                return .init(status: 422, body: Array(#"{"resourceType":"OperationOutcome","issue":[]}"#.utf8), sentBytes: body.count)
            case .ok?, nil:
                let answers = entries.map { _ in #"{"response":{"status":"201 Created"}}"# }.joined(separator: ",")
                return .init(status: 200, body: Array(#"{"resourceType":"Bundle","type":"transaction-response","entry":[\#(answers)]}"#.utf8),
                             sentBytes: body.count)
            }
        }

        func shutdown() async throws {}
    }

    final class Waits: Sendable {
        let values = Mutex<[Duration]>([])
    }

    struct Harness {
        let service: UplinkService
        let store: Store
        let server: FakeServer
        let waits: Waits
        let directory: TemporaryDirectory
    }

    func harness(_ server: FakeServer, maxEntries: Int = 100, liveThreshold: Int? = nil, backoff: Backoff? = nil,
                 realSleep: Bool = false, heartbeat: (any HeartbeatSource)? = nil, heartbeatInterval: Duration? = nil,
                 audit: (any AuditSource)? = nil) throws -> Harness {
        let directory = try TemporaryDirectory("uplink-service")
        let keyring = Keyring.generate()
        let (store, _) = try Store.open(directory: directory.path + "/log", keyring: keyring, logger: Logger(label: "t"))
        let waits = Waits()
        var settings = UplinkService.Settings(maxEntries: maxEntries, maxBytes: 1 << 20,
                                              backoff: backoff ?? Backoff(initialMilliseconds: 100, maximumMilliseconds: 1_000))
        if let liveThreshold { settings.liveThreshold = liveThreshold }
        settings.heartbeatInterval = heartbeatInterval
        let service = UplinkService(
            store: store, mapper: FHIRMapper(gateway: "gw-t"), transport: server,
            deadLetters: try DeadLetters(directory: directory.path + "/uplink", keyring: keyring),
            settings: settings,
            logger: Logger(label: "t"), metrics: NOOPMetricsHandler.instance, heartbeat: heartbeat, audit: audit,
            sleep: { delay in
                waits.values.withLock { $0.append(delay) }
                if realSleep { await sleepUnlessShuttingDown(for: delay) } else { try? await Task.sleep(for: .milliseconds(1)) }
            })
        return Harness(service: service, store: store, server: server, waits: waits, directory: directory)
    }

    func readings(seq: UInt32, count: Int = 10) -> Entry { SampleEntries.readings(device: "dev-t", seq: seq, count: count) }

    func alert() -> Entry { SampleEntries.news2Raise(device: "dev-t") }

    /// Runs the service until `done` holds for what the server received, then stops it.
    func run(_ harness: Harness, until done: @escaping @Sendable ([[(type: String, identifier: String)]]) -> Bool) async -> Bool {
        let task = Task { try await harness.service.run() }
        let finished = await eventually { done(harness.server.posts) }
        task.cancel()
        _ = await task.result
        return finished
    }

    @Test func alertsGoBeforeReadingsAlreadyWaiting() async throws {
        let harness = try harness(FakeServer())
        defer { harness.directory.remove() }
        for frame in 0..<5 as Range<UInt32> { harness.store.append(readings(seq: frame * 10)) }
        harness.store.append(alert())
        _ = try harness.store.commit()
        let store = harness.store
        let observations: @Sendable ([[(type: String, identifier: String)]]) -> Bool = { posts in
            var count = 0
            for post in posts { count += post.filter { $0.type == "Observation" }.count }
            // Everything confirmed and the cursor past it.
            return count >= 5 * 10 * 2 && store.unsentCount(.routine) == 0 && store.unsentCount(.priority) == 0
        }
        #expect(await run(harness, until: observations))
        let posts = harness.server.posts.filter { !$0.allSatisfy { $0.type == "Device" } }
        let first = try #require(posts.first)
        #expect(first.contains { $0.type == "Communication" }, "the alert first: \(first.map(\.type))")
        #expect(!first.contains { $0.identifier.hasSuffix(":pr") }, "no reading before the alert")
    }

    /// The audit trail right after alerts and before the readings waiting, from the real log;
    /// the cursor moves to the last entry the server confirmed.
    @Test func auditEntriesGoAfterAlertsAndBeforeReadings() async throws {
        let auditDirectory = try TemporaryDirectory("uplink-audit")
        defer { auditDirectory.remove() }
        let log = AuditLog(directory: auditDirectory.path, keys: AuditKeys(keyring: Keyring.generate()))
        for subject in ["ring-1", "ring-2", "ring-3"] {
            try log.append(action: "phi.view", details: [("what", "readings"), ("subject", subject)],
                           caller: AuditCaller(uid: 1_000, user: "nurse", role: "clinician"))
        }
        let tail = AuditTail(log: log)
        let harness = try harness(FakeServer(), audit: AuditUpload(tail: tail, logger: Logger(label: "t")))
        defer { harness.directory.remove() }
        for frame in 0..<5 as Range<UInt32> { harness.store.append(readings(seq: frame * 10)) }
        harness.store.append(alert())
        _ = try harness.store.commit()
        let store = harness.store
        #expect(await run(harness) { _ in store.unsentCount(.routine) == 0 && tail.confirmed?.seq == 3 })
        let posts = harness.server.posts.map { $0.filter { $0.type != "Device" } }.filter { !$0.isEmpty }
        #expect(posts.first?.contains { $0.type == "Communication" } == true, "\(posts.map { $0.map(\.type) })")
        #expect(posts.dropFirst().first?.map(\.identifier) == ["gw-t-audit-1", "gw-t-audit-2", "gw-t-audit-3"])
        #expect(!posts.dropFirst(2).contains { $0.contains { $0.type == "AuditEvent" } }, "each entry once")
        #expect(try String(contentsOfFile: tail.cursorPath, encoding: .utf8).hasPrefix("3 "))
    }

    @Test func retryAfterIsHonouredAndTheSameBundleIsSentAgain() async throws {
        let harness = try harness(FakeServer([.retryAfter("7")]))
        defer { harness.directory.remove() }
        harness.store.append(readings(seq: 0))
        _ = try harness.store.commit()
        #expect(await run(harness) { $0.count >= 3 })
        let posts = harness.server.posts
        #expect(harness.waits.values.withLock { $0 }.contains(.seconds(7)), "waited as the server said")
        #expect(posts[0].map(\.identifier) == posts[1].map(\.identifier), "the refused Bundle again")
    }

    @Test func aBundleRejectedWithoutNamingAnEntryIsHalved() async throws {
        // The first request carries the Devices; the readings' first Bundle is refused.
        let harness = try harness(FakeServer([.ok, .unattributed]), maxEntries: 40)
        defer { harness.directory.remove() }
        for frame in 0..<4 as Range<UInt32> { harness.store.append(readings(seq: frame * 10)) }
        _ = try harness.store.commit()
        #expect(await run(harness) { posts in harness.store.unsentCount(.routine) == 0 && posts.count >= 3 })
        let sizes = harness.server.posts.filter { !$0.allSatisfy { $0.type == "Device" } }.map(\.count)
        #expect(sizes.count >= 2 && sizes[1] <= sizes[0] / 2, "halved after the unattributed rejection: \(sizes)")
    }

    /// Live mode: with a backlog above the threshold, readings stored meanwhile go out before the
    /// backlog has drained (alternating Bundles), and once it has, the cursor passes both.
    @Test func newReadingsOvertakeABacklogAndEverythingIsConfirmed() async throws {
        let server = FakeServer()
        // One record per Bundle (10 readings: 10 pulse, 10 SpO2 and a time stamp).
        let harness = try harness(server, maxEntries: 21, liveThreshold: 20)
        defer { harness.directory.remove() }
        for frame in 0..<30 as Range<UInt32> { harness.store.append(readings(seq: frame * 10)) }
        _ = try harness.store.commit()
        // A live reading arrives while the third Bundle is being answered.
        let store = harness.store
        server.onPost.withLock {
            $0 = { number in
                guard number == 3 else { return }
                store.append(self.readings(seq: 1_000))
                _ = try? store.commit()
            }
        }
        #expect(await run(harness) { posts in
            posts.contains { $0.contains { $0.identifier.hasSuffix(":1:1000:pr") } }
                && posts.contains { $0.contains { $0.identifier.hasSuffix(":1:290:pr") } }
                && store.unsentCount(.routine) == 0
        })
        let posts = server.posts
        let live = try #require(posts.firstIndex { $0.contains { $0.identifier.hasSuffix(":1:1000:pr") } })
        let lastBacklog = try #require(posts.firstIndex { $0.contains { $0.identifier.hasSuffix(":1:290:pr") } })
        #expect(live < lastBacklog, "the live reading went out in Bundle \(live), before the backlog ended in \(lastBacklog)")
        let sent = posts.flatMap { $0 }.map(\.identifier).filter { $0.hasSuffix(":pr") }
        #expect(sent.count == Set(sent).count, "nothing sent twice")
        #expect(Set(sent).count == 31 * 10)
    }

    /// The hospital is down and the uplink is in a backoff of at least 5 minutes; a graceful
    /// shutdown of its service group ends the wait at once and the service returns, with the
    /// readings still unsent (they go after the restart).
    @Test func aGracefulShutdownEndsTheLongestBackoff() async throws {
        let server = FakeServer(Array(repeating: .unavailable, count: 100))
        let harness = try harness(server, backoff: Backoff(initialMilliseconds: 600_000, maximumMilliseconds: 600_000), realSleep: true)
        defer { harness.directory.remove() }
        harness.store.append(readings(seq: 0))
        _ = try harness.store.commit()
        let group = ServiceGroup(configuration: .init(services: [.init(service: harness.service)], logger: Logger(label: "t")))
        let finished = Mutex(false)
        let task = Task {
            try await group.run()
            finished.withLock { $0 = true }
        }
        #expect(await eventually { harness.waits.values.withLock { $0.contains { $0 >= .seconds(300) } } }, "in its backoff")
        await group.triggerGracefulShutdown()
        // Bounded only to keep a broken build from hanging the suite: the backoff is 5–10 minutes.
        #expect(await eventually(timeout: .seconds(30)) { finished.withLock { $0 } }, "the service returned without waiting out its backoff")
        task.cancel()
        #expect(harness.store.unsentCount(.routine) == 1, "nothing confirmed that the server did not take")
    }

    struct FixedHeartbeat: HeartbeatSource {
        func heartbeat(at time: Int64) -> GatewayHeartbeat {
            GatewayHeartbeat(time: time, sensors: [.init(device: "dev-t", patient: "p-1", state: .silent, lastSeen: time - 600_000, battery: 4)],
                             openAlerts: 1)
        }
    }

    @Test func anIdleGatewayStillSendsItsHeartbeatAndGoesOnAfterOneFailed() async throws {
        // Nothing in the log: only the heartbeat is posted, and a failed one does not stop it.
        let harness = try harness(FakeServer([.unavailable]), heartbeat: FixedHeartbeat(), heartbeatInterval: .milliseconds(30))
        defer { harness.directory.remove() }
        #expect(await run(harness) { $0.count >= 4 })
        let posts = harness.server.posts
        #expect(posts.allSatisfy { $0.map(\.type) == ["Device"] && $0.first?.identifier == FHIRMapper(gateway: "gw-t").gatewayIdentifier })
    }

    @Test func withoutAnIntervalNoHeartbeatIsSent() async throws {
        let harness = try harness(FakeServer(), heartbeat: FixedHeartbeat(), heartbeatInterval: nil)
        defer { harness.directory.remove() }
        harness.store.append(readings(seq: 0))
        _ = try harness.store.commit()
        let store = harness.store
        #expect(await run(harness) { _ in store.unsentCount(.routine) == 0 })
        // Only the first request's Devices (the gateway's identity once, the sensor's) and the readings.
        let gatewayPosts = harness.server.posts.flatMap { $0 }.filter { $0.identifier == FHIRMapper(gateway: "gw-t").gatewayIdentifier }
        #expect(gatewayPosts.count == 1)
    }
}
