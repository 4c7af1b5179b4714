import ArgumentParser
import Foundation
import Logging
import VigilMQTT

/// A consumer that stops reading while many messages arrive: memory must stay bounded (the inbox
/// blocks the loop thread, the broker queues the rest) and, once it resumes, nothing is missing.
struct Stall: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stall the consumer while N QoS 1 messages arrive; report memory and completeness."
    )

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Messages published while the consumer is stalled.")
    var messages = 100_000

    @Option(help: "Payload bytes per message.")
    var payloadBytes = 256

    @Option(help: "Inbox capacity of the stalled client (messages).")
    var capacity = 1_024

    func run() async throws {
        let logger = Logger(label: "vigil-bench")
        let topic = "bench/stall"
        let subscriber = MQTTClient(
            configuration: .init(
                host: broker.host, port: broker.port, clientID: "stall-sub-\(getpid())",
                subscriptions: [.init(topic)], inboxCapacity: capacity),
            logger: logger)
        let publisher = MQTTClient(
            configuration: .init(host: broker.host, port: broker.port, clientID: "stall-pub-\(getpid())"),
            logger: logger)
        try await subscriber.start()
        try await publisher.start()
        try await waitConnected(subscriber)
        try await waitConnected(publisher)
        // The subscription is confirmed once our own probe comes back; consume it.
        try await publisher.publish(topic: topic, payload: Array("probe".utf8))
        let iterator = subscriber.messages.makeAsyncIterator()
        _ = await iterator.next()

        let baseline = ProcessStats.residentKiB
        let sampler = RSSSampler()
        let sampling = Task { await sampler.run() }

        var payload = [UInt8](repeating: 0x5A, count: max(payloadBytes, 8))
        let batch = 1_000
        for start in stride(from: 0, to: messages, by: batch) {
            let end = min(start + batch, messages)
            for index in start..<end {
                withUnsafeBytes(of: UInt64(index).littleEndian) { payload.replaceSubrange(0..<8, with: $0) }
                if index == end - 1 {
                    try await publisher.publish(topic: topic, payload: payload)
                } else {
                    try publisher.enqueue(topic: topic, payload: payload)
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let peakDuringStall = await sampler.peak
        let inboxPeak = subscriber.inboxPeak

        var received = 0
        var inOrder = true
        var expected: UInt64 = 0
        while received < messages, let message = await iterator.next() {
            let index = message.payload.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            if UInt64(littleEndian: index) != expected { inOrder = false }
            expected = UInt64(littleEndian: index) + 1
            received += 1
        }
        sampling.cancel()
        await publisher.shutdown()
        await subscriber.shutdown()
        try printJSON([
            "messages": messages, "received": received, "in_order": inOrder,
            "payload_bytes": payloadBytes, "inbox_capacity": capacity, "inbox_peak": inboxPeak,
            "rss_baseline_kib": baseline, "rss_peak_during_stall_kib": peakDuringStall,
            "rss_growth_kib": peakDuringStall - baseline,
        ])
    }
}

actor RSSSampler {
    private(set) var peak = 0
    func run() async {
        while !Task.isCancelled {
            peak = max(peak, ProcessStats.residentKiB)
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

func waitConnected(_ client: MQTTClient, timeout: Duration = .seconds(20)) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while !client.connectionState.isConnected {
        guard ContinuousClock.now < deadline else { throw ValidationError("no connection to the broker") }
        try await Task.sleep(for: .milliseconds(5))
    }
}
