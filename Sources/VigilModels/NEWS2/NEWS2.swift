/// NEWS2 (Royal College of Physicians, 2017), scored with integers only.
///
/// Inputs use the sensor protocol's fixed-point units: respiration and pulse in 0.1 /min, SpO2 in
/// 0.1 %, temperature in 0.01 °C, systolic pressure in whole mmHg.
///
/// Rounding rule: the chart is defined at whole numbers (rates, SpO2, pressure) and at 0.1 °C
/// (temperature). A finer reading is first rounded to the chart's resolution, half up
/// (90.5 /min → 91 → subscore 1; 38.05 °C → 38.1 °C → subscore 1), then looked up. This is
/// what a nurse reading the same device display to the chart's precision would do.
public enum NEWS2 {
    public enum Parameter: String, Sendable, CaseIterable, Comparable, Codable, CodingKeyRepresentable {
        case respiratoryRate = "rr"
        case spo2 = "spo2"
        case supplementalOxygen = "o2"
        case systolicBP = "sbp"
        case pulse = "hr"
        case consciousness = "consciousness"
        case temperature = "temp"

        public static func < (a: Parameter, b: Parameter) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public enum Consciousness: String, Sendable {
        /// Alert.
        case alert = "A"
        /// New confusion.
        case confusion = "C"
        case voice = "V"
        case pain = "P"
        case unresponsive = "U"
    }

    /// The RCP clinical response bands (Chart 4).
    public enum Risk: String, Sendable, Comparable, Codable {
        case low
        case lowMedium = "low-medium"
        case medium
        case high

        private var rank: Int {
            switch self {
            case .low: 0
            case .lowMedium: 1
            case .medium: 2
            case .high: 3
            }
        }

        public static func < (a: Risk, b: Risk) -> Bool { a.rank < b.rank }

        /// What the team should do, in the RCP's words.
        public var response: String {
            switch self {
            case .low: "ward-based response (routine or increased monitoring)"
            case .lowMedium: "urgent ward-based response"
            case .medium: "key threshold: urgent response"
            case .high: "urgent or emergency response"
            }
        }
    }

    /// The values at hand; `nil` means not measured (or not fresh).
    public struct Observation: Sendable, Equatable {
        public var respiratoryRate: Int?   // 0.1 /min
        public var spo2: Int?              // 0.1 %
        public var onOxygen: Bool?
        public var systolicBP: Int?        // mmHg
        public var pulse: Int?             // 0.1 /min
        public var consciousness: Consciousness?
        public var temperature: Int?       // 0.01 °C
        /// Scale 2 only for patients with a prescribed 88–92 % target.
        public var spo2Scale2 = false

        public init() {}
    }

    public struct Score: Sendable, Equatable {
        public let total: Int
        public let risk: Risk
        public let subscores: [Parameter: Int]
        /// Parameters that were not available; the total is a lower bound when this is not empty.
        public let missing: [Parameter]
    }

    public static func score(_ observation: Observation) -> Score {
        var subscores: [Parameter: Int] = [:]
        if let value = observation.respiratoryRate { subscores[.respiratoryRate] = respiration(roundTenths(value)) }
        if let value = observation.spo2 {
            subscores[.spo2] = observation.spo2Scale2
                ? saturationScale2(roundTenths(value), onOxygen: observation.onOxygen ?? false)
                : saturationScale1(roundTenths(value))
        }
        if let oxygen = observation.onOxygen { subscores[.supplementalOxygen] = oxygen ? 2 : 0 }
        if let value = observation.systolicBP { subscores[.systolicBP] = systolic(value) }
        if let value = observation.pulse { subscores[.pulse] = pulse(roundTenths(value)) }
        if let level = observation.consciousness { subscores[.consciousness] = level == .alert ? 0 : 3 }
        if let value = observation.temperature { subscores[.temperature] = temperature(roundHundredthsToTenths(value)) }
        let total = subscores.values.reduce(0, +)
        let risk: Risk = total >= 7 ? .high : total >= 5 ? .medium : subscores.values.contains(3) ? .lowMedium : .low
        let missing = Parameter.allCases.filter { subscores[$0] == nil }
        return Score(total: total, risk: risk, subscores: subscores, missing: missing)
    }

    // MARK: Rounding (half up) to the chart's resolution

    /// 0.1-unit fixed point to whole units.
    static func roundTenths(_ value: Int) -> Int { value >= 0 ? (value + 5) / 10 : -((-value + 5) / 10) }
    /// 0.01 °C to 0.1 °C.
    static func roundHundredthsToTenths(_ value: Int) -> Int { value >= 0 ? (value + 5) / 10 : -((-value + 5) / 10) }

    // MARK: Chart 1 (whole units; temperature in 0.1 °C)

    static func respiration(_ rate: Int) -> Int {
        switch rate {
        case ...8: 3
        case 9...11: 1
        case 12...20: 0
        case 21...24: 2
        default: 3
        }
    }

    static func saturationScale1(_ percent: Int) -> Int {
        switch percent {
        case ...91: 3
        case 92...93: 2
        case 94...95: 1
        default: 0
        }
    }

    static func saturationScale2(_ percent: Int, onOxygen: Bool) -> Int {
        if percent <= 83 { return 3 }
        if percent <= 85 { return 2 }
        if percent <= 87 { return 1 }
        // 88–92 scores 0, and so does anything higher on air: the target range is 88–92 %.
        if percent <= 92 || !onOxygen { return 0 }
        if percent <= 94 { return 1 }
        if percent <= 96 { return 2 }
        return 3
    }

    static func systolic(_ pressure: Int) -> Int {
        switch pressure {
        case ...90: 3
        case 91...100: 2
        case 101...110: 1
        case 111...219: 0
        default: 3
        }
    }

    static func pulse(_ rate: Int) -> Int {
        switch rate {
        case ...40: 3
        case 41...50: 1
        case 51...90: 0
        case 91...110: 1
        case 111...130: 2
        default: 3
        }
    }

    static func temperature(_ tenths: Int) -> Int {
        switch tenths {
        case ...350: 3
        case 351...360: 1
        case 361...380: 0
        case 381...390: 1
        default: 2
        }
    }
}
