import Foundation
import Testing
import VigilCore
import VigilMQTT
import VigilTestSupport

@Suite struct MQTTClientTests {
    @Test func publishesAndReceivesQoS1InOrderWithExactBytes() async throws {
        let broker = try MosquittoBroker()
        let subscriber = try await startedClient(.test(broker, id: "sub", subscriptions: ["t/#"]))
        let publisher = try await startedClient(.test(broker, id: "pub"))
        #expect(await waitUntilConnected(subscriber))
        #expect(await waitUntilConnected(publisher))

        // Every byte value, including NUL, must survive the copy out of the C callback.
        let payloads = (0..<200).map { index in [UInt8](repeating: UInt8(index), count: index) + Array(0...255) }
        for (index, payload) in payloads.enumerated() {
            try await publisher.publish(topic: "t/\(index % 3)", payload: payload)
        }
        let received = await receive(payloads.count, from: subscriber)
        #expect(received.map(\.payload) == payloads)
        #expect(received.map(\.topic) == (0..<200).map { "t/\($0 % 3)" })
        #expect(received.allSatisfy { $0.qos == .atLeastOnce && !$0.retain })

        await publisher.shutdown()
        await subscriber.shutdown()
        #expect(subscriber.connectionState == .stopped)
    }

    @Test func retainedMessagesAreFlaggedForLateSubscribers() async throws {
        let broker = try MosquittoBroker()
        let publisher = try await startedClient(.test(broker, id: "pub"))
        #expect(await waitUntilConnected(publisher))
        try await publisher.publish(topic: "cfg/dev1", payload: Array("v7".utf8), retain: true)
        let late = try await startedClient(.test(broker, id: "late", subscriptions: ["cfg/+"]))
        let received = await receive(1, from: late)
        #expect(received.first?.retain == true)
        #expect(received.first?.payload == Array("v7".utf8))
        await late.shutdown()
        await publisher.shutdown()
    }

    /// The broker goes down mid-stream and comes back; what was published while the subscriber
    /// was away reaches it, because its session (subscriptions and QoS 1 queue) persisted.
    @Test func persistentSessionSurvivesABrokerRestart() async throws {
        let broker = try MosquittoBroker()
        // A slow reconnect for the subscriber (4–8 s), so most publishes happen while it is away.
        let slow = Backoff(initialMilliseconds: 8_000, maximumMilliseconds: 8_000, jitter: .equal)
        let subscriber = try await startedClient(.test(broker, id: "persistent-sub", subscriptions: ["vitals/#"], reconnect: slow))
        let publisher = try await startedClient(.test(broker, id: "pub"))
        #expect(await waitUntilConnected(subscriber))
        #expect(await waitUntilConnected(publisher))

        for index in 0..<100 {
            try await publisher.publish(topic: "vitals/a", payload: Array("before-\(index)".utf8))
        }
        let before = await receive(100, from: subscriber)
        #expect(before.count == 100)

        broker.stop()
        #expect(await eventually { !subscriber.connectionState.isConnected })
        try broker.start()
        #expect(await waitUntilConnected(publisher))
        // Messages acknowledged by the broker while the subscriber was still away can reach it
        // only through its persisted session; under load it may come back midway, so the test
        // counts those rather than assuming all 300 were published before it returned.
        var whileAway = 0
        for index in 0..<300 {
            try await publisher.publish(topic: "vitals/a", payload: Array("during-\(index)".utf8))
            if !subscriber.connectionState.isConnected { whileAway += 1 }
        }
        #expect(whileAway > 0, "the subscriber was back before the first publish: the test proves nothing")

        // QoS 1 is at-least-once: the last few "before" messages whose PUBACK was still in flight
        // when the broker stopped may come again (the protocol layer makes that idempotent).
        var during: [String] = []
        for await message in subscriber.messages {
            let text = String(decoding: message.payload, as: UTF8.self)
            if text.hasPrefix("before-") {
                #expect(before.contains(message), "only unacknowledged old messages may repeat")
                continue
            }
            during.append(text)
            if during.count == 300 { break }
        }
        #expect(during == (0..<300).map { "during-\($0)" })
        await publisher.shutdown()
        await subscriber.shutdown()
    }

