import ArgumentParser
import Foundation
import VigilCore
import VigilScoring

/// Runs tools/models/technical_scenarios.py's patients through the scorer's technical monitor at
/// its defaults, in simulated time with the pipeline's 10-second clock tick and the gateway's
/// facts (broker, uplink) as each scenario scripts them. Reports per scenario: for stable
/// cohorts the technical alerts notified (false alerts: nothing was wrong but daily life) and
/// recorded at low priority, per patient-week; for each condition the patients in which its
/// condition was recorded and notified, the minutes from the condition to each, and the other
/// technical conditions notified meanwhile (JSON on stdout).
struct TechnicalScenarios: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Technical alerts per simulated condition.")

    @Option(help: "Patients (tools/models/technical_scenarios.py output, one JSON object per line).") var input: String
    @Option(help: "Override technical.not_worn_notify_after_seconds (to compare with the default).") var notWornNotifyAfter: Int?

    /// The condition each scenario must raise, and whether at its defaults it must notify.
    static let expected: [String: (condition: String, notify: Bool)] = [
        "battery_flat": ("no_data", true), "taken_off_20": ("not_worn", false), "taken_off_60": ("not_worn", true),
        "out_of_range": ("no_data", true), "wifi_lost_20": ("no_data", true), "broker_down_10": ("broker_down", true),
        "gateway_offline_2h": ("uplink_down", true),
    ]

    private struct Row {
        var patients = 0
        var minutes = 0
        var recorded: [Int] = []
        var notified: [Int] = []
        var otherNotified: [String: Int] = [:]
        var lowPriority = 0
        var batteryLead: [Int] = []
        var causeNamed = 0
    }

    func run() throws {
        var rows: [String: Row] = [:]
        for line in try String(contentsOfFile: input, encoding: .utf8).split(separator: "\n") {
            let patient = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let scenario = patient["scenario"] as! String
            var row = rows[scenario] ?? Row()
            evaluate(patient, scenario: scenario, into: &row)
            rows[scenario] = row
        }
        func median(_ values: [Int]) -> Any { values.sorted().dropFirst((values.count - 1) / 2).first as Any }
        var output: [String: Any] = [:]
        for (scenario, row) in rows {
            var entry: [String: Any] = ["patients": row.patients, "patient_weeks": Double(row.minutes) / (7 * 1_440),
                                        "other_notified": row.otherNotified, "low_priority": row.lowPriority]
            if let expected = Self.expected[scenario] {
                entry["condition"] = expected.condition
                entry["must_notify"] = expected.notify
                entry["recorded"] = row.recorded.count
                entry["notified"] = row.notified.count
                entry["recorded_minutes_median"] = median(row.recorded)
                entry["recorded_minutes_max"] = row.recorded.max() as Any
                entry["notified_minutes_median"] = median(row.notified)
                entry["notified_minutes_max"] = row.notified.max() as Any
                entry["cause_named"] = row.causeNamed
                if scenario == "battery_flat" { entry["battery_low_lead_minutes_median"] = median(row.batteryLead) }
            }
            output[scenario] = entry
        }
        try printJSON(output)
    }

    private func evaluate(_ patient: [String: Any], scenario: String, into row: inout Row) {
        let start: Int64 = 1_795_046_400_000   // a UTC midnight: the simulator's clock starts at 00:00
        let days = patient["days"] as! Int
        let condition = (patient["condition_seconds"] as? Int).map { start + Int64($0) * 1_000 }
        let brokerDown = (patient["broker_down"] as? [Int]).map { (start + Int64($0[0]) * 1_000, start + Int64($0[1]) * 1_000) }
        let uplinkDown = (patient["uplink_down"] as? [Int]).map { (start + Int64($0[0]) * 1_000, start + Int64($0[1]) * 1_000) }
        let name = "Patient/\(scenario)-\(patient["seed"] as! Int)"
        var settings = ScoringSettings()
        settings.drift = false
        if let notWornNotifyAfter { settings.technical.notWornNotifyAfter = notWornNotifyAfter }
        var scorer = ReadingScorer(models: [], settings: settings)
        let assigned: [String: (patient: String, kind: String?)] = ["ring": (name, "spo2-ring")]
        var events: [AlertEntry] = []
        func facts(at now: Int64) -> GatewayFacts {
            var facts = GatewayFacts()
            if let (from, to) = brokerDown, from <= now, now < to {
                facts.brokerConnected = false
                facts.brokerDownSince = from
            }
            if let (from, to) = uplinkDown, from <= now, now < to { facts.uplinkFailingSince = from }
            return facts
        }
        let end = start + Int64(days) * 86_400_000
        var nextTick = start + 10_000
        func tick(until time: Int64) {
            while nextTick <= time {
                // As GatewayWatch reports it: listening since the start, or since the broker came back.
                let listening = brokerDown.map { nextTick >= $0.1 ? $0.1 : start } ?? start
                events += scorer.tick(now: nextTick, assigned: assigned, facts: facts(at: nextTick), listeningSince: listening).map(\.alert)
                nextTick += 10_000
            }
        }
        for (index, entry) in (patient["readings"] as! [[Any]]).enumerated() {
            let time = start + Int64(entry[0] as! Int) * 1_000
            tick(until: time)
            let values = (entry[1] as! [[Int]]).map { StoredReading.Value(channel: Channel(rawValue: UInt8($0[0]))!, raw: Int16($0[1])) }
            var batch = ReadingBatch(device: "ring", patient: name, boot: 1, timeQuality: .device, receivedAt: time + 400,
                                     readings: [StoredReading(seq: UInt32(index), time: time, deviceTime: 0, values: values)])
            events += scorer.score(&batch).map(\.alert)
        }
        tick(until: end)
        let technical = events.filter { $0.event.model == TechnicalCondition.model && ($0.event.kind == .raise || $0.event.kind == .escalate) }
        row.patients += 1
        row.minutes += days * 1_440
        row.lowPriority += technical.filter { $0.event.kind == .raise && $0.event.notify == false }.count
        let expected = Self.expected[scenario]
        for event in technical where event.event.notify == true && event.event.condition != expected?.condition
            && !(scenario == "battery_flat" && event.event.condition == "battery_low") {
            row.otherNotified[event.event.condition ?? "?", default: 0] += 1
        }
        guard let expected, let condition else { return }
        let after = technical.filter { $0.event.condition == expected.condition && $0.time >= condition }
        if let first = after.first {
            row.recorded.append(Int((first.time - condition) / 60_000))
            let summary = first.event.summary ?? ""
            if scenario == "battery_flat" && summary.contains("likely flat") || scenario == "out_of_range" && summary.contains("out of range")
                || !["battery_flat", "out_of_range"].contains(scenario) { row.causeNamed += 1 }
        }
        if let first = after.first(where: { $0.event.notify == true }) { row.notified.append(Int((first.time - condition) / 60_000)) }
        if scenario == "battery_flat", let low = technical.first(where: { $0.event.condition == "battery_low" }) {
            row.batteryLead.append(Int((condition - low.time) / 60_000))
        }
    }
}
