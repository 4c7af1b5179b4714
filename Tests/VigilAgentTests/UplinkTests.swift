import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// `vigil run` with the FHIR uplink against the receiving endpoint, which validates every
/// resource with fhir.resources (R4B) and fails in every way it can: 500s, 429 with Retry-After,
/// connections reset mid-body, timeouts, and a permanent 422 for one entry.
@Suite struct UplinkTests {
    @Test func everyReadingArrivesExactlyOnceThroughFaultsAndTheRejectedEntryIsDeadLettered() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("uplink")
        defer { dir.remove() }
        let endpoint = try FHIREndpoint(directory: dir, timeoutSeconds: 3)
        defer { endpoint.stop() }
        let rejected = "urn:vigil:gw-up:obs:dev-u:1:37:spo2"
        // Rejected without saying which entry: the uplink halves the Bundle until it finds it.
        let unattributed = "urn:vigil:gw-up:obs:dev-u:1:301:rr"
        try endpoint.injectFaults(#"{"fail_500": 3, "throttle_429": 2, "retry_after": 1, "reset": 2, "timeout": 1, "reject_identifiers": ["\#(rejected)"], "reject_unattributed": ["\#(unattributed)"]}"#)

        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-up", brokerPort: broker.port, metricsPort: metricsPort,
            sections: """
                uplink:
                  max_entries: 150
                  request_timeout_seconds: 2
                  retry:
                    initial_ms: 50
                    max_ms: 400
                  fhir:
                    base_url: \(endpoint.baseURL)

                """)
        let keyBytes = Array(repeating: UInt8(0x5C), count: 32)
        try DeviceRegistry.write(.init(device: "dev-u", patient: "Patient/p-u", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        // 20 frames × 25 readings of pulse, SpO2, respiration and blood pressure; reading 210
        // desaturates (SpO2 84 %), which raises a NEWS2 alert.
        let key = DeviceKey(device: DeviceID("dev-u")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-u"), logger: .init(label: "t"))
        try await sensor.start()
        // The sensor reports its firmware and battery: they go into its Device.
        try await sensor.publish(topic: "vigil/v1/dev-u/status", payload: FrameEncoder.status(
            key: key, boot: 1, online: true, battery: 77, rssi: -61, configVersion: 0, uptimeMilliseconds: 5_000, firmware: "patch-fw 2.1.0"))
        try await Task.sleep(for: .milliseconds(300))
        let frames = 20, perFrame = 25
        for frame in 0..<frames {
            let records: [FrameEncoder.RecordInput] = (0..<perFrame).map { i in
                let seq = frame * perFrame + i
                return .init(dt: UInt32(i) * 1_000, values: [
                    (.pulseRate, 720 + Int16(seq % 7)), (.spo2, seq == 210 ? 840 : 970 + Int16(seq % 3)),
                    (.respiratoryRate, 150 + Int16(seq % 4)), (.systolicBP, 124), (.diastolicBP, 82),
                ])
            }
            try await sensor.publish(topic: "vigil/v1/dev-u/up", payload: FrameEncoder.readings(
                key: key, boot: 1, seq: UInt32(frame * perFrame), t0: 1_795_350_000_000 + UInt64(frame * perFrame) * 1_000,
                records: records, flags: .clockSynced))
        }
        await sensor.shutdown()

        // Per reading: pulse, SpO2, respiration and a blood-pressure panel; per frame one
        // coincident time stamp; all but the rejected one.
        var expected: Set<String> = []
        for seq in 0..<(frames * perFrame) {
            for vital in ["pr", "spo2", "rr", "bp"] { expected.insert("urn:vigil:gw-up:obs:dev-u:1:\(seq):\(vital)") }
        }
        for frame in 0..<frames { expected.insert("urn:vigil:gw-up:obs:dev-u:1:\(frame * perFrame):cts") }
        expected.remove(rejected)
        expected.remove(unattributed)
        #expect(await eventually(timeout: .seconds(120)) {
            let stored = Set((try? endpoint.identifiers(type: "Observation")) ?? [])
            return expected.isSubset(of: stored)
        }, "every reading's Observations arrive")
        let stats = try endpoint.stats()
        #expect(stats["invalid"] as? Int == 0, "fhir.resources rejected: \(stats["invalid_samples"] ?? "")")
        #expect((stats["gzip_requests"] as? Int ?? 0) > 0, "bodies are sent gzip-compressed")
        var faults = try #require(stats["faults"] as? [String: Int])
        // Halving a Bundle of 150 down to the one bad entry takes several rejected requests.
        #expect((faults.removeValue(forKey: "reject_unattributed") ?? 0) >= 2, "\(faults)")
        // The bad entry is refused at least once; again if a request holding it timed out on the
        // agent's side after the server had answered (a loaded machine), which is a retry, not a loss.
        #expect((faults.removeValue(forKey: "reject") ?? 0) >= 1, "\(faults)")
        #expect(faults == ["fail_500": 3, "throttle_429": 2, "reset": 2, "timeout": 1], "every fault was hit: \(faults)")
        let observations = try endpoint.identifiers(type: "Observation")
        #expect(Set(observations).count == observations.count)
        #expect(!observations.contains(rejected) && !observations.contains(unattributed))
        // The alert: a Communication (and the NEWS2 score as an Observation), and the sensor and
        // gateway Devices.
        #expect(await eventually { ((try? endpoint.identifiers(type: "Communication")) ?? []).contains { $0.contains("news2@") } })
        #expect(observations.contains { $0.hasPrefix("urn:vigil:gw-up:news2:") })
        let devices = try endpoint.identifiers(type: "Device")
        #expect(Set(devices) == ["urn:vigil:gw-up:device:dev-u", "urn:vigil:gw-up:gateway"])
        let sensorDevice = try endpoint.device("urn:vigil:gw-up:device:dev-u")
        #expect((sensorDevice["version"] as? [[String: Any]])?.first?["value"] as? String == "patch-fw 2.1.0", "\(sensorDevice)")
        let battery = (sensorDevice["property"] as? [[String: Any]])?.first?["valueQuantity"] as? [[String: Any]]
        #expect((battery?.first?["value"] as? NSNumber)?.intValue == 77)

        // Exactly the two rejected entries are in the dead-letter file, with the server's reason, and
        // the resource is not in it in plaintext.
        let deadLetter = try String(contentsOfFile: dir.path + "/state/uplink/dead-letter.jsonl", encoding: .utf8)
        let lines = try deadLetter.split(separator: "\n").map { try jsonObject(String($0)) }
        #expect(lines.count == 2)
        let attributed = try #require(lines.first { $0["identifier"] as? String == rejected })
        #expect(attributed["status"] as? Int == 422)
        #expect((attributed["outcome"] as? String)?.contains("injected permanent rejection") == true)
        let found = try #require(lines.first { $0["identifier"] as? String == unattributed })
        #expect(found["status"] as? Int == 400)
        #expect((found["outcome"] as? String)?.contains("without location") == true)
        #expect(!deadLetter.contains("Patient/p-u") && !deadLetter.contains("\"value\""))

        let metrics = try httpGet(port: metricsPort, path: "/metrics").body
        #expect(metrics.contains(#"vigil_uplink_entries_total{outcome="dead_letter"} 2"#), "\(metrics)")
        #expect(metrics.contains("vigil_uplink_request_failures_total"))
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        let log = (try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("uplink: request failed, will retry"))
        #expect(log.contains("uplink: entry rejected permanently"))
        #expect(log.contains("without naming the entry; splitting"))
    }
}
