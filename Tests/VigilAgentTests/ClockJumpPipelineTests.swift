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
import VigilUplink
import VigilValidation
@testable import VigilAgent
import VigilProvisioning

/// The pipeline and the FHIR uplink in-process with the gateway's clocks injected: a box without
/// a real-time clock whose wall clock is wrong, unsynchronised, jumps, restarts and reboots, and a
/// sensor without a clock of its own (uptime) that keeps running through it. What reaches the
/// server is checked against each reading's true sample time: within 1 s, or tagged uncertain.
@Suite struct ClockJumpPipelineTests {
    static let truth: Int64 = 1_795_350_000_000
    static let twoYears: Int64 = 730 * 86_400_000

    /// True time is `truth + elapsed`; the gateway's boot-time clock counts from its boot.
    final class Clocks: Sendable {
        struct State {
            var elapsed: Int64 = 0
            var bootStartedAt: Int64 = -60_000
            var boot: UInt64 = 0xB007_0001
            var error: Int64 = 0
            var synchronized = true
        }
        let state = Mutex(State())
        /// How often the pipeline asked whether the clock is synchronised (once at start, then per tick).
        let asked = Atomic<Int>(0)
        var wall: Int64 { state.withLock { ClockJumpPipelineTests.truth + $0.elapsed + $0.error } }
        var bootTime: Int64 { state.withLock { $0.elapsed - $0.bootStartedAt } }
        var boot: UInt64 { state.withLock { $0.boot } }
        var synchronized: Bool {
            asked.add(1, ordering: .relaxed)
            return state.withLock { $0.synchronized }
        }

        /// The wall clock is set: wrong by `error` from now on.
        func set(error: Int64, synchronized: Bool) { state.withLock { $0.error = error; $0.synchronized = synchronized } }

        /// The gateway reboots: a new boot id, its boot-time clock from zero, the clock as given.
        func reboot(error: Int64, synchronized: Bool) {
            state.withLock { $0.boot += 1; $0.bootStartedAt = $0.elapsed; $0.error = error; $0.synchronized = synchronized }
        }
    }

    /// The hospital's side: every reading's pulse Observation, by sequence number, as received.
    final class Server: FHIRPosting {
        struct Upload: Equatable {
            var effective: Int64
            var tags: Set<String>
        }
        let uploads = Mutex<[UInt32: [Upload]]>([:])
        /// Answers 503 while set (the hospital unreachable).
        let down = Atomic<Bool>(false)

