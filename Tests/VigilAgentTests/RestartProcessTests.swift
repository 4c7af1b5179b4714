import Foundation
import Synchronization
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

#if canImport(Glibc)
import Glibc
#endif

/// A gateway that has run long enough for its uplink to delete what it uploaded, restarted the
/// ways a home restarts it (SIGTERM for an update, SIGKILL for a watchdog or power cut): `vigil
/// run` as a process, a real broker, the validating FHIR endpoint, a sensor that keeps every
/// reading until it is acknowledged.
@Suite struct RestartProcessTests {
    /// Everything a subscriber received, collected in the background.
    final class Inbox: Sendable {
        let client: MQTTClient
        let received = Mutex<[MQTTMessage]>([])

        init(port: Int, id: String, topic: String) async throws {
            client = MQTTClient(configuration: .init(port: port, clientID: id, subscriptions: [.init(topic)]), logger: .init(label: "t"))
            try await client.start()
            Task { await self.collect() }
        }

        private func collect() async {
            for await message in client.messages { received.withLock { $0.append(message) } }
        }
    }

    let keyBytes = Array(repeating: UInt8(0x6D), count: 32)
    var key: DeviceKey { DeviceKey(device: DeviceID("dev-r")!, bytes: keyBytes)! }

    /// Normal, then NEWS2 medium (pulse 131.7, SpO2 87.3 %: 6), then high (and RR 26 /min: 9).
    enum Condition { case normal, medium, high }

    /// Values vary a little, as a real sensor's do (a flat line is excluded as a signal fault).
    func readings(from seq: UInt32, count: Int, _ condition: Condition, minutesLater: UInt64 = 0) -> [UInt8] {
        func values(_ i: Int16) -> [(Channel, Int16)] {
            switch condition {
            case .normal: [(.pulseRate, 720 + i % 7), (.spo2, 970 + i % 3), (.respiratoryRate, 150 + i % 4)]
            case .medium: [(.pulseRate, 1_317 + i % 7), (.spo2, 873 - i % 3), (.respiratoryRate, 150 + i % 4)]
            case .high: [(.pulseRate, 1_317 + i % 7), (.spo2, 873 - i % 3), (.respiratoryRate, 260 + i % 4)]
            }
        }
        return FrameEncoder.readings(
            key: key, boot: 3, seq: seq, t0: 1_795_350_000_000 + UInt64(seq) * 1_000 + minutesLater * 60_000,
            records: (0..<count).map { .init(dt: UInt32($0) * 1_000, values: values(Int16(seq % 1_000) + Int16($0))) },
            flags: .clockSynced)
    }

    func acked(_ inbox: Inbox) -> UInt32? {
        inbox.received.withLock { messages in
            messages.compactMap { message -> UInt32? in
                guard case .ack(let ack)? = try? FrameDecoder.decode(message.payload, key: key), ack.boot == 3 else { return nil }
                return ack.seq
            }.max()
        }
    }

