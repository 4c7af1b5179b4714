import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// `vigil run` on a box whose wall clock is two years behind and unsynchronised (the agent's
/// documented test clock, `VIGIL_TEST_CLOCK`), against the profile-checking endpoint, with a
/// sensor without a clock of its own. NTP then syncs. Every reading, stored before or after the
/// jump, reaches the endpoint at its true time (within 1 s); those stored before say they were
/// corrected.
@Suite struct ClockJumpProcessTests {
    @Test func readingsStoredBeforeAndAfterTheSyncReachTheEndpointAtTheirTrueTimes() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("clock-process")
        defer { dir.remove() }
        let store = dir.file("endpoint.jsonl")
        let endpoint = try FHIREndpoint(directory: dir, arguments: ["--store", store])
        defer { endpoint.stop() }
        let clockFile = try dir.write("clock", "\(-730 * 86_400_000) 0\n")
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-c", brokerPort: broker.port, metricsPort: metricsPort,
            sections: """
                uplink:
                  fhir:
                    base_url: \(endpoint.baseURL)
                technical:
                  enabled: false
                  tick_seconds: 1

                """)
        let keyBytes = Array(repeating: UInt8(0x5C), count: 32)
        try DeviceRegistry.write(.init(device: "dev-c", patient: "Patient/p-c", kind: "spo2-ring", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        var environment = ProcessInfo.processInfo.environment
        environment["VIGIL_TEST_CLOCK"] = clockFile
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], environment: environment,
                                     stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        func metric(_ line: String) -> Double? {
            let body = (try? httpGet(port: metricsPort, path: "/metrics").body) ?? ""
            return body.split(separator: "\n").first { $0.hasPrefix(line + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        #expect(await eventually { metric("vigil_mqtt_connected") == 1 })
        func log() -> String { String(((try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? "").suffix(3_000)) }

        // The sensor counts milliseconds since it was switched on; the test's clock is the truth.
        let key = DeviceKey(device: DeviceID("dev-c")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-c"), logger: .init(label: "t"))
        try await sensor.start()
        let switchedOn = ContinuousClock.now
        var truth: [UInt32: Int64] = [:]
        func send(_ seqs: Range<UInt32>) async throws {
            for seq in seqs {
                let uptime = (ContinuousClock.now - switchedOn).components
                truth[seq] = Int64(Date().timeIntervalSince1970 * 1_000)
                try await sensor.publish(topic: "vigil/v1/dev-c/up", payload: FrameEncoder.readings(
                    key: key, boot: 1, seq: seq, t0: UInt64(uptime.seconds * 1_000 + uptime.attoseconds / 1_000_000_000_000_000) + 60_000,
                    records: [.init(dt: 0, values: [(.pulseRate, 700), (.spo2, 970)])], flags: []))
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        try await send(0..<10)
        #expect(await eventually { metric(#"vigil_readings_accepted_total{device="dev-c"}"#) == 10 }, "\(log())")
        try await Task.sleep(for: .seconds(2))
        #expect(try endpoint.identifiers(type: "Observation").filter { $0.hasSuffix(":pr") }.isEmpty, "held for the sync")

        // NTP syncs: the clock jumps forward two years.
        try "0 1\n".write(toFile: clockFile, atomically: true, encoding: .utf8)
        #expect(await eventually { metric("vigil_gateway_clock_jumps_total") == 1 }, "\(log())")
        try await send(10..<20)
        await sensor.shutdown()

        let expected = Set((0..<20).map { "urn:vigil:gw-c:obs:dev-c:1:\($0):pr" })
        #expect(await eventually(timeout: .seconds(60)) {
            expected.isSubset(of: Set((try? endpoint.identifiers(type: "Observation")) ?? []))
        }, "every reading arrives: \(log())")
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var errors: [UInt32: Int64] = [:]
        for line in try String(contentsOfFile: store, encoding: .utf8).split(separator: "\n") {
            let resource = try jsonObject(String(line))
            let identifier = ((resource["identifier"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
            guard expected.contains(identifier), let seq = UInt32(identifier.split(separator: ":")[6]) else { continue }
            let effective = try #require((resource["effectiveDateTime"] as? String).flatMap { parser.date(from: $0) })
            errors[seq] = Int64((effective.timeIntervalSince1970 * 1_000).rounded()) - truth[seq]!
            let tags = ((resource["meta"] as? [String: Any])?["tag"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            #expect(tags.contains("gateway-clock-corrected") == (seq < 10), "reading \(seq): \(tags)")
            #expect(!tags.contains("gateway-clock-unsynchronised"), "reading \(seq): \(tags)")
        }
        #expect(errors.count == 20 && errors.values.allSatisfy { abs($0) < 1_000 }, "true times within 1 s: \(errors.sorted { $0.key < $1.key })")
        let before = (0..<10).compactMap { errors[$0] }.map(abs).max() ?? -1
        let after = (10..<20).compactMap { errors[$0] }.map(abs).max() ?? -1
        print("clock-jump process test: 10 readings stored 730 days behind, 10 after the sync; largest error at the endpoint \(before) ms (corrected), \(after) ms (after the sync)")
        #expect(try endpoint.stats()["invalid"] as? Int == 0)
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
    }
}
