import ArgumentParser
import Foundation
import VigilAgent
import VigilModels
import VigilStore
import VigilScoring

/// Runs the simulator's scenarios (from tools/models/scenarios.py) through the agent's scoring
/// (signal quality, NEWS2, drift, the quantized models) and reports per scenario and model: the
/// patients alerted after the deterioration's onset, minutes from onset to the first notified
/// raise, its lead over NEWS2 reaching the medium band (the RCP's urgent-response threshold), and
/// false alerts (notified raises while the patient was not deteriorating) with the minutes
/// observed (JSON on stdout).
struct Scenarios: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Alerts per simulator scenario and model.")

    @Option(help: "Scenario readings (tools/models/scenarios.py output).") var input: String
    @Option(help: "Quantized model files to load.") var model: [String] = ["config/models/deterioration-lr.json"]

    private struct Row {
        var patients = 0
        var alerted = 0
        var firstMinutes: [Int] = []
        var leadMinutes: [Int] = []
        var falseAlerts = 0
        var quietMinutes = 0
    }

    func run() throws {
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: input))) as! [String: Any]
        let models = try model.map { try QuantizedModel(json: Data(contentsOf: URL(fileURLWithPath: $0))) }
        let start: Int64 = 1_795_000_000_000
        let modelIDs = [NEWS2AlertTracker.model, "drift"] + models.map(\.model)
        var table: [String: [String: Row]] = [:]
        for patient in root["patients"] as! [[String: Any]] {
            let scenario = patient["scenario"] as! String
            let onset = (patient["onset_seconds"] as? Int).map { $0 / 60 }
            let name = "\(scenario)-\(patient["seed"] as! Int)"
            var scorer = ReadingScorer(models: models, freshnessMinutes: 60, clearAfter: 2)
            var first: [String: Int] = [:]
            var falseAlerts: [String: Int] = [:]
            var news2Medium: Int?
            var lastMinute = 0
            for (index, entry) in (patient["readings"] as! [[Any]]).enumerated() {
                let seconds = entry[0] as! Int
                let minute = seconds / 60
                lastMinute = minute
                let values = (entry[1] as! [[Int]]).map { StoredReading.Value(channel: Channel(rawValue: UInt8($0[0]))!, raw: Int16($0[1])) }
                var batch = ReadingBatch(device: name, patient: name, boot: 1, timeQuality: .device, receivedAt: 0, readings: [
                    StoredReading(seq: UInt32(index), time: start + Int64(seconds) * 1_000, deviceTime: 0, values: values),
                ])
                for (modelID, alert) in scorer.score(&batch) {
                    let event = alert.event.kind
                    if modelID == NEWS2AlertTracker.model, event == .raise || event == .escalate, news2Medium == nil,
                       ["medium", "high"].contains(alert.event.risk) {
                        news2Medium = minute
                    }
                    guard event == .raise, alert.event.notify == true else { continue }
                    if let onset, minute >= onset {
                        if first[modelID] == nil { first[modelID] = minute - onset }
                    } else {
                        falseAlerts[modelID, default: 0] += 1
                    }
                }
            }
            for modelID in modelIDs {
                var row = table[scenario, default: [:]][modelID] ?? Row()
                row.patients += 1
                row.falseAlerts += falseAlerts[modelID] ?? 0
                row.quietMinutes += onset ?? (lastMinute + 1)
                if let minutes = first[modelID] {
                    row.alerted += 1
                    row.firstMinutes.append(minutes)
                    if let onset, let news2Medium { row.leadMinutes.append(news2Medium - onset - minutes) }
                }
                table[scenario, default: [:]][modelID] = row
            }
        }
        func median(_ values: [Int]) -> Any { values.sorted().dropFirst(values.count / 2).first as Any }
        var output: [String: Any] = [:]
        for (scenario, rows) in table {
            output[scenario] = rows.mapValues { row in
                ["patients": row.patients, "alerted": row.alerted, "first_alert_minutes_median": median(row.firstMinutes),
                 "lead_over_news2_medium_minutes_median": median(row.leadMinutes),
                 "false_alerts": row.falseAlerts, "quiet_minutes": row.quietMinutes] as [String: Any]
            }
        }
        try printJSON(output)
    }
}
