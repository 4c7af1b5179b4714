import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// Two sensors go silent under the real agent, a real broker and the validating FHIR endpoint:
/// the hospital hears of each within the configured time; one acknowledged episode gets no
/// reminder while the other does; each is one episode across a SIGKILL restart; the gateway's
/// heartbeat names them silent; the clear comes when a sensor is back.
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
                models:
                  alert_reminder_minutes: 1
                technical:
                  silent_after_seconds: 30
                  silent_escalate_after_seconds: 600
                  tick_seconds: 1
                uplink:
                  heartbeat_interval_seconds: 2
                  retry:
                    initial_ms: 50
                    max_ms: 400
                  fhir:
                    base_url: \(endpoint.baseURL)

                """)
        let keyBytes = Array(repeating: UInt8(0x3D), count: 32)
        for (device, patient) in [("dev-t", "Patient/p-t"), ("dev-u", "Patient/p-u")] {
            try DeviceRegistry.write(.init(device: device, patient: patient, kind: "ring", key: hexString(keyBytes)),
                                     to: URL(fileURLWithPath: dir.path + "/state/devices"))
        }
        var agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        var seq: UInt32 = 0
        var lastPublished: [String: Date] = [:]
        func publish(_ count: Int, _ device: String = "dev-t") async throws {
            let key = DeviceKey(device: DeviceID(device)!, bytes: keyBytes)!
            let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: device), logger: .init(label: "t"))
            try await sensor.start()
            for _ in 0..<count {
                let now = UInt64(Date().timeIntervalSince1970 * 1_000)
                try await sensor.publish(topic: "vigil/v1/\(device)/up", payload: FrameEncoder.readings(
                    key: key, boot: 1, seq: seq, t0: now,
                    records: [.init(dt: 0, values: [(.pulseRate, 700 + Int16(seq % 9)), (.spo2, 965 + Int16(seq % 3)),
                                                    (.battery, 64), (.rssi, -88)])],
                    flags: .clockSynced))
                lastPublished[device] = Date()
                seq += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            await sensor.shutdown()
        }
        func technical(_ event: String, _ device: String = "dev-t") -> [String] {
            ((try? endpoint.identifiers(type: "Communication")) ?? []).filter { $0.contains(":technical/no_data/\(device)@") && $0.contains(":\(event):") }
        }
        func heartbeat() -> String {
            let device = (try? endpoint.device("urn:vigil:gw-t:gateway")) ?? [:]
            return ((device["note"] as? [[String: Any]])?.first?["text"] as? String) ?? ""
        }

        try await publish(5)
        try await publish(2, "dev-u")
        #expect(await eventually(timeout: .seconds(90)) { !technical("raise").isEmpty }, "the silence reaches the hospital")
        // From dev-t's last reading (dev-u's connection and readings came after it, and can be
        // slow on a loaded machine).
        let elapsed = Date().timeIntervalSince(try #require(lastPublished["dev-t"]))
        #expect(elapsed >= 29, "not before silent_after (30 s): \(elapsed)")
        let raised = technical("raise")
        #expect(raised.count == 1)
        #expect(await eventually(timeout: .seconds(30)) { technical("raise", "dev-u").count == 1 })
        #expect(await eventually(timeout: .seconds(10)) { heartbeat().contains("2 silent (dev-t, dev-u)") },
                "the heartbeat names the silent sensors: \(heartbeat())")

        // The team acknowledges dev-t's alert (as the hospital's side would, on the ack topic).
        let alertID = try #require(raised[0].components(separatedBy: ":alert:Patient/p-t:").last?.components(separatedBy: ":raise:").first)
        let clinical = MQTTClient(configuration: .init(port: broker.port, clientID: "clinical"), logger: .init(label: "t"))
        try await clinical.start()
        #expect(await eventually { clinical.connectionState.isConnected })
        try await clinical.publish(topic: "vigil/v1/_gateway/gw-t/alert-ack",
                                   payload: Array(#"{"patient":"Patient/p-t","alert_id":"\#(alertID)","by":"nurse-9"}"#.utf8))
        await clinical.shutdown()
        #expect(await eventually { ((try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? "").contains("alert acknowledged alert_id=\(alertID)") })
        // A reminder due before the acknowledgement was applied (a slow upload of the raise) may
        // exist; none may come after it.
        let acknowledgedAt = Int64(Date().timeIntervalSince1970 * 1_000)
        func remindedAfterAcknowledgement() -> [String] {
            technical("remind").filter { (Int64($0.split(separator: ":").last ?? "") ?? 0) > acknowledgedAt }
        }

        // The acknowledgement durable (uploaded, so committed) before the kill: one logged but
        // not yet committed is lost with the process (see the note in the README's alerts).
        #expect(await eventually(timeout: .seconds(30)) { !technical("acknowledge").isEmpty }, "the acknowledgement uploaded")
        // Killed while the episode is open (the checkpoint predates the raise), then restarted.
        agent.signal(SIGKILL)
        _ = await agent.waitAsync(timeout: .seconds(10))
        agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent2.log"))
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        // Longer than silent_after after the restart: the same episode continues, no second raise.
        try await Task.sleep(for: .seconds(35))
        #expect(technical("raise") == raised, "one episode upstream across the restart")
        #expect(technical("raise", "dev-u").count == 1)
        // A minute after the raise: the unacknowledged alert is reminded, the acknowledged one not.
        #expect(await eventually(timeout: .seconds(60)) { !technical("remind", "dev-u").isEmpty }, "dev-u's reminder")
        #expect(remindedAfterAcknowledgement().isEmpty, "no reminder of an acknowledged alert: \(technical("remind"))")

        try await publish(3)
        #expect(await eventually(timeout: .seconds(60)) { !technical("clear").isEmpty }, "cleared when the sensor is back")
        #expect(technical("clear").allSatisfy { $0.contains(alertID) })
        #expect(await eventually(timeout: .seconds(10)) { heartbeat().contains("1 streaming, 1 silent (dev-u)") }, "\(heartbeat())")
        // The endpoint validated what it stored (fhir.resources): nothing was refused.
        let stats = try endpoint.stats()
        #expect((stats["rejected"] as? [Any])?.isEmpty == true, "endpoint stats: \(stats)")
    }
}
