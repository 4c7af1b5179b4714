import ArgumentParser
import Foundation
import Logging
import VigilMQTT

/// Connect, subscribe, exchange a message and shut down, many times: memory, descriptors and
/// threads must not grow (a leaked handle, socket or thread per cycle shows up here).
struct Cycles: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Repeat connect/disconnect; report resource growth.")

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Connect/disconnect cycles.")
    var cycles = 1_000

    @Option(help: "Cycles run before the baseline is taken (allocator and library warm-up).")
    var warmup = 100

    func run() async throws {
        let logger = Logger(label: "vigil-bench")
        var baseline: (rss: Int, fds: Int, threads: Int) = (0, 0, 0)
        for cycle in 0..<cycles {
            if cycle == warmup {
                baseline = (ProcessStats.residentKiB, ProcessStats.openFileDescriptors, ProcessStats.threads)
            }
            let client = MQTTClient(
                configuration: .init(
                    host: broker.host, port: broker.port, clientID: "cycle-\(getpid())",
                    cleanSession: true, subscriptions: [.init("bench/cycle")]),
                logger: logger)
            try await client.start()
            try await waitConnected(client)
            try await client.publish(topic: "bench/cycle", payload: Array("ping \(cycle)".utf8))
            let iterator = client.messages.makeAsyncIterator()
            guard await iterator.next() != nil else { throw ValidationError("cycle \(cycle): no message") }
            await client.shutdown()
        }
        // Give exited threads a moment to be reaped before counting them.
        try await Task.sleep(for: .milliseconds(200))
        let final = (ProcessStats.residentKiB, ProcessStats.openFileDescriptors, ProcessStats.threads)
        try printJSON([
            "cycles": cycles, "warmup": warmup,
            "rss_baseline_kib": baseline.rss, "rss_final_kib": final.0, "rss_growth_kib": final.0 - baseline.rss,
            "fds_baseline": baseline.fds, "fds_final": final.1,
            "threads_baseline": baseline.threads, "threads_final": final.2,
        ])
    }
}
