import Foundation
import Logging
import Metrics
import Synchronization
import Testing
import VigilCore
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
        enum Reply: Sendable { case ok, retryAfter(String), unattributed }
        struct State {
            var script: [Reply] = []
            var posts: [[(type: String, identifier: String)]] = []
        }
        let state = Mutex(State())

        init(_ script: [Reply] = []) { state.withLock { $0.script = script } }

        var posts: [[(type: String, identifier: String)]] { state.withLock { $0.posts } }

        func post(_ body: [UInt8]) async throws -> FHIRTransport.Response {
            let bundle = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
            let entries = (bundle["entry"] as? [[String: Any]] ?? []).map { entry in
                let resource = entry["resource"] as? [String: Any] ?? [:]
                let identifier = ((resource["identifier"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
                return (type: resource["resourceType"] as? String ?? "", identifier: identifier)
            }
            let reply = state.withLock { state -> Reply? in
                state.posts.append(entries)
                return state.script.isEmpty ? nil : state.script.removeFirst()
            }
            switch reply {
            case .retryAfter(let seconds)?:
                return .init(status: 429, retryAfter: seconds, body: [], sentBytes: body.count)
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

    func harness(_ server: FakeServer, maxEntries: Int = 100) throws -> Harness {
        let directory = try TemporaryDirectory("uplink-service")
        let keyring = Keyring.generate()
        let (store, _) = try Store.open(directory: directory.path + "/log", keyring: keyring, logger: Logger(label: "t"))
        let waits = Waits()
        let service = UplinkService(
            store: store, mapper: FHIRMapper(gateway: "gw-t"), transport: server,
            deadLetters: try DeadLetters(directory: directory.path + "/uplink", keyring: keyring),
            settings: .init(maxEntries: maxEntries, maxBytes: 1 << 20, backoff: Backoff(initialMilliseconds: 100, maximumMilliseconds: 1_000)),
            logger: Logger(label: "t"), metrics: NOOPMetricsHandler.instance,
            sleep: { delay in
                waits.values.withLock { $0.append(delay) }
                try? await Task.sleep(for: .milliseconds(1))
            })
        return Harness(service: service, store: store, server: server, waits: waits, directory: directory)
    }

    func readings(seq: UInt32, count: Int = 10) -> Entry {
        .readings(ReadingBatch(device: "dev-t", patient: "Patient/t", boot: 1, timeQuality: .device, receivedAt: 1_795_350_000_000,
                               readings: (0..<UInt32(count)).map { index in
            StoredReading(seq: seq + index, time: 1_795_350_000_000 + Int64(seq + index) * 1_000, deviceTime: 1_795_350_000_000,
                          values: [.init(channel: .pulseRate, raw: 720), .init(channel: .spo2, raw: 970)])
        }))
    }

    func alert() -> Entry {
        var event = AlertEvent(kind: .raise, model: "news2", version: "RCP-2017")
        event.alertID = "news2@1795350000000"
        event.risk = "medium"
        event.score = 5
        return .alert(AlertEntry(device: "dev-t", patient: "Patient/t", time: 1_795_350_000_000, event: event))
    }

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
}
