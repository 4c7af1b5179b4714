import Foundation
import Synchronization
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// `vigil run` with the MQTT uplink: FHIR resources to an upstream broker at QoS 1, the cursor
/// advanced on PUBACK, through an outage of the upstream broker; acknowledgements of alerts from
/// upstream reach the pipeline.
@Suite struct MQTTUplinkTests {
    /// Collects what arrives upstream, by resource identifier.
    final class Identifiers: Sendable {
        private let values = Mutex<[String]>([])
        func append(_ value: String) { values.withLock { $0.append(value) } }
        func withLock<T>(_ body: ([String]) -> T) -> T { values.withLock { body($0) } }
    }

    final class Collector: Sendable {
        let identifiers = Identifiers()
        let client: MQTTClient
        let task: Task<Void, Never>

        init(port: Int) async throws {
            client = MQTTClient(configuration: .init(port: port, clientID: "hospital-collector", cleanSession: false,
                                                     subscriptions: [.init("up/gw-mq/fhir/#")],
                                                     reconnect: Backoff(initialMilliseconds: 20, maximumMilliseconds: 200)),
                                logger: .init(label: "t"))
            try await client.start()
            let messages = client.messages
            let identifiers = self.identifiers
            task = Task {
                for await message in messages {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any],
                          let value = (object["identifier"] as? [[String: Any]])?.first?["value"] as? String else { continue }
                    identifiers.append(value)
                }
            }
        }
    }

    @Test func resourcesReachTheUpstreamBrokerThroughItsOutageAndAcknowledgementsComeBack() async throws {
        let local = try MosquittoBroker()
        let upstream = try MosquittoBroker()
        let dir = try TemporaryDirectory("mqtt-uplink")
        defer { dir.remove() }
        let collector = try await Collector(port: upstream.port)
        #expect(await eventually { collector.client.connectionState.isConnected })

        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-mq", brokerPort: local.port, metricsPort: metricsPort,
            sections: """
                uplink:
                  heartbeat_interval_seconds: 1
                  mqtt:
                    host: 127.0.0.1
                    port: \(upstream.port)
                    topic_prefix: up

                """)
        let keyBytes = Array(repeating: UInt8(0x3E), count: 32)
        try DeviceRegistry.write(.init(device: "dev-m", patient: "Patient/p-m", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        let key = DeviceKey(device: DeviceID("dev-m")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: local.port, clientID: "dev-m"), logger: .init(label: "t"))
        try await sensor.start()
        func publish(frame: Int) async throws {
            let records: [FrameEncoder.RecordInput] = (0..<10).map { i in
                let seq = frame * 10 + i
                // Reading 70 desaturates (SpO2 84 %, pulse 135): a NEWS2 alert.
                return .init(dt: UInt32(i) * 1_000, values: [(.pulseRate, seq == 70 ? 1_350 : 720 + Int16(seq % 7)),
                                                             (.spo2, seq == 70 ? 840 : 970 + Int16(seq % 3))])
            }
            try await sensor.publish(topic: "vigil/v1/dev-m/up", payload: FrameEncoder.readings(
                key: key, boot: 1, seq: UInt32(frame * 10), t0: 1_795_350_000_000 + UInt64(frame * 10) * 1_000, records: records,
                flags: .clockSynced))
        }
        for frame in 0..<5 { try await publish(frame: frame) }
        #expect(await eventually { collector.identifiers.withLock { $0.count } >= 5 * 10 * 2 })
        // The upstream broker goes away; readings and an alert keep coming and wait in the log.
        upstream.stop()
        for frame in 5..<10 { try await publish(frame: frame) }
        try await Task.sleep(for: .seconds(2))
        try upstream.start()

        var expected: Set<String> = ["urn:vigil:gw-mq:device:dev-m", "urn:vigil:gw-mq:gateway"]
        for seq in 0..<100 {
            for vital in ["pr", "spo2"] { expected.insert("urn:vigil:gw-mq:obs:dev-m:1:\(seq):\(vital)") }
        }
        for frame in 0..<10 { expected.insert("urn:vigil:gw-mq:obs:dev-m:1:\(frame * 10):cts") }
        #expect(await eventually(timeout: .seconds(60)) { expected.isSubset(of: Set(collector.identifiers.withLock { $0 })) },
                "every resource arrives upstream")
        #expect(await eventually { collector.identifiers.withLock { $0 }.contains { $0.contains(":alert:Patient/p-m:news2@") } })
        let received = Set(collector.identifiers.withLock { $0 })
        #expect(received.subtracting(expected).allSatisfy { $0.contains(":alert:") || $0.contains(":news2:") }, "nothing unexpected")

        // The hospital acknowledges the alert upstream; the pipeline records it.
        let alertID = "news2@\(1_795_350_000_000 + 70 * 1_000)"
        let hospital = MQTTClient(configuration: .init(port: upstream.port, clientID: "hospital-console"), logger: .init(label: "t"))
        try await hospital.start()
        try await hospital.publish(topic: "up/gw-mq/alert-ack", payload: Array(#"{"patient":"Patient/p-m","alert_id":"\#(alertID)","by":"nurse-9"}"#.utf8))
        let log = { (try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? "" }
        #expect(await eventually { log().contains("alert acknowledged alert_id=\(alertID)") }, "\(log().suffix(2_000))")
        await hospital.shutdown()
        await sensor.shutdown()

        // The gateway's liveness upstream: a retained heartbeat naming its sensor, and a retained
        // status that is `online` while it runs and `offline` once it has stopped.
        let latest = Mutex<[String: String]>([:])
        let watcher = MQTTClient(configuration: .init(port: upstream.port, clientID: "hospital-watcher",
                                                      subscriptions: [.init("up/gw-mq/heartbeat"), .init("up/gw-mq/status")]),
                                 logger: .init(label: "t"))
        try await watcher.start()
        let watching = Task { [messages = watcher.messages] in
            for await message in messages {
                latest.withLock { $0[message.topic] = String(decoding: message.payload, as: UTF8.self) }
            }
        }
        #expect(await eventually { latest.withLock { $0["up/gw-mq/status"] } == "online" })
        #expect(await eventually { latest.withLock { $0["up/gw-mq/heartbeat"] ?? "" }.contains("sensor dev-m") },
                "\(latest.withLock { $0 })")
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        #expect(await eventually { latest.withLock { $0["up/gw-mq/status"] } == "offline" }, "a stopped gateway says so")
        watching.cancel()
        await watcher.shutdown()
        collector.task.cancel()
        await collector.client.shutdown()
    }
}
