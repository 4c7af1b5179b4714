import ArgumentParser
import Foundation
import VigilAgent
import VigilModels
import VigilStore

/// Runs the simulator's scenarios (from tools/models/scenarios.py) through the agent's scoring
/// (signal quality, NEWS2, the quantized models) and reports, per scenario and model, how many
/// patients raised a notified alert and when the first one came (JSON on stdout).
struct Scenarios: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Alerts per simulator scenario and model.")

    @Option(help: "Scenario readings (tools/models/scenarios.py output).") var input: String
    @Option(help: "Quantized model files to load.") var model: [String] = ["config/models/deterioration-lr.json"]

    func run() throws {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: input))) as! [String: Any]
        let models = try model.map { try QuantizedModel(json: Data(contentsOf: URL(fileURLWithPath: $0))) }
        let start: Int64 = 1_795_000_000_000
        // scenario → model → (patients, patients alerted, minutes to first notified raise)
        var table: [String: [String: (patients: Int, alerted: Int, firstMinutes: [Int])]] = [:]
        for patient in root["patients"] as! [[String: Any]] {
            let scenario = patient["scenario"] as! String
            let name = "\(scenario)-\(patient["seed"] as! Int)"
            var scorer = ReadingScorer(models: models, freshnessMinutes: 60, clearAfter: 2)
            var first: [String: Int] = [:]
            for (index, entry) in (patient["readings"] as! [[Any]]).enumerated() {
                let seconds = entry[0] as! Int
                let values = (entry[1] as! [[Int]]).map { StoredReading.Value(channel: UInt8($0[0]), raw: Int16($0[1])) }
                var batch = ReadingBatch(device: name, patient: name, boot: 1, timeQuality: 0, receivedAt: 0, readings: [
                    StoredReading(seq: UInt32(index), time: start + Int64(seconds) * 1_000, deviceTime: 0, values: values),
                ])
                for (modelID, alert) in scorer.score(&batch) {
                    let fields = try JSONSerialization.jsonObject(with: Data(alert.json)) as! [String: Any]
                    if fields["event"] as? String == "raise", fields["notify"] as? Bool == true, first[modelID] == nil {
                        first[modelID] = seconds / 60
                    }
                }
            }
            for modelID in [NEWS2AlertTracker.model] + models.map(\.model) {
                var row = table[scenario, default: [:]][modelID] ?? (0, 0, [])
                row.patients += 1
                if let minutes = first[modelID] {
                    row.alerted += 1
                    row.firstMinutes.append(minutes)
                }
                table[scenario, default: [:]][modelID] = row
            }
        }
        var output: [String: Any] = [:]
        for (scenario, models) in table {
            output[scenario] = models.mapValues { row in
                ["patients": row.patients, "alerted": row.alerted,
                 "first_alert_minutes_median": row.firstMinutes.sorted().dropFirst(row.firstMinutes.count / 2).first as Any]
            }
        }
        try printJSON(output)
    }
}
