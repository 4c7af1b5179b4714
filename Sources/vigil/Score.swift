import ArgumentParser
import Foundation
import VigilAgent
import VigilScoring

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay observations through NEWS2 and the alert lifecycle (offline, for clinicians and data scientists).",
        discussion: """
            Input: JSON Lines (FILE, or standard input), one observation set per line with the keys \
            patient, time (RFC 3339) and any of hr, rr, spo2, temp (°C), sbp, dbp, o2 (true: on \
            supplemental oxygen), consciousness ("A", "C", "V", "P", "U") and spo2_scale (1 or 2).

            Output: one JSON line per input line: {"patient", "time", "news2": {"total", "risk", \
            "parameters", "missing"}, "alerts": [...]}. A parameter absent from a line is carried \
            forward from the same patient's earlier lines while it is fresh \
            (models.news2_freshness_minutes, default 60). Values are rounded half up to 0.1 \
            (rates, SpO2) and 0.01 °C before scoring, and NEWS2 rounds them half up to its chart.

            A bad line is reported on standard error (line number, key, what was expected) and \
            the run goes on. Exit status: 0 if every line was scored, 1 if any was refused, 78 for \
            an invalid --config.
            """
    )

    @Option(name: [.short, .long], help: ArgumentHelp("Agent configuration to take the model settings from.", valueName: "path"))
    var config: String?

    @Argument(help: ArgumentHelp("JSON Lines file (default: standard input).", valueName: "file"))
    var file: String?

    func run() throws {
        var freshness = 60
        var clearAfter = 2
        if let config {
            do {
                let configuration = try VigilConfiguration.load(path: config)
                freshness = configuration.models.news2FreshnessMinutes
                // The chart's rule on discrete observation sets, whatever the live pipeline's
                // window hysteresis (models.news2_clear_after counts windows there).
                if configuration.models.news2WindowSeconds == 0 { clearAfter = configuration.models.news2ClearAfter }
            } catch let error as ConfigurationError {
                printError("\(error)")
                throw ExitCode(ExitStatus.configuration)
            }
        }
        let input: FileHandle
        if let file {
            guard let handle = FileHandle(forReadingAtPath: file) else {
                printError("vigil score: cannot read \(file)")
                throw ExitCode.failure
            }
            input = handle
        } else {
            input = FileHandle.standardInput
        }
        var session = ScoreSession(freshnessMinutes: freshness, clearAfter: clearAfter)
        var refused = 0
        let text = String(decoding: input.readDataToEndOfFile(), as: UTF8.self)
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            switch session.process(String(line), line: index + 1) {
            case .success(let output): print(output)
            case .failure(let error):
                refused += 1
                printError("vigil score: \(error)")
            }
        }
        if refused > 0 { throw ExitCode.failure }
    }
}
