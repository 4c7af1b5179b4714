import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// `vigil run` with a store quota far smaller than what arrives: the agent keeps running and
/// acknowledging, thins routine readings, keeps every abnormal reading and alert, and leaves gap
/// records that account for every reading it removed.
@Suite struct StoreFullTests {
    @Test func aFullQuotaThinsRoutineReadingsAndLosesNothingSilently() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("store-full")
        defer { dir.remove() }
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(in: dir, gateway: "gw-full", brokerPort: broker.port, metricsPort: metricsPort,
                                          store: ["quota_mib: 1", "reserve_mib: 0", "segment_kib: 32", "thinning_interval_seconds: 600"])
        let devices = (0..<10).map { DeviceID("dev-\($0)")! }
        var keys: [DeviceKey] = []
        for (index, device) in devices.enumerated() {
            let bytes = (0..<32).map { UInt8((index * 7 + $0) & 0xFF) }
            try DeviceRegistry.write(.init(device: device.rawValue, patient: "Patient/p\(index)", kind: "spo2-ring", key: hexString(bytes)),
                                     to: URL(fileURLWithPath: dir.path + "/state/devices"))
            keys.append(DeviceKey(device: device, bytes: bytes)!)
        }
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        // 10 devices × 200 frames × 30 readings a minute apart: about 1.7 MB stored against a 1 MiB
        // quota. Every 20th frame starts with a desaturation (SpO2 85 %), which raises an alert.
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "sensors"), logger: .init(label: "t"))
        try await sensor.start()
        let frames = 200, perFrame = 30
        for frame in 0..<frames {
            for (index, key) in keys.enumerated() {
                let records: [FrameEncoder.RecordInput] = (0..<perFrame).map { i in
                    let spo2: Int16 = frame % 20 == 10 && i == 0 ? 850 : 970
                    return .init(dt: UInt32(i) * 60_000, values: [(.pulseRate, 720 + Int16(i % 5)), (.spo2, spo2)])  // a live pulse varies
                }
                let payload = FrameEncoder.readings(key: key, boot: 1, seq: UInt32(frame * perFrame),
                                                    t0: 1_795_000_000_000 + UInt64(frame * perFrame) * 60_000, records: records, flags: .clockSynced)
                try await sensor.publish(topic: "vigil/v1/\(devices[index])/up", payload: payload)
            }
            if frame % 50 == 49 { try await Task.sleep(for: .seconds(3)) }  // within the per-device rate limit
        }
        await sensor.shutdown()
        let total = frames * perFrame
        for device in devices {
            #expect(await eventually(timeout: .seconds(60)) {
                (try? httpGet(port: metricsPort, path: "/metrics").body.contains(#"vigil_readings_accepted_total{device="\#(device)"} \#(total)"#)) == true
            }, "\(device) readings accepted")
        }
        let metrics = try httpGet(port: metricsPort, path: "/metrics").body
        #expect(metrics.contains(#"vigil_store_evictions_total{kind="thinned"}"#), "the quota forced thinning")
        #expect(!metrics.contains("vigil_frames_not_stored_total 1") && !metrics.contains(#"vigil_ingest_rejected_total{"#))
        #expect(agent.isRunning)
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)

        let export = try await runProcess(builtProduct("vigil"), ["store", "export", "--config", config])
        #expect(export.status == 0)
        var kept = 0, desaturations = 0, alerts = 0, removed = 0
        for line in export.stdout.split(separator: "\n") {
            let object = try jsonObject(String(line))
            switch object["type"] as? String {
            case "reading":
                kept += 1
                if let values = object["values"] as? [String: Any], values["spo2"] as? Double == 85.0 { desaturations += 1 }
            case "alert": alerts += 1
            case "gap":
                #expect(object["reason"] as? String == "thinned")
                removed += object["count"] as? Int ?? 0
            case "coverage":
                // The readings' days are over: their coverage is recorded too (priority lane).
                #expect(object["patient"] as? String != nil && object["usable_minutes"] as? Int != nil)
            default: Issue.record("unexpected line \(line)")
            }
        }
        #expect(kept < devices.count * total, "some routine readings were thinned")
        #expect(desaturations == devices.count * 10, "every abnormal reading is kept")
        #expect(alerts == devices.count * 20, "every alert (10 raises, 10 clears per patient) is kept")
        #expect(kept + removed == devices.count * total, "gap records account for every removed reading")
        let log = (try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("thinned routine readings to stay within the store's limits"))
    }
}
