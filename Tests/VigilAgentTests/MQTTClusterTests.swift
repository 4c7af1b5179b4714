import Foundation
import Synchronization
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// The MQTT uplink through a real three-node NATS cluster (JetStream and MQTT on): the node the
/// agent is connected to is killed mid-run; the agent fails over to the next, every resource
/// reaches a consumer on a third node at least once (repeats are dropped by identifier), and the
/// agent's backlog drains. Prints the failover time, resources and repeats (README).
@Suite struct MQTTClusterTests {
    final class Arrivals: Sendable {
        private let state = Mutex<(all: [String], times: [(String, ContinuousClock.Instant)])>(([], []))
        func append(_ value: String) { state.withLock { $0.all.append(value); $0.times.append((value, .now)) } }
        var all: [String] { state.withLock { $0.all } }
        /// When the first identifier not seen before `instant` arrived after it.
        func firstNew(after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
            state.withLock { state in
                let before = Set(state.times.filter { $0.1 <= instant }.map(\.0))
                return state.times.first { $0.1 > instant && !before.contains($0.0) }?.1
            }
        }
    }

    /// Waits until the node's JetStream-backed MQTT accepts a QoS 1 publish (PUBACK).
    func ready(_ port: Int) async -> Bool {
        await eventually(timeout: .seconds(30)) {
            let probe = MQTTClient(configuration: .init(port: port, clientID: "probe-\(port)", cleanSession: true), logger: .init(label: "t"))
            defer { Task { await probe.shutdown() } }
            guard (try? await probe.start()) != nil else { return false }
            return await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await probe.publish(topic: "probe/ready", payload: [1], qos: .atLeastOnce)) != nil }
                group.addTask { try? await Task.sleep(for: .seconds(3)); return false }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        }
    }

    @Test func aKilledNodeFailsOverAndEveryResourceArrives() async throws {
        let cluster = try NATSCluster()
        defer { cluster.stop(); cluster.directory.remove() }
        for node in cluster.nodes { #expect(await ready(node.mqttPort), "node \(node.name) ready") }
        let local = try MosquittoBroker()
        let dir = try TemporaryDirectory("mqtt-cluster")
        defer { dir.remove() }

        // The hospital's consumer, on the third node.
        let arrivals = Arrivals()
        let consumer = MQTTClient(configuration: .init(port: cluster.nodes[2].mqttPort, clientID: "hospital-consumer", cleanSession: false,
                                                       subscriptions: [.init("up/gw-c/fhir/#")],
                                                       reconnect: Backoff(initialMilliseconds: 50, maximumMilliseconds: 500)),
                                  logger: .init(label: "t"))
        try await consumer.start()
        let consuming = Task { [messages = consumer.messages] in
            for await message in messages {
                guard let object = try? JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any],
                      let value = (object["identifier"] as? [[String: Any]])?.first?["value"] as? String else { continue }
                arrivals.append(value)
            }
        }
        #expect(await eventually { consumer.connectionState.isConnected })

        let metricsPort = try freeLoopbackPort()
        let brokers = cluster.nodes.map { "\"127.0.0.1:\($0.mqttPort)\"" }.joined(separator: ", ")
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-c", brokerPort: local.port, metricsPort: metricsPort,
            sections: """
                uplink:
                  mqtt:
                    brokers: [\(brokers)]
                    topic_prefix: up

                """)
        let keyBytes = Array(repeating: UInt8(0x4C), count: 32)
        try DeviceRegistry.write(.init(device: "dev-c", patient: "Patient/p-c", kind: "spo2-ring", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        // 60 frames of 10 readings, one frame every 100 ms; the first node dies after frame 20.
        let key = DeviceKey(device: DeviceID("dev-c")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: local.port, clientID: "dev-c"), logger: .init(label: "t"))
        try await sensor.start()
        let frames = 60, perFrame = 10
        var killedAt: ContinuousClock.Instant?
        for frame in 0..<frames {
            let records: [FrameEncoder.RecordInput] = (0..<perFrame).map { i in
                let seq = frame * perFrame + i
                return .init(dt: UInt32(i) * 1_000, values: [(.pulseRate, 700 + Int16(seq % 9)), (.spo2, 960 + Int16(seq % 5))])
            }
            try await sensor.publish(topic: "vigil/v1/dev-c/up", payload: FrameEncoder.readings(
                key: key, boot: 1, seq: UInt32(frame * perFrame), t0: 1_795_350_000_000 + UInt64(frame * perFrame) * 1_000,
                records: records, flags: .clockSynced))
            if frame == 20 {
                #expect(await eventually { arrivals.all.count >= 20 * perFrame }, "resources flow before the kill")
                cluster.kill(0)
                killedAt = .now
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        await sensor.shutdown()

        var expected: Set<String> = []
        for seq in 0..<(frames * perFrame) {
            for vital in ["pr", "spo2"] { expected.insert("urn:vigil:gw-c:obs:dev-c:1:\(seq):\(vital)") }
        }
        for frame in 0..<frames { expected.insert("urn:vigil:gw-c:obs:dev-c:1:\(frame * perFrame):cts") }
        #expect(await eventually(timeout: .seconds(90)) { expected.isSubset(of: Set(arrivals.all)) },
                "every resource arrives: \(expected.subtracting(arrivals.all).count) missing")
        #expect(await eventually(timeout: .seconds(30)) {
            let metrics = (try? httpGet(port: metricsPort, path: "/metrics").body) ?? ""
            return metrics.contains(#"vigil_backlog_records{lane="routine"} 0"#) && metrics.contains(#"vigil_backlog_records{lane="priority"} 0"#)
        }, "the backlog drains")
        let log = (try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? ""
        let all = arrivals.all
        let failover = killedAt.flatMap { killed in arrivals.firstNew(after: killed).map { $0 - killed } }
        print("mqtt-cluster: resources \(Set(all).count) distinct, \(all.count - Set(all).count) repeats; first new resource \(failover.map { "\($0)" } ?? "never") after the kill")
        #expect(failover != nil, "\(log.suffix(2_000))")
        // VIGIL_CLUSTER_DEBUG=1: the agent's log and a surviving node's, to see where failover time goes.
        if ProcessInfo.processInfo.environment["VIGIL_CLUSTER_DEBUG"] != nil { print(log); print(cluster.errors(1).suffix(4_000)) }
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        consuming.cancel()
        await consumer.shutdown()
    }
}