    @Test func wrongCredentialsGiveAClearErrorAndBackedOffRetries() async throws {
        let broker = try MosquittoBroker(options: .init(users: ["gateway": "right-password"]))
        let backoff = Backoff(initialMilliseconds: 50, maximumMilliseconds: 400)
        let client = MQTTClient(
            configuration: .test(broker, id: "intruder", username: "gateway", password: "wrong", reconnect: backoff),
            logger: testLogger)
        // Observe from before the start, so no transition is missed.
        let states = client.connectionStates()
        try await client.start()
        var refusals: [(MQTTError, Int64)] = []
        var attempts: [Int] = []
        for await state in states {
            switch state {
            case .disconnected(let reason, let retry): refusals.append((reason, retry))
            case .connecting(let attempt): if attempts.last != attempt { attempts.append(attempt) }
            case .connected: Issue.record("connected with a wrong password")
            case .stopped: break
            }
            if refusals.count == 5 { break }
        }
        #expect(refusals.allSatisfy { $0.0.kind == .connectionRefused(connackCode: 5) })
        #expect(refusals.allSatisfy { $0.0.needsOperator })
        #expect(refusals[0].0.description.contains("not authorised"))
        // Backoff: each delay stays within its jittered band and the ceilings grow to the cap.
        for (attempt, refusal) in refusals.enumerated() {
            let top = backoff.ceiling(attempt: attempt)
            #expect(refusal.1 >= top / 2 && refusal.1 <= top)
        }
        #expect(attempts.starts(with: [0, 1, 2, 3, 4]))
        await client.shutdown()
        #expect(client.connectionState == .stopped)

        let rightful = try await startedClient(.test(broker, id: "gw", username: "gateway", password: "right-password"))
        #expect(await waitUntilConnected(rightful))
        await rightful.shutdown()
    }

    /// A subscription the broker refuses (SUBACK 0x80, e.g. its ACL) would leave the client
    /// connected and deaf: it is a failed connection instead, with the filter in its reason,
    /// retried with backoff; granted ones keep the connection.
    @Test func aSubscriptionTheBrokerRefusesIsAFailedConnection() async throws {
        let directory = try TemporaryDirectory("refusing")
        defer { directory.remove() }
        let broker = try RefusingBroker(refusing: "forbidden/", directory: directory)
        func configuration(_ id: String, _ filters: [String]) -> MQTTConfiguration {
            MQTTConfiguration(host: "127.0.0.1", port: broker.port, clientID: id, subscriptions: filters.map { .init($0) },
                              reconnect: Backoff(initialMilliseconds: 20, maximumMilliseconds: 200))
        }
        let client = MQTTClient(configuration: configuration("deaf", ["allowed/x", "forbidden/#"]), logger: testLogger)
        let states = client.connectionStates()
        try await client.start()
        // Two disconnections, or whatever came within 20 s (none, if the refusal went unnoticed).
        let reasons = await withTaskGroup(of: [MQTTError].self) { group in
            group.addTask {
                var reasons: [MQTTError] = []
                for await state in states {
                    if case .disconnected(let reason, _) = state { reasons.append(reason) }
                    if reasons.count == 2 { break }
                }
                return reasons
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(20))
                return []
            }
            let first = await group.next() ?? []
            group.cancelAll()
            return first
        }
        #expect(reasons.count == 2 && reasons.allSatisfy { $0.kind == .subscriptionRefused(filter: "forbidden/#") }, "\(reasons)")
        #expect(reasons.first?.description.contains("forbidden/#") == true)
        #expect(reasons.allSatisfy { $0.needsOperator })
        await client.shutdown()

