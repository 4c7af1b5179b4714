import ArgumentParser
import Foundation
import Logging
import VigilMQTT

/// Messages/s delivered by the broker into the wrapper's `AsyncSequence`, against `mosquitto_sub`
/// on the same broker in the same run.
///
/// Method: each subscriber first registers a persistent session and disconnects; N QoS 1 messages
/// are then queued for it by the broker; the subscriber reconnects and the clock runs until the
/// N-th message is in hand. The publisher is thus out of the measurement, and both subscribers
/// drain the same kind of backlog. Rounds alternate which subscriber goes first.
struct Throughput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare the wrapper's receive rate with mosquitto_sub (ratio; target >= 0.9)."
    )

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Messages per measurement.")
    var messages = 200_000

    @Option(help: "Rounds (each measures both subscribers); the median is reported.")
    var rounds = 3

    @Option(help: "Payload bytes per message.")
    var payloadBytes = 64

    @Option(help: "Path of mosquitto_sub.")
    var mosquittoSub = "/usr/bin/mosquitto_sub"

    func run() async throws {
        let logger = Logger(label: "vigil-bench")
        let publisher = MQTTClient(
            configuration: .init(host: broker.host, port: broker.port, clientID: "tp-pub-\(getpid())"), logger: logger)
        try await publisher.start()
        try await waitConnected(publisher)

        var wrapperRates: [Double] = []
        var referenceRates: [Double] = []
        for round in 0..<rounds {
            let order = round % 2 == 0 ? [true, false] : [false, true]
            for useWrapper in order {
                let id = "tp-\(useWrapper ? "wrapper" : "mosquitto_sub")-\(getpid())-\(round)"
                let topic = "bench/tp/\(id)"
                if useWrapper {
                    try await registerWrapperSession(id: id, topic: topic, publisher: publisher, logger: logger)
                } else {
                    try runTool(["-E"], id: id, topic: topic)
                }
                try await publishBacklog(publisher: publisher, topic: topic)
                let seconds = useWrapper
                    ? try await drainWithWrapper(id: id, topic: topic, logger: logger)
                    : try timed { try runTool(["-C", "\(messages)"], id: id, topic: topic) }
                let rate = Double(messages) / seconds
                if useWrapper { wrapperRates.append(rate) } else { referenceRates.append(rate) }
                FileHandle.standardError.write(Data("round \(round) \(useWrapper ? "wrapper" : "mosquitto_sub"): \(Int(rate)) msg/s\n".utf8))
            }
        }
        await publisher.shutdown()
        let wrapper = median(wrapperRates)
        let reference = median(referenceRates)
        try printJSON([
            "messages": messages, "rounds": rounds, "payload_bytes": payloadBytes,
            "wrapper_msgs_per_s": Int(wrapper), "mosquitto_sub_msgs_per_s": Int(reference),
            "ratio": (wrapper / reference * 1000).rounded() / 1000,
            "wrapper_all": wrapperRates.map { Int($0) }, "mosquitto_sub_all": referenceRates.map { Int($0) },
        ])
    }

    private func registerWrapperSession(id: String, topic: String, publisher: MQTTClient, logger: Logger) async throws {
        let client = MQTTClient(
            configuration: .init(host: broker.host, port: broker.port, clientID: id, subscriptions: [.init(topic)]),
            logger: logger)
        try await client.start()
        try await waitConnected(client)
        try await publisher.publish(topic: topic, payload: Array("probe".utf8))
        let iterator = client.messages.makeAsyncIterator()
        _ = await iterator.next()
        await client.shutdown()
    }

    private func publishBacklog(publisher: MQTTClient, topic: String) async throws {
        let payload = [UInt8](repeating: 0x42, count: payloadBytes)
        for index in 0..<messages {
            if index % 1_000 == 999 || index == messages - 1 {
                try await publisher.publish(topic: topic, payload: payload)
            } else {
                try publisher.enqueue(topic: topic, payload: payload)
            }
        }
    }

    private func drainWithWrapper(id: String, topic: String, logger: Logger) async throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let client = MQTTClient(
            configuration: .init(host: broker.host, port: broker.port, clientID: id, subscriptions: [.init(topic)]),
            logger: logger)
        try await client.start()
        var received = 0
        for await _ in client.messages {
            received += 1
            if received == messages { break }
        }
        let elapsed = clock.now - start
        await client.shutdown()
        return seconds(elapsed)
    }

    private func runTool(_ extra: [String], id: String, topic: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mosquittoSub)
        process.arguments = ["-h", broker.host, "-p", "\(broker.port)", "-i", id, "-c", "-q", "1", "-t", topic] + extra
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("mosquitto_sub exited \(process.terminationStatus)") }
    }

    private func timed(_ body: () throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try body()
        return seconds(clock.now - start)
    }

    private func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
