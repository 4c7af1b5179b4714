import Foundation
import VigilCore
import VigilModels

/// `vigil score`: replays JSON Lines of observations through NEWS2 and the alert lifecycle.
///
/// A parameter absent from a line is carried forward from the same patient's earlier lines only
/// while it is fresh (`freshness`). Values become fixed point at this boundary (half up: 0.1 for
/// rates and SpO2, 0.01 °C for temperature), so the scoring itself sees integers only.
public struct ScoreSession {
    public struct LineError: Error, Equatable, CustomStringConvertible {
        public let line: Int
        public let key: String?
        public let problem: String
        public var description: String { "line \(line): " + (key.map { "\($0): " } ?? "") + problem }
    }

    private struct Patient {
        var latest: [NEWS2.Parameter: (value: Int, time: Int64)] = [:]
        var consciousness: (value: NEWS2.Consciousness, time: Int64)?
        var oxygen: (value: Bool, time: Int64)?
        var scale2 = false
        var tracker: NEWS2AlertTracker
    }

    public let freshnessMilliseconds: Int64
    public let clearAfter: Int
    private var patients: [String: Patient] = [:]
    private let fractionalTime = ISO8601DateFormatter()
    private let wholeTime = ISO8601DateFormatter()

    public init(freshnessMinutes: Int = 60, clearAfter: Int = 2) {
        freshnessMilliseconds = Int64(freshnessMinutes) * 60_000
        self.clearAfter = clearAfter
        fractionalTime.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        wholeTime.formatOptions = [.withInternetDateTime]
    }

    /// Numeric inputs: key, parameter, decimals kept, accepted range in those units.
    private static let numeric: [(key: String, parameter: NEWS2.Parameter?, scale: Int, range: ClosedRange<Int>, text: String)] = [
        ("hr", .pulse, 1, 0...4_000, "0 to 400"),
        ("rr", .respiratoryRate, 1, 0...1_000, "0 to 100"),
        ("spo2", .spo2, 1, 0...1_000, "0 to 100"),
        ("temp", .temperature, 2, 2_000...4_500, "20 to 45 (°C)"),
        ("sbp", .systolicBP, 0, 0...400, "0 to 400"),
        ("dbp", nil, 0, 0...300, "0 to 300"),
    ]
    private static let knownKeys: Set<String> = ["patient", "time", "hr", "rr", "spo2", "temp", "sbp", "dbp", "o2", "consciousness", "spo2_scale"]

    /// Scores one input line; returns the output JSON line, or why the line was refused (the
    /// patient's state is then unchanged).
    public mutating func process(_ text: String, line: Int) -> Result<String, LineError> {
        func fail(_ key: String?, _ problem: String) -> Result<String, LineError> { .failure(LineError(line: line, key: key, problem: problem)) }
        let fields: [String: FlatJSON.Value]
        do {
            fields = try FlatJSON.parse(text)
        } catch {
            return fail(nil, "not a JSON object: \(error)")
        }
        if let unknown = fields.keys.filter({ !Self.knownKeys.contains($0) }).sorted().first {
            return fail(unknown, "unknown key (expected patient, time, hr, rr, spo2, temp, sbp, dbp, o2, consciousness, spo2_scale)")
        }
        guard case .string(let patientID)? = fields["patient"], !patientID.isEmpty else {
            return fail("patient", "expected a non-empty string")
        }
        guard case .string(let timeText)? = fields["time"], let time = parseTime(timeText) else {
            return fail("time", "expected an RFC 3339 timestamp such as \"2026-11-22T08:00:00Z\"")
        }
        var patient = patients[patientID] ?? Patient(tracker: NEWS2AlertTracker(clearAfter: clearAfter))
        for spec in Self.numeric {
            guard let value = fields[spec.key], value != .null else { continue }
            guard case .number(let number) = value, let fixed = fixedPoint(number, scale: spec.scale), spec.range.contains(fixed) else {
                return fail(spec.key, "expected a number from \(spec.text)")
            }
            if let parameter = spec.parameter { patient.latest[parameter] = (fixed, time) }
        }
        switch fields["o2"] {
        case nil, .null?: break
        case .bool(let onOxygen)?: patient.oxygen = (onOxygen, time)
        default: return fail("o2", "expected true (on supplemental oxygen) or false (air)")
        }
        switch fields["consciousness"] {
        case nil, .null?: break
        case .string(let level)?:
            guard let parsed = NEWS2.Consciousness(rawValue: level) else { return fail("consciousness", "expected \"A\", \"C\", \"V\", \"P\" or \"U\"") }
            patient.consciousness = (parsed, time)
        default: return fail("consciousness", "expected \"A\", \"C\", \"V\", \"P\" or \"U\"")
        }
        switch fields["spo2_scale"] {
        case nil, .null?: break
        case .number("1")?: patient.scale2 = false
        case .number("2")?: patient.scale2 = true
        default: return fail("spo2_scale", "expected 1 or 2")
        }

        let window = freshnessMilliseconds
        let fresh = { (at: Int64) in at <= time && time - at <= window }
        var observation = NEWS2.Observation()
        observation.spo2Scale2 = patient.scale2
        func carried(_ parameter: NEWS2.Parameter) -> Int? { patient.latest[parameter].flatMap { fresh($0.time) ? $0.value : nil } }
        observation.pulse = carried(.pulse)
        observation.respiratoryRate = carried(.respiratoryRate)
        observation.spo2 = carried(.spo2)
        observation.temperature = carried(.temperature)
        observation.systolicBP = carried(.systolicBP)
        observation.onOxygen = patient.oxygen.flatMap { fresh($0.time) ? $0.value : nil }
        observation.consciousness = patient.consciousness.flatMap { fresh($0.time) ? $0.value : nil }
        let score = NEWS2.score(observation)
        let event = patient.tracker.update(score, at: time)
        patients[patientID] = patient

        var output: [String: Any] = [
            "patient": patientID, "time": timeText,
            "news2": [
                "total": score.total, "risk": score.risk.rawValue,
                "parameters": Dictionary(uniqueKeysWithValues: score.subscores.map { ($0.key.rawValue, $0.value) }),
                "missing": score.missing.map(\.rawValue),
            ] as [String: Any],
        ]
        output["alerts"] = event.map { [(try? JSONSerialization.jsonObject(with: Data(AlertJSON.event($0).jsonBytes))) ?? [:]] } ?? []
        let data = (try? JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])) ?? Data()
        return .success(String(decoding: data, as: UTF8.self))
    }

    func parseTime(_ text: String) -> Int64? {
        guard let date = fractionalTime.date(from: text) ?? wholeTime.date(from: text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1_000).rounded())
    }
}
