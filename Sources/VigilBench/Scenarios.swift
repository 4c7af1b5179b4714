import ArgumentParser
import Foundation
import VigilAgent
import VigilCore
import VigilModels
import VigilStore
import VigilScoring

/// Runs the realistic simulator's patients (tools/models/scenarios.py, JSON lines) through the
/// agent's scoring as the agent runs it (signal quality, NEWS2 on wearable windows with
/// persistence, time-of-day drift, the quantized models, the rate limiter), with each patient's
/// clinical settings, and reports per scenario and model: notified raises on patients who are
/// not deteriorating (per patient-week observed), and for deteriorations the patients alerted
/// after onset, minutes from onset to the first notified alert and its lead over aggregated
/// NEWS2 reaching 5 (the RCP's urgent-response threshold) (JSON on stdout).
struct Scenarios: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Alerts per simulated cohort and model.")

    @Option(help: "Patients (tools/models/scenarios.py output, one JSON object per line).") var input: String
    @Option(help: "Quantized model files to load.") var model: [String] = ["config/models/deterioration-lr.json"]

    private struct Row: Codable {
        var patients = 0
        var alerted = 0
        var firstMinutes: [Int] = []
        var leadMinutes: [Int] = []
        var raises = 0
        var quietMinutes = 0
        var patientsWithRaises = 0
    }

    /// Any model: the team is alerted when any of them notifies.
    static let any = "any"

    func run() throws {
        let models = try model.map { try QuantizedModel(json: Data(contentsOf: URL(fileURLWithPath: $0))) }
        let modelIDs = [NEWS2AlertTracker.model, "drift"] + models.map(\.model) + [Self.any]
        var table: [String: [String: Row]] = [:]
        let text = try String(contentsOfFile: input, encoding: .utf8)
        for line in text.split(separator: "\n") {
            let patient = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let scenario = patient["scenario"] as! String
            let outcome = evaluate(patient, models: models)
            for modelID in modelIDs {
                var row = table[scenario, default: [:]][modelID] ?? Row()
                row.patients += 1
                row.raises += outcome.raises[modelID] ?? 0
                if (outcome.raises[modelID] ?? 0) > 0 { row.patientsWithRaises += 1 }
                row.quietMinutes += outcome.quietMinutes
                if let minutes = outcome.first[modelID] {
                    row.alerted += 1
                    row.firstMinutes.append(minutes)
                    if let reference = outcome.news2Medium { row.leadMinutes.append(reference - minutes) }
                }
                table[scenario, default: [:]][modelID] = row
            }
        }
        func median(_ values: [Int]) -> Any { values.sorted().dropFirst((values.count - 1) / 2).first as Any }
        var output: [String: Any] = [:]
        for (scenario, rows) in table {
            output[scenario] = rows.mapValues { row in
                ["patients": row.patients, "alerted": row.alerted, "first_alert_minutes_median": median(row.firstMinutes),
                 "lead_over_news2_5_minutes_median": median(row.leadMinutes), "raises_before_onset": row.raises,
                 "patients_with_raises": row.patientsWithRaises, "quiet_minutes": row.quietMinutes] as [String: Any]
            }
        }
        try printJSON(output)
    }

    private struct Outcome {
        /// Notified raises while the patient was not deteriorating, per model.
        var raises: [String: Int] = [:]
        /// Minutes from onset to the first notified raise or escalation, per model.
        var first: [String: Int] = [:]
        /// Minutes from onset until aggregated NEWS2 first reached 5.
        var news2Medium: Int?
        var quietMinutes = 0
    }

    private func evaluate(_ patient: [String: Any], models: [QuantizedModel]) -> Outcome {
        let start: Int64 = 1_795_046_400_000   // a UTC midnight: the simulator's clock starts at 00:00
        let onset = (patient["onset_seconds"] as? Int).map { $0 / 60 }
        let name = "Patient/\(patient["scenario"] as! String)-\(patient["seed"] as! Int)"
        var scorer = ReadingScorer(models: models)
        // The reference: NEWS2 on the same windows without persistence, for "aggregated NEWS2 ≥ 5".
        var reference = ReadingScorer(models: [], settings: {
            var settings = ScoringSettings()
            settings.news2RaiseAfter = 1
            settings.drift = false
            return settings
        }())
        var clinical = ClinicalSettings(patient: name)
        if let scale = (patient["settings"] as? [String: Any])?["spo2_scale"] as? Int, scale == 2 {
            clinical.spo2Scale = 2
            clinical.spo2Target = "88-92"
        }
        clinical.version = 1
        scorer.apply(clinical)
        reference.apply(clinical)
        var outcome = Outcome()
        var lastMinute = 0
        for (index, entry) in (patient["readings"] as! [[Any]]).enumerated() {
            let seconds = entry[0] as! Int
            let minute = seconds / 60
            lastMinute = minute
            let values = (entry[1] as! [[Int]]).map { StoredReading.Value(channel: Channel(rawValue: UInt8($0[0]))!, raw: Int16($0[1])) }
            let reading = StoredReading(seq: UInt32(index), time: start + Int64(seconds) * 1_000, deviceTime: 0, values: values)
            var batch = ReadingBatch(device: "wearable", patient: name, boot: 1, timeQuality: .device, receivedAt: 0, readings: [reading])
            var copy = batch
            for (_, alert) in reference.score(&copy) where outcome.news2Medium == nil {
                if let onset, minute >= onset, alert.event.kind == .raise || alert.event.kind == .escalate,
                   ["medium", "high"].contains(alert.event.risk) {
                    outcome.news2Medium = minute - onset
                }
            }
            for (modelID, alert) in scorer.score(&batch) {
                let kind = alert.event.kind
                guard kind == .raise || kind == .escalate, alert.event.notify == true else { continue }
                if let onset, minute >= onset {
                    if outcome.first[modelID] == nil { outcome.first[modelID] = minute - onset }
                    if outcome.first[Self.any] == nil { outcome.first[Self.any] = minute - onset }
                } else if kind == .raise {
                    outcome.raises[modelID, default: 0] += 1
                    outcome.raises[Self.any, default: 0] += 1
                }
            }
        }
        outcome.quietMinutes = onset ?? (lastMinute + 1)
        return outcome
    }
}
