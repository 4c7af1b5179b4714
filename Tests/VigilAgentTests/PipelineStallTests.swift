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
import VigilValidation
@testable import VigilAgent
import VigilProvisioning

/// The agent's pipeline stalled by its disk (one fdatasync taking 12 s, 2.4 × the keepalive)
/// while a sensor keeps publishing: its real MQTT client, with a small inbox, stays connected
/// to the real broker, and every reading is stored and acknowledged once the disk is back.
@Suite struct PipelineStallTests {
    @Test func aStalledDiskFillsTheInboxWithoutLosingTheBrokerOrAReading() async throws {
        let broker = try MosquittoBroker()
        let directory = try TemporaryDirectory("pipeline-stall")
        defer { directory.remove() }
        let keyBytes = Array(repeating: UInt8(0x4E), count: 32)
        let key = DeviceKey(device: DeviceID("dev-k")!, bytes: keyBytes)!
        try DeviceRegistry.write(.init(device: "dev-k", patient: "Patient/k", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: directory.path + "/devices"))
        let fileSystem = FaultInjectingFileSystem()
        let keyring = Keyring.generate()
        let (store, _) = try Store.open(directory: directory.path + "/log", keyring: keyring, fileSystem: fileSystem,
                                        logger: Logger(label: "t"))
        let agentClient = MQTTClient(configuration: MQTTConfiguration(
            host: "127.0.0.1", port: broker.port, clientID: "stalled-agent", keepaliveSeconds: 5,
            subscriptions: [.init("vigil/v1/+/up")], reconnect: Backoff(initialMilliseconds: 20, maximumMilliseconds: 200),
            inboxCapacity: 16), logger: Logger(label: "t"))
        try await agentClient.start()
        let transitions = Task {
            var seen: [MQTTConnectionState] = []
            for await state in agentClient.connectionStates() { seen.append(state) }
            return seen
        }
        // Time for the rate limiter moves a second per look, so pacing is not what this tests.
        let ticks = Mutex(Duration.zero)
        let pipeline = PipelineService(.init(
            messages: agentClient.messages, topics: Topics(),
            registry: DeviceRegistry(directory: URL(fileURLWithPath: directory.path + "/devices"), logger: Logger(label: "t")),
            metrics: AgentMetrics(factory: NOOPMetricsHandler.instance), logger: Logger(label: "t"), summaryInterval: .seconds(60),
            publish: { topic, payload in try? agentClient.enqueue(topic: topic, payload: payload) },
            publishRetained: { _, _ in }, store: store, validator: Validator(), commitWindow: .milliseconds(5),
            uptime: { ticks.withLock { $0 += .seconds(1); return $0 } }))
        let run = Task { try await pipeline.run() }

        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-k", subscriptions: [.init("vigil/v1/dev-k/ack")]),
                                logger: Logger(label: "t"))
        try await sensor.start()
        #expect(await eventually { agentClient.connectionState.isConnected && sensor.connectionState.isConnected })
        fileSystem.stallNextSync(seconds: 12)
        let count = 400
        for seq in 0..<UInt32(count) {
            try await sensor.publish(topic: "vigil/v1/dev-k/up", payload: FrameEncoder.readings(
                key: key, boot: 1, seq: seq, t0: 1_795_350_000_000 + UInt64(seq) * 1_000,
                records: [.init(dt: 0, values: [(.pulseRate, 720 + Int16(seq % 5))])], flags: .clockSynced))
        }
        let acked = await receive(from: sensor, timeout: .seconds(60)) { messages in
            messages.contains { message in
                if case .ack(let ack)? = try? FrameDecoder.decode(message.payload, key: key) { return ack.seq == UInt32(count - 1) }
                return false
            }
        }
        #expect(!acked.isEmpty, "every reading acknowledged after the stall")
        #expect(agentClient.inboxPeak >= 16, "the inbox filled during the stall (peak \(agentClient.inboxPeak))")
        let log = broker.log
        await sensor.shutdown()
        await agentClient.shutdown()
        run.cancel()
        _ = await run.result
        let states = await transitions.value
        #expect(!states.contains { if case .disconnected = $0 { true } else { false } }, "no disconnect: \(states)")
        #expect(!log.contains("stalled-agent has exceeded timeout") && !log.contains("Client stalled-agent disconnected"))
        let stored = try StoreInspector(directory: directory.path + "/log", keyring: keyring).entries().flatMap { item -> [UInt32] in
            guard case .readings(let batch) = item.entry else { return [] }
            return batch.readings.map(\.seq)
        }
        #expect(stored.sorted() == Array(0..<UInt32(count)), "each reading stored once")
    }
}
