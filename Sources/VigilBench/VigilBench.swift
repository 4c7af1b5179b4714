import ArgumentParser
import Foundation

/// Long-running measurements of the MQTT wrapper. Each prints one JSON object on stdout, so the
/// test suite (short parameters) and the scripts (full parameters) read the same figures.
@main
struct VigilBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-bench",
        abstract: "Benchmarks, stress runs (JSON on stdout) and simulated sensors for Vigil.",
        subcommands: [Throughput.self, Stall.self, Cycles.self, Simulate.self, Decode.self, AckedLoad.self, StoreBench.self, ScoringBench.self, Scenarios.self, TechnicalScenarios.self, UplinkDrain.self, AlertLatency.self, Micro.self, EndToEnd.self, Soak.self, GranularityBench.self, Startup.self]
    )
}

struct BrokerOptions: ParsableArguments {
    @Option(help: "Broker host (a private test broker; never a shared one).")
    var host = "127.0.0.1"

    @Option(help: "Broker port.")
    var port: Int
}

func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}
