import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// A sensor goes silent under the real agent, a real broker and the validating FHIR endpoint:
/// the hospital hears of it within the configured time, one episode across a SIGKILL restart,
/// and the clear when the sensor is back.
@Suite struct TechnicalAlertProcessTests {
    @Test func aSilentSensorReachesTheHospitalOnceAcrossASIGKILLAndClearsWhenItReturns() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("technical")
        defer { dir.remove() }
        let endpoint = try FHIREndpoint(directory: dir)
        defer { endpoint.stop() }
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-t", brokerPort: broker.port, metricsPort: metricsPort,
            store: ["checkpoint_interval_seconds: 3600"],
            sections: """
                technical:
                  silent_after_seconds: 30
                  silent_escalate_after_seconds: 600
                  tick_seconds: 1
                uplink:
                  retry:
                    initial_ms: 50
                    max_ms: 400
                  fhir:
                    base_url: \(endpoint.baseURL)

                """)
        let keyBytes = Array(repeating: UInt8(0x3D), count: 32)
        try DeviceRegistry.write(.init(device: "dev-t", patient: "Patient/p-t", kind: "ring", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        var agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        let key = DeviceKey(device: DeviceID("dev-t")!, bytes: keyBytes)!
        var seq: UInt32 = 0
        func publish(_ count: Int) async throws {
            let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-t"), logger: .init(label: "t"))
            try await sensor.start()
            for _ in 0..<count {
                let now = UInt64(Date().timeIntervalSince1970 * 1_000)
                try await sensor.publish(topic: "vigil/v1/dev-t/up", payload: FrameEncoder.readings(
                    key: key, boot: 1, seq: seq, t0: now,
                    records: [.init(dt: 0, values: [(.pulseRate, 700 + Int16(seq % 9)), (.spo2, 965 + Int16(seq % 3)),
                                                    (.battery, 64), (.rssi, -88)])],
                    flags: .clockSynced))
                seq += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            await sensor.shutdown()
        }
        func technical(_ event: String) -> [String] {
            ((try? endpoint.identifiers(type: "Communication")) ?? []).filter { $0.contains(":technical/no_data/dev-t@") && $0.contains(":\(event):") }
        }

        try await publish(5)
        let silentFrom = Date()
        #expect(await eventually(timeout: .seconds(90)) { !technical("raise").isEmpty }, "the silence reaches the hospital")
        let elapsed = Date().timeIntervalSince(silentFrom)
        #expect(elapsed >= 29, "not before silent_after (30 s): \(elapsed)")
        let raised = technical("raise")
        #expect(raised.count == 1)

        // Killed while the episode is open (the checkpoint predates the raise), then restarted.
        agent.signal(SIGKILL)
        _ = await agent.waitAsync(timeout: .seconds(10))
        agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent2.log"))
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        // Longer than silent_after after the restart: the same episode continues, no second raise.
        try await Task.sleep(for: .seconds(35))
        #expect(technical("raise") == raised, "one episode upstream across the restart")

        try await publish(3)
        #expect(await eventually(timeout: .seconds(60)) { !technical("clear").isEmpty }, "cleared when the sensor is back")
        let alertID = raised[0].components(separatedBy: ":alert:Patient/p-t:").last?.components(separatedBy: ":raise:").first
        #expect(alertID != nil && technical("clear").allSatisfy { $0.contains(alertID!) })
        // The endpoint validated what it stored (fhir.resources): nothing was refused.
        let stats = try endpoint.stats()
        #expect((stats["rejected"] as? [Any])?.isEmpty == true, "endpoint stats: \(stats)")
    }
}
