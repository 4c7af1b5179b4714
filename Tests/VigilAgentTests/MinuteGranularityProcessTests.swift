import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// `vigil run` with `uplink.fhir.granularity: minute` against the profile-checking endpoint: the
/// ordinary readings arrive as one Observation per vital and minute holding every value, the
/// abnormal one on its own at once, and no reading is missing or counted twice.
@Suite struct MinuteGranularityProcessTests {
    @Test func everyReadingArrivesOnceEitherInItsMinuteOrOnItsOwn() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("minute")
        defer { dir.remove() }
        let store = dir.file("endpoint.jsonl")
        let endpoint = try FHIREndpoint(directory: dir, arguments: ["--store", store])
        defer { endpoint.stop() }
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-m", brokerPort: broker.port, metricsPort: metricsPort,
            sections: """
                uplink:
                  fhir:
                    base_url: \(endpoint.baseURL)
                    granularity: minute

                """)
        let keyBytes = Array(repeating: UInt8(0x3A), count: 32)
        try DeviceRegistry.write(.init(device: "dev-m", patient: "Patient/p-m", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        // 150 readings at 1 Hz from a whole minute on: two and a half minutes; reading 100 desaturates.
        let key = DeviceKey(device: DeviceID("dev-m")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-m"), logger: .init(label: "t"))
        try await sensor.start()
        let t0: UInt64 = 1_795_350_000_000
        let frames = 6, perFrame = 25
        func spo2(_ seq: Int) -> Int16 { seq == 100 ? 840 : 960 + Int16(seq % 5) }
        for frame in 0..<frames {
            let records: [FrameEncoder.RecordInput] = (0..<perFrame).map { i in
                let seq = frame * perFrame + i
                return .init(dt: UInt32(i) * 1_000, values: [(.pulseRate, 700 + Int16(seq % 9)), (.spo2, spo2(seq)), (.respiratoryRate, 150)])
            }
            try await sensor.publish(topic: "vigil/v1/dev-m/up", payload: FrameEncoder.readings(
                key: key, boot: 1, seq: UInt32(frame * perFrame), t0: t0 + UInt64(frame * perFrame) * 1_000, records: records, flags: .clockSynced))
        }
        await sensor.shutdown()

        // Three minutes of three vitals, each with its time stamp; the desaturation with its own.
        let minutes = (0..<3).map { "urn:vigil:gw-m:min:dev-m:1:\(t0 + UInt64($0) * 60_000):\($0 * 60)" }
        var expected = Set(minutes.flatMap { minute in ["cts", "pr", "spo2", "rr"].map { "\(minute):\($0)" } })
        for vital in ["cts", "pr", "spo2", "rr"] { expected.insert("urn:vigil:gw-m:obs:dev-m:1:100:\(vital)") }
        #expect(await eventually(timeout: .seconds(60)) {
            expected.isSubset(of: Set((try? endpoint.identifiers(type: "Observation")) ?? []))
        }, "the minutes and the abnormal reading arrive: \(((try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? "").suffix(3_000))")
        let stats = try endpoint.stats()
        #expect(stats["invalid"] as? Int == 0, "\(stats["invalid_samples"] ?? "")")
        let observations = try endpoint.identifiers(type: "Observation").filter { $0.contains(":dev-m:") }
        #expect(Set(observations) == expected, "nothing else: \(Set(observations).subtracting(expected).sorted().prefix(5))")

        // Every SpO2 value, once: in its minute's SampledData, or the one abnormal on its own.
        var values: [Int: Int16] = [:]
        let stored = try String(contentsOfFile: store, encoding: .utf8).split(separator: "\n").map { try jsonObject(String($0)) }
        for resource in stored {
            let identifier = ((resource["identifier"] as? [[String: Any]])?.first?["value"] as? String) ?? ""
            guard identifier.hasSuffix(":spo2") else { continue }
            let parts = identifier.split(separator: ":")
            if identifier.contains(":min:") {
                let first = Int(parts[parts.count - 2])!
                let sampled = try #require(((resource["component"] as? [[String: Any]])?.last?["valueSampledData"]) as? [String: Any])
                #expect(sampled["period"] as? Int == 1_000)
                for (slot, token) in (sampled["data"] as? String ?? "").split(separator: " ").enumerated() where token != "E" {
                    #expect(values.updateValue(Int16(token)!, forKey: first + slot) == nil, "reading \(first + slot) twice")
                }
            } else {
                let seq = Int(parts[parts.count - 2])!
                let value = ((resource["valueQuantity"] as? [String: Any])?["value"] as? NSNumber)?.doubleValue ?? 0
                #expect(values.updateValue(Int16((value * 10).rounded()), forKey: seq) == nil)
            }
        }
        #expect(values.count == frames * perFrame && values.allSatisfy { spo2($0.key) == $0.value }, "every reading's value, at its second")
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
    }
}
