import Foundation
import Testing
import VigilCore
import VigilMQTT
import VigilTestSupport

/// A consumer that stops taking messages for longer than two keepalive intervals while QoS 1
/// messages keep arriving: the client must stay connected (the loop thread keeps reading a
/// trickle and answering, instead of blocking inside libmosquitto's callback) and every message
/// must arrive, in order, once the consumer resumes.
@Suite struct StalledConsumerKeepaliveTests {
    @Test func aFullInboxKeepsTheConnectionAliveAndLosesNothing() async throws {
        let broker = try MosquittoBroker()
        let keepalive = 5  // libmosquitto's smallest
        let subscriber = try await startedClient(MQTTConfiguration(
            host: "127.0.0.1", port: broker.port, clientID: "stalled-sub", keepaliveSeconds: keepalive,
            subscriptions: [.init("stall/#")], reconnect: Backoff(initialMilliseconds: 20, maximumMilliseconds: 200),
            inboxCapacity: 16))
        let publisher = try await startedClient(.test(broker, id: "stall-pub"))
        #expect(await waitUntilConnected(subscriber))
        #expect(await waitUntilConnected(publisher))
        let transitions = Task {
            var seen: [MQTTConnectionState] = []
            for await state in subscriber.connectionStates() { seen.append(state) }
            return seen
        }

        let count = 400
        for index in 0..<count {
            try await publisher.publish(topic: "stall/a", payload: Array("m-\(index)".utf8))
        }
        // The consumer takes nothing for 2.4 keepalive intervals (the broker drops a silent client
        // after 1.5; libmosquitto drops a broker it hears nothing from after 2).
        try await Task.sleep(for: .seconds(12))
        #expect(subscriber.connectionState.isConnected, "still connected after the stall")

        let received = await receive(count, from: subscriber)
        #expect(received.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<count).map { "m-\($0)" })
        let log = broker.log
        await publisher.shutdown()
        await subscriber.shutdown()
        let states = await transitions.value
        #expect(!states.contains { if case .disconnected = $0 { true } else { false } }, "no disconnect: \(states)")
        #expect(!log.contains("stalled-sub has exceeded timeout"), "the broker did not time the client out")
        #expect(!log.contains("Client stalled-sub disconnected"), "no unplanned disconnect in the broker log")
    }
}
