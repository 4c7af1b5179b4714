/// Writes `vigil.yaml` for a test agent in `directory`: its state and store key under the
/// directory, the broker and metrics ports when given, plus extra lines per section (indented
/// there) and extra top-level sections. Returns the file's path.
public func writeAgentConfig(
    in directory: TemporaryDirectory, gateway: String, brokerPort: Int? = nil, metricsPort: Int? = nil,
    store: [String] = [], mqtt: [String] = [], sections: String = ""
) throws -> String {
    var lines = [
        // These agents run wherever the tests do, often in containers whose kernel never reports
        // an NTP sync: the clock is trusted (tests about the clock use VIGIL_TEST_CLOCK).
        "gateway:", "  id: \(gateway)", "  state_directory: \(directory.path)/state", "  clock: rtc",
        "store:", "  key_file: \(directory.path)/store.keys",
    ] + store.map { "  " + $0 }
    if let brokerPort { lines += ["mqtt:", "  port: \(brokerPort)"] + mqtt.map { "  " + $0 } }
    if let metricsPort { lines += ["metrics:", "  listen: 127.0.0.1:\(metricsPort)"] }
    // Each test agent its own control socket (the default, /run/vigil, is the installed agent's).
    if !sections.contains("control:") { lines += ["control:", "  socket: \(directory.path)/control.sock"] }
    // NEWS2 on each reading (the chart's rule): these agents are tested on whether an abnormal
    // reading's alert is stored, uploaded and acknowledged, not on the wearable aggregation
    // (tested in-process and by scripts/scenarios).
    if !sections.contains("models:") {
        lines += ["models:", "  news2_window_seconds: 0", "  news2_raise_after: 1", "  news2_clear_after: 2"]
    }
    // Technical alerts off unless a test is about them: these agents' sensors send fixed,
    // clock-synced times days in the past (sensor_clock) and stop when the test has sent enough.
    if !sections.contains("technical:") { lines += ["technical:", "  enabled: false"] }
    return try directory.write("vigil.yaml", (lines.joined(separator: "\n") + "\n" + sections))
}