    @Test func stateSurvivesTrimsAndRestartsBySIGTERMAndSIGKILL() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("restart-process")
        defer { dir.remove() }
        let endpoint = try FHIREndpoint(directory: dir)
        defer { endpoint.stop() }
        let metricsPort = try freeLoopbackPort()
        // 4 KiB segments: uploaded ones are deleted within seconds.
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-rs", brokerPort: broker.port, metricsPort: metricsPort,
            store: ["segment_kib: 4", "quota_mib: 1", "reserve_mib: 0", "commit_window_ms: 20"],
            mqtt: ["reconnect:", "  initial_ms: 20", "  max_ms: 200"],
            sections: """
                uplink:
                  retry:
                    initial_ms: 50
                    max_ms: 400
                  fhir:
                    base_url: \(endpoint.baseURL)

                """)
        try DeviceRegistry.write(.init(device: "dev-r", patient: "Patient/p-r", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        var run = 0
        func startAgent() throws -> ChildProcess {
            run += 1
            return try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent-\(run).log"))
        }
        func connected() async -> Bool {
            await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true }
        }
        let acks = try await Inbox(port: broker.port, id: "dev-r-acks", topic: "vigil/v1/dev-r/ack")
        let commands = try await Inbox(port: broker.port, id: "dev-r-cmd", topic: "vigil/v1/dev-r/cmd")
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-r"), logger: .init(label: "t"))
        try await sensor.start()
        func send(_ payload: [UInt8]) async throws { try await sensor.publish(topic: "vigil/v1/dev-r/up", payload: payload) }

        var agent = try startAgent()
        #expect(await connected())
        try await sensor.publish(topic: "vigil/v1/dev-r/status", payload: FrameEncoder.status(
            key: key, boot: 3, online: true, battery: 64, rssi: -70, configVersion: 0, uptimeMilliseconds: 9_000, firmware: "patch-fw 3.2"))
        // 0–199 normal, 200–249 medium (raise), 250–299 high (escalate).
        for seq in stride(from: UInt32(0), to: 300, by: 25) {
            try await send(readings(from: seq, count: 25, seq < 200 ? .normal : seq < 250 ? .medium : .high))
        }
        #expect(await eventually { acked(acks) == 299 })
        // Uploaded, and the uploaded segments deleted.
        let uploaded = Set((0..<300).map { "urn:vigil:gw-rs:obs:dev-r:3:\($0):pr" })
        #expect(await eventually(timeout: .seconds(90)) { uploaded.isSubset(of: Set((try? endpoint.identifiers(type: "Observation")) ?? [])) })
        let routine = dir.path + "/state/log/routine"
        #expect(await eventually { ((try? FileManager.default.contentsOfDirectory(atPath: routine)) ?? []).count <= 2 },
                "uploaded segments are deleted")

        // (a) SIGTERM, restart: the next readings are acknowledged at once, nothing deleted is asked for.
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        agent = try startAgent()
        #expect(await connected())
        try await send(readings(from: 300, count: 25, .high))
        #expect(await eventually(timeout: .seconds(10)) { acked(acks) == 324 })

        // Again after SIGKILL; the condition goes on, 31 minutes later still (a reminder), then ends.
        agent.signal(SIGKILL)
        _ = await agent.waitAsync(timeout: .seconds(10))
        agent = try startAgent()
        #expect(await connected())
        try await send(readings(from: 325, count: 25, .high))
        #expect(await eventually(timeout: .seconds(10)) { acked(acks) == 349 })
        try await send(readings(from: 350, count: 25, .high, minutesLater: 31))
        try await send(readings(from: 375, count: 25, .normal, minutesLater: 31))
        #expect(await eventually { acked(acks) == 399 })

        // (c) One episode upstream: raised, escalated, reminded and cleared under one id.
        let expectedEvents = ["raise", "escalate", "remind", "clear"]
        var communications: [String] = []
        #expect(await eventually(timeout: .seconds(60)) {
            communications = ((try? endpoint.identifiers(type: "Communication")) ?? []).filter { $0.contains(":news2@") }
            return expectedEvents.allSatisfy { event in communications.contains { $0.contains(":\(event):") } }
        }, "\(communications)")
        let episodes = Set(communications.compactMap { $0.split(separator: ":").first { $0.hasPrefix("news2@") } })
        #expect(episodes.count == 1, "one episode, not one per run: \(communications)")
        #expect(communications.filter { $0.contains(":raise:") }.count == 1, "\(communications)")

        // (d) The sensor's Device still has its firmware and battery, and so does the gateway's book.
        let device = try endpoint.device("urn:vigil:gw-rs:device:dev-r")
        #expect((device["version"] as? [[String: Any]])?.first?["value"] as? String == "patch-fw 3.2", "\(device)")
        let show = try await runProcess(builtProduct("vigil"), ["sensor", "show", "dev-r", "--config", config, "--json"])
        let report = try ControlJSON.decoder().decode(SensorReport.self, from: Data(show.stdout.utf8))
        #expect(report.firmware == "patch-fw 3.2" && report.battery == 64, "\(show.stdout)")

        // No RESEND ever asked for readings that were stored and deleted.
        #expect(commands.received.withLock { $0.isEmpty }, "RESENDs: \(commands.received.withLock { $0.count })")
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        await sensor.shutdown()
        await acks.client.shutdown()
        await commands.client.shutdown()
        let log = (try? String(contentsOfFile: dir.file("agent-3.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("state restored checkpoint="), "\(log.suffix(2_000))")
    }

    /// (b) A sensor that was running before the gateway knew it: its first frame is seq 1000.
    /// Acknowledged once the three RESENDs for what came before go unanswered, with one gap
    /// record upstream (a Flag), not RESENDs for ever.
    @Test func aBootFirstSeenMidSequenceIsAcknowledgedWithOneGapRecord() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("midboot-process")
        defer { dir.remove() }
        let endpoint = try FHIREndpoint(directory: dir)
        defer { endpoint.stop() }
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-mb", brokerPort: broker.port, metricsPort: metricsPort,
            sections: "uplink:\n  fhir:\n    base_url: \(endpoint.baseURL)\n")
        try DeviceRegistry.write(.init(device: "dev-r", patient: "Patient/p-r", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        let acks = try await Inbox(port: broker.port, id: "dev-r-acks", topic: "vigil/v1/dev-r/ack")
        let commands = try await Inbox(port: broker.port, id: "dev-r-cmd", topic: "vigil/v1/dev-r/cmd")
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-r"), logger: .init(label: "t"))
        try await sensor.start()
        // A frame every 2 s, as a sensor sends them, until it is acknowledged.
        var seq: UInt32 = 1_000
        let deadline = ContinuousClock.now + .seconds(60)
        while acked(acks) == nil, ContinuousClock.now < deadline {
            try await sensor.publish(topic: "vigil/v1/dev-r/up", payload: readings(from: seq, count: 2, .normal))
            seq += 2
            try await Task.sleep(for: .seconds(2))
        }
        #expect(await eventually { acked(acks) == seq - 1 }, "acknowledged through the newest reading sent")
        let resends = commands.received.withLock { $0 }.compactMap { message -> ClosedRange<UInt32>? in
            guard case .resend(let resend)? = try? FrameDecoder.decode(message.payload, key: key) else { return nil }
            return resend.fromSeq...resend.toSeq
        }
        #expect(resends == [744...999, 744...999, 744...999])
        #expect(await eventually { ((try? endpoint.identifiers(type: "Flag")) ?? []).contains { $0.contains(":before_first_seen:") } })
        #expect(try endpoint.identifiers(type: "Flag").count == 1)
        await sensor.shutdown()
        await acks.client.shutdown()
        await commands.client.shutdown()
    }
}