        func post(_ body: [UInt8]) async throws -> FHIRTransport.Response {
            if down.load(ordering: .relaxed) { return .init(status: 503, body: [], sentBytes: body.count) }
            let bundle = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] ?? [:]
            let entries = bundle["entry"] as? [[String: Any]] ?? []
            let parser = ISO8601DateFormatter()
            parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            for entry in entries {
                let resource = entry["resource"] as? [String: Any] ?? [:]
                let identifier = ((resource["identifier"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
                // urn:vigil:<gw>:obs:<device>:<boot>:<seq>:pr
                let parts = identifier.split(separator: ":")
                guard parts.count == 8, parts[3] == "obs", parts[7] == "pr", let seq = UInt32(parts[6]),
                      let text = resource["effectiveDateTime"] as? String, let date = parser.date(from: text) else { continue }
                let tags = ((resource["meta"] as? [String: Any])?["tag"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
                let upload = Upload(effective: Int64((date.timeIntervalSince1970 * 1_000).rounded()), tags: Set(tags))
                uploads.withLock { $0[seq, default: []].append(upload) }
            }
            let answers = entries.map { _ in #"{"response":{"status":"201 Created"}}"# }.joined(separator: ",")
            return .init(status: 200, body: Array(#"{"resourceType":"Bundle","type":"transaction-response","entry":[\#(answers)]}"#.utf8),
                         sentBytes: body.count)
        }

        func shutdown() async throws {}

        var received: [UInt32: [Upload]] { uploads.withLock { $0 } }
    }

    /// One run of the agent (pipeline and uplink) on `directory`, restored from what it holds.
    struct Gateway {
        let pipeline: PipelineService
        let source: MQTTMessageSource
        let store: Store
        let board: ClockBoard
        let tasks: [Task<Void, any Error>]

        func stop() async throws {
            source.finish()
            for task in tasks { task.cancel() }
            for task in tasks { _ = await task.result }
            try store.close()
        }
    }

    let keyring = Keyring.generate()
    let keyBytes = Array(repeating: UInt8(0x61), count: 32)
    var key: DeviceKey { DeviceKey(device: DeviceID("dev-j")!, bytes: keyBytes)! }

    func start(_ directory: TemporaryDirectory, clocks: Clocks, server: Server, hold: Duration = .seconds(900)) throws -> Gateway {
        let logger = Logger(label: "t")
        let devices = URL(fileURLWithPath: directory.path + "/devices")
        if !FileManager.default.fileExists(atPath: devices.path) {
            try DeviceRegistry.write(.init(device: "dev-j", patient: "Patient/j", kind: "spo2-ring", key: hexString(keyBytes)), to: devices)
        }
        let opened = try RestoredState.open(
            directory: directory.path + "/log", keyring: keyring, options: StoreOptions(), logger: logger,
            metrics: StoreMetrics(factory: NOOPMetricsHandler.instance), sensors: nil)
        let (messages, source) = MQTTMessages.inMemory()
        let board = ClockBoard()
        var timeSources = GatewayTimeline.Sources(wallClock: { clocks.wall }, synchronized: { clocks.synchronized })
        timeSources.bootClock = { clocks.bootTime }
        timeSources.gatewayBoot = clocks.boot
        let timeline = GatewayTimeline(timeSources, stateDirectory: directory.path, board: board, logger: logger)
        var dependencies = PipelineService.Dependencies(
            messages: messages, topics: Topics(), registry: DeviceRegistry(directory: devices, logger: logger),
            metrics: AgentMetrics(factory: NOOPMetricsHandler.instance), logger: logger, summaryInterval: .seconds(60),
            publish: { _, _ in }, publishRetained: { _, _ in }, store: opened.store, validator: opened.validator,
            commitWindow: .milliseconds(5))
        dependencies.restored = opened.state
        dependencies.wallClock = { clocks.wall }
        dependencies.uptime = { .milliseconds(clocks.bootTime) }
        dependencies.bootClock = { clocks.bootTime }
        dependencies.gatewayBoot = clocks.boot
        dependencies.timeline = timeline
        dependencies.clockBoard = board
        var sources = GatewayWatch.Sources()
        sources.clockSynchronized = { clocks.synchronized }
        dependencies.gatewayWatch = GatewayWatch(sources, startedAt: clocks.wall)
        dependencies.tickInterval = .milliseconds(20)
        let pipeline = PipelineService(dependencies)
        var settings = UplinkService.Settings(maxEntries: 100, maxBytes: 1 << 20, backoff: Backoff(initialMilliseconds: 10, maximumMilliseconds: 50))
        settings.holdUnsynchronised = hold
        let uplink = UplinkService(
            store: opened.store, mapper: FHIRMapper(gateway: "gw-t"), transport: server,
            deadLetters: try DeadLetters(directory: directory.path + "/uplink", keyring: keyring), settings: settings,
            logger: logger, metrics: NOOPMetricsHandler.instance, time: timeline)
        return Gateway(pipeline: pipeline, source: source, store: opened.store, board: board,
                       tasks: [Task { try await pipeline.run() }, Task { try await uplink.run() }])
    }

    /// Readings `seqs` from the sensor (switched on 5 s before `truth`), one a second, each taken
    /// 35 ms before it arrives; returns once each is stored (in the log, or sent from it).
    func send(_ seqs: Range<UInt32>, to gateway: Gateway, clocks: Clocks, server: Server) async throws {
        for seq in seqs {
            clocks.state.withLock { $0.elapsed = Int64(seq) * 1_000 + 35 }
            let payload = FrameEncoder.readings(key: key, boot: 1, seq: seq, t0: UInt64(5_000 + Int(seq) * 1_000),
                                                records: [.init(dt: 0, values: [(.pulseRate, 700), (.spo2, 970)])], flags: [])
            gateway.source.yield(MQTTMessage(topic: "vigil/v1/dev-j/up", payload: payload, qos: .atLeastOnce, retain: false))
            #expect(await eventually { stored(gateway.store).contains(seq) || server.received[seq] != nil }, "reading \(seq) stored")
        }
    }

    func stored(_ store: Store) -> Set<UInt32> {
        var seqs: Set<UInt32> = []
        for record in (try? store.read(.routine, limit: 10_000)) ?? [] {
            if case .readings(let batch) = record.entry { for reading in batch.readings { seqs.insert(reading.seq) } }
        }
        return seqs
    }

    /// The clock changes between two readings: waits for a tick that saw it (ticks and messages
    /// share the pipeline's queue, so every later message is handled knowing it).
    func change(_ clocks: Clocks, _ change: () -> Void) async {
        change()
        let asked = clocks.asked.load(ordering: .relaxed)
        #expect(await eventually { clocks.asked.load(ordering: .relaxed) > asked + 1 })
    }

    /// Waits until the server has every reading of `seqs`, then checks each: uploaded once, at
    /// its true time (within 1 s) unless tagged uncertain, in order.
    @discardableResult
    func expectUploaded(_ seqs: Range<UInt32>, server: Server, uncertain: Set<UInt32> = [],
                        sourceLocation: SourceLocation = #_sourceLocation) async -> [UInt32: Server.Upload] {
        #expect(await eventually { Set(server.received.keys).isSuperset(of: seqs) }, sourceLocation: sourceLocation)
        let received = server.received
        var uploads: [UInt32: Server.Upload] = [:]
        for seq in seqs {
            guard let all = received[seq] else { continue }
            #expect(all.count == 1 || Set(all.map(\.effective)).count == 1, "reading \(seq) sent once (or again alike)", sourceLocation: sourceLocation)
            let upload = all[0]
            uploads[seq] = upload
            let trueTime = Self.truth + Int64(seq) * 1_000
            if uncertain.contains(seq) {
                #expect(upload.tags.contains("gateway-clock-unsynchronised"), "reading \(seq) tagged uncertain", sourceLocation: sourceLocation)
            } else {
                #expect(abs(upload.effective - trueTime) < 1_000, "reading \(seq) off by \(upload.effective - trueTime) ms",
                        sourceLocation: sourceLocation)
                #expect(!upload.tags.contains("gateway-clock-unsynchronised"), "reading \(seq) not tagged uncertain", sourceLocation: sourceLocation)
            }
        }
        let certain = seqs.filter { !uncertain.contains($0) }.compactMap { uploads[$0]?.effective }
        #expect(zip(certain.dropFirst(), certain).allSatisfy { $0 > $1 }, "in order", sourceLocation: sourceLocation)
        return uploads
    }

    /// NTP says synchronised throughout, and the clock is still set forward by two years while the
    /// sensor runs (someone set it): what arrives after the jump is on time (the uptime mapping
    /// follows the jump instead of keeping the old minimum).
    @Test func aForwardJumpWhileTheSensorKeepsRunningKeepsLaterReadingsOnTime() async throws {
        let directory = try TemporaryDirectory("clock-jump")
        defer { directory.remove() }
        let clocks = Clocks()
        clocks.set(error: -Self.twoYears, synchronized: true)
        let server = Server()
        let gateway = try start(directory, clocks: clocks, server: server)
        try await send(0..<30, to: gateway, clocks: clocks, server: server)
        await change(clocks) { clocks.set(error: 0, synchronized: true) }
        try await send(30..<60, to: gateway, clocks: clocks, server: server)
        await expectUploaded(30..<60, server: server)
        #expect(gateway.board.current.jumps == 1)
        try await gateway.stop()
    }

    /// The box boots two years behind, unsynchronised; NTP syncs while the sensor runs. The
    /// uplink holds what arrived before the sync, then sends it corrected.
    @Test func twoYearsBehindUntilTheSyncEveryReadingReachesTheServerOnTime() async throws {
        let directory = try TemporaryDirectory("clock-jump")
        defer { directory.remove() }
        let clocks = Clocks()
        clocks.set(error: -Self.twoYears, synchronized: false)
        let server = Server()
        let gateway = try start(directory, clocks: clocks, server: server)
        try await send(0..<30, to: gateway, clocks: clocks, server: server)
        #expect(server.received.isEmpty, "held for the sync")
        #expect(await eventually { gateway.board.uplinkReadings.held > 0 })
        await change(clocks) { clocks.set(error: 0, synchronized: true) }
        try await send(30..<60, to: gateway, clocks: clocks, server: server)
        let uploads = await expectUploaded(0..<60, server: server)
        #expect((0..<30).allSatisfy { uploads[$0]?.tags.contains("gateway-clock-corrected") == true })
        #expect((30..<60).allSatisfy { uploads[$0]?.tags.contains("gateway-clock-corrected") == false })
        #expect(await eventually { gateway.board.uplinkReadings == (retimed: 30, uncertain: 0, held: 0) })
        try await gateway.stop()
    }

    /// A box whose clock was an hour ahead is set back when NTP syncs: readings before and after
    /// end up on time and in order.
    @Test func aBackwardJumpOfAnHourKeepsEveryReadingOnTimeAndInOrder() async throws {
        let directory = try TemporaryDirectory("clock-jump")
        defer { directory.remove() }
        let clocks = Clocks()
        clocks.set(error: 3_600_000, synchronized: false)
        let server = Server()
        let gateway = try start(directory, clocks: clocks, server: server)
        try await send(0..<30, to: gateway, clocks: clocks, server: server)
        await change(clocks) { clocks.set(error: 0, synchronized: true) }
        try await send(30..<60, to: gateway, clocks: clocks, server: server)
        await expectUploaded(0..<60, server: server)
        try await gateway.stop()
    }

    /// NTP never syncs: after the hold (here 10 s of boot time) readings go as they are, tagged
    /// uncertain, none lost; nothing younger than the hold is sent.
    @Test func whenTheSyncNeverComesReadingsAreSentAfterTheHoldTaggedUncertain() async throws {
        let directory = try TemporaryDirectory("clock-jump")
        defer { directory.remove() }
        let clocks = Clocks()
        clocks.set(error: -Self.twoYears, synchronized: false)
        let server = Server()
        let gateway = try start(directory, clocks: clocks, server: server, hold: .seconds(10))
        try await send(0..<40, to: gateway, clocks: clocks, server: server)
        // Reading 40 arrives at 39 s: what is older than 10 s may go, the rest waits.
        #expect(await eventually { Set(server.received.keys).isSuperset(of: 0..<25) })
        #expect(server.received.keys.allSatisfy { $0 <= 29 }, "nothing younger than the hold sent")
        clocks.state.withLock { $0.elapsed += 20_000 }
        await expectUploaded(0..<40, server: server, uncertain: Set(0..<40))
        #expect(await eventually { gateway.board.uplinkReadings == (retimed: 0, uncertain: 40, held: 0) })
        try await gateway.stop()
    }

    /// The agent restarts while the clock is unsynchronised (same gateway boot); the sync comes
    /// in the second run: the first run's readings are corrected too.
    @Test func anAgentRestartWhileUnsynchronisedStillCorrectsTheFirstRunsReadings() async throws {
        let directory = try TemporaryDirectory("clock-jump")
        defer { directory.remove() }
        let clocks = Clocks()
        clocks.set(error: -Self.twoYears, synchronized: false)
        let server = Server()
        let first = try start(directory, clocks: clocks, server: server)
        try await send(0..<30, to: first, clocks: clocks, server: server)
        try await first.stop()
        #expect(server.received.isEmpty)
        let second = try start(directory, clocks: clocks, server: server)
        try await send(30..<45, to: second, clocks: clocks, server: server)
        await change(clocks) { clocks.set(error: 0, synchronized: true) }
        try await send(45..<60, to: second, clocks: clocks, server: server)
        await expectUploaded(0..<60, server: server)
        try await second.stop()
    }

    /// The gateway reboots with the hospital unreachable. Readings of a boot whose clock synced
    /// after they were stored are corrected after the reboot (the boot's offset was remembered);
    /// those of a boot that never synced are tagged as such.
    @Test func afterAGatewayRebootEarlierBootsAreCorrectedOrMarkedNeverSynchronised() async throws {
        let directory = try TemporaryDirectory("clock-jump")
        defer { directory.remove() }
        let clocks = Clocks()
        let server = Server()
        server.down.store(true, ordering: .relaxed)
        // Boot 1: never synchronised.
        clocks.set(error: -Self.twoYears, synchronized: false)
        var gateway = try start(directory, clocks: clocks, server: server)
        try await send(0..<20, to: gateway, clocks: clocks, server: server)
        try await gateway.stop()
        // Boot 2: synchronised after 20 readings, then power is lost.
        clocks.reboot(error: -Self.twoYears, synchronized: false)
        gateway = try start(directory, clocks: clocks, server: server)
        try await send(20..<40, to: gateway, clocks: clocks, server: server)
        await change(clocks) { clocks.set(error: 0, synchronized: true) }
        try await gateway.stop()
        // Boot 3: on time; the hospital is back.
        clocks.reboot(error: 0, synchronized: true)
        gateway = try start(directory, clocks: clocks, server: server)
        server.down.store(false, ordering: .relaxed)
        try await send(40..<50, to: gateway, clocks: clocks, server: server)
        let uploads = await expectUploaded(0..<50, server: server, uncertain: Set(0..<20))
        #expect((0..<20).allSatisfy { uploads[$0]?.tags.contains("gateway-clock-never-synchronised") == true })
        #expect((20..<40).allSatisfy { uploads[$0]?.tags.contains("gateway-clock-corrected") == true })
        try await gateway.stop()
    }
}

/// Which gateway boot a receipt belongs to, where the unit's sandbox hides the kernel's boot id.
@Suite struct BootIdentityTests {
    @Test func withoutTheKernelsBootIDTheRuntimeDirectoryKeepsOneUntilItIsGone() throws {
        let directory = try TemporaryDirectory("boot-id")
        defer { directory.remove() }
        let hidden = directory.path + "/no-such-boot_id"
        let first = BootClock.identify(bootIDFile: hidden, environment: ["RUNTIME_DIRECTORY": directory.path])
        #expect(first != 0)
        #expect(BootClock.identify(bootIDFile: hidden, environment: ["RUNTIME_DIRECTORY": directory.path]) == first, "an agent restart")
        try FileManager.default.removeItem(atPath: directory.path + "/boot-id")
        #expect(BootClock.identify(bootIDFile: hidden, environment: ["RUNTIME_DIRECTORY": directory.path]) != first, "a reboot (tmpfs emptied)")
        #expect(BootClock.identify(bootIDFile: hidden, environment: [:]) == 0)
        let kernel = try directory.write("boot_id", "6f1c0f6a-0a9e-4c47-9d7e-2b1f3c4d5e6f\n")
        #expect(BootClock.identify(bootIDFile: kernel, environment: [:]) == 0x6f1c_0f6a_0a9e_4c47)
    }
}