        let allowed = try await startedClient(configuration("hearing", ["allowed/x"]))
        #expect(await waitUntilConnected(allowed))
        try await Task.sleep(for: .milliseconds(300))
        #expect(allowed.connectionState.isConnected, "a granted subscription keeps the connection")
        await allowed.shutdown()
    }

    @Test func anUnreachableBrokerIsRetriedUntilItAppears() async throws {
        let broker = try MosquittoBroker()
        broker.stop()
        let client = try await startedClient(.test(broker, id: "early", subscriptions: ["x"]))
        #expect(await eventually {
            if case .disconnected(let reason, _) = client.connectionState { return reason.description.contains("connect to") }
            return false
        })
        try broker.start()
        #expect(await waitUntilConnected(client))
        await client.shutdown()
    }

    @Test func publishingWhileDisconnectedQueuesQoS1AndRefusesQoS0() async throws {
        let broker = try MosquittoBroker()
        let subscriber = try await startedClient(.test(broker, id: "sub", subscriptions: ["up/#"]))
        let publisher = try await startedClient(.test(broker, id: "pub"))
        #expect(await waitUntilConnected(subscriber))
        #expect(await waitUntilConnected(publisher))
        broker.stop()
        #expect(await eventually { !publisher.connectionState.isConnected })
        await #expect {
            try await publisher.publish(topic: "up/lost", payload: [0], qos: .atMostOnce)
        } throws: { ($0 as? MQTTError)?.kind == .notConnected }
        // QoS 1 waits in libmosquitto and completes once the broker is back and acknowledged it.
        let pending = Task { try await publisher.publish(topic: "up/late", payload: [1, 2, 3]) }
        try await Task.sleep(for: .milliseconds(100))
        try broker.start()
        try await pending.value
        try await publisher.publish(topic: "up/after", payload: [4])
        let received = await receive(2, from: subscriber)
        #expect(received.map(\.payload) == [[1, 2, 3], [4]])
        await publisher.shutdown()
        await subscriber.shutdown()
    }

    @Test func shutdownIsIdempotentAndLaterPublishesFail() async throws {
        let broker = try MosquittoBroker()
        let client = try await startedClient(.test(broker, id: "once"))
        #expect(await waitUntilConnected(client))
        await client.shutdown()
        await client.shutdown()
        await #expect(throws: MQTTError.self) { try await client.publish(topic: "t", payload: []) }
        // The message sequence ends instead of hanging.
        let iterator = client.messages.makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    @Test func runEndsOnCancellation() async throws {
        let broker = try MosquittoBroker()
        let client = MQTTClient(configuration: .test(broker, id: "svc"), logger: testLogger)
        let running = Task { try await client.run() }
        #expect(await waitUntilConnected(client))
        running.cancel()
        try await running.value
        #expect(client.connectionState == .stopped)
    }

    @Test func aStalledConsumerNeverHoldsMoreThanTheInboxCapacity() async throws {
        let broker = try MosquittoBroker()
        let subscriber = try await startedClient(.test(broker, id: "stalled", subscriptions: ["flood"], inboxCapacity: 64))
        let publisher = try await startedClient(.test(broker, id: "pub"))
        #expect(await waitUntilConnected(subscriber))
        #expect(await waitUntilConnected(publisher))
        for index in 0..<2_000 {
            if index % 500 == 499 {
                try await publisher.publish(topic: "flood", payload: Array("\(index)".utf8))
            } else {
                try publisher.enqueue(topic: "flood", payload: Array("\(index)".utf8))
            }
        }
        #expect(await eventually { subscriber.inboxDepth == 64 })
        try await Task.sleep(for: .milliseconds(300))
        #expect(subscriber.inboxPeak == 64)
        let all = await receive(2_000, from: subscriber)
        #expect(all.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<2_000).map(String.init))
        await publisher.shutdown()
        await subscriber.shutdown()
    }
}
