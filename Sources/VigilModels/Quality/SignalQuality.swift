/// How far a reading can be trusted, judged from the signal itself, per device. Integer-only.
///
/// Checks, each naming the channels it makes untrustworthy:
/// - **out of range**: a value the protocol accepts but that is physiologically implausible for
///   a live patient (SpO2 below 70 %, pulse below 30 or above 220 /min, respiration below 4 or
///   above 60 /min, core temperature below 33 or above 42 °C): that channel;
/// - **flat line**: zero where zero is not a reading (a detached sensor), or the same value
///   `flatLineCount` readings running on a channel that always varies a little in a live
///   patient (heart and pulse rate at 0.1 /min, perfusion index): that channel, and the reading
///   is unusable (a frozen or detached sensor);
/// - **dropout**: the reading follows a silence of more than `dropoutFactor` times the device's
///   usual interval (and at least a minute): everything in it is graded fair;
/// - **motion**: activity above `motionMilliG`: the optical channels (SpO2, pulse, heart rate,
///   perfusion index), which motion corrupts;
/// - **low perfusion**: perfusion index below `lowPerfusion` (0.01 %): SpO2 and pulse;
/// - **low battery**: battery at or below `lowBattery` %: nothing excluded, graded fair.
public struct SignalQuality: Sendable, Equatable, Codable {
    public enum Grade: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
        case good = 0, fair = 1, poor = 2, unusable = 3

        public static func < (a: Grade, b: Grade) -> Bool { a.rawValue < b.rawValue }
        public var description: String { ["good", "fair", "poor", "unusable"][rawValue] }
    }

    public enum Issue: String, Sendable, CaseIterable, Comparable {
        case outOfRange = "out_of_range"
        case flatLine = "flat_line"
        case dropout
        case motion
        case lowPerfusion = "low_perfusion"
        case lowBattery = "low_battery"

        public static func < (a: Issue, b: Issue) -> Bool { a.rawValue < b.rawValue }

        var grade: Grade {
            switch self {
            case .dropout, .lowBattery: .fair
            case .motion, .lowPerfusion, .outOfRange: .poor
            case .flatLine: .unusable
            }
        }
    }

    /// The verdict on one reading.
    public struct Assessment: Sendable, Equatable {
        public var grade: Grade = .good
        public var issues: Set<Issue> = []
        /// Channel wire ids whose values should not feed scores or alerts.
        public var excluded: Set<UInt8> = []

        public init() {}

        mutating func add(_ issue: Issue, excluding channels: [UInt8] = []) {
            issues.insert(issue)
            grade = max(grade, issue.grade)
            excluded.formUnion(channels)
        }
    }

    // Channel wire ids (PROTOCOL.md); VigilModels does not depend on the protocol module.
    static let heartRate: UInt8 = 1, pulseRate: UInt8 = 2, spo2: UInt8 = 3, respiration: UInt8 = 4
    static let coreTemperature: UInt8 = 6, perfusionIndex: UInt8 = 9, activity: UInt8 = 10, battery: UInt8 = 11
    static let optical: [UInt8] = [heartRate, pulseRate, spo2, perfusionIndex]
    /// Plausible live values in protocol units (0.1 /min, 0.1 %, 0.01 °C).
    static let plausible: [UInt8: ClosedRange<Int16>] = [
        heartRate: 300...2_200, pulseRate: 300...2_200, spo2: 700...1_000, respiration: 40...600, coreTemperature: 3_300...4_200,
    ]
    /// Channels for which an exact zero is a detached sensor, not a reading.
    static let zeroMeansDetached: Set<UInt8> = [heartRate, pulseRate, spo2, respiration, perfusionIndex]
    /// Channels whose value never holds perfectly still for long in a live patient. Not
    /// respiration: many sensors report it in whole breaths per minute, which can hold for
    /// minutes, and a flat line would make the whole reading unusable.
    static let alwaysVarying: Set<UInt8> = [heartRate, pulseRate, perfusionIndex]

    public var flatLineCount = 30
    public var dropoutFactor: Int64 = 5
    public var motionMilliG: Int16 = 1_500
    public var lowPerfusion: Int16 = 30
    public var lowBattery: Int16 = 10

    private var previousTime: Int64?
    private var usualInterval: Int64?
    private struct Run: Sendable, Equatable, Codable {
        var value: Int16
        var count: Int
    }

    private var runs: [UInt8: Run] = [:]

    public init() {}

    /// Judges one reading (`time` in Unix ms; `values` as (channel wire id, encoded value)).
    public mutating func assess(time: Int64, values: [(channel: UInt8, value: Int16)]) -> Assessment {
        var result = Assessment()
        if let previous = previousTime, time > previous {
            let interval = time - previous
            if let usual = usualInterval, interval > max(usual * dropoutFactor, 60_000) {
                result.add(.dropout)
            } else {
                // The usual interval follows the device's cadence (an EWMA), not its outages.
                usualInterval = usualInterval.map { ($0 * 7 + interval) / 8 } ?? interval
            }
        }
        if previousTime.map({ time > $0 }) ?? true { previousTime = time }

        for (channel, value) in values {
            let run = runs[channel].map { $0.value == value ? Run(value: value, count: $0.count + 1) : Run(value: value, count: 1) }
                ?? Run(value: value, count: 1)
            runs[channel] = run
            if (value == 0 && Self.zeroMeansDetached.contains(channel))
                || (run.count >= flatLineCount && Self.alwaysVarying.contains(channel)) {
                result.add(.flatLine, excluding: [channel])
            } else if let range = Self.plausible[channel], !range.contains(value) {
                result.add(.outOfRange, excluding: [channel])
            }
            switch channel {
            case Self.activity where value > motionMilliG:
                result.add(.motion, excluding: Self.optical)
            case Self.perfusionIndex where value < lowPerfusion:
                result.add(.lowPerfusion, excluding: [Self.spo2, Self.pulseRate, Self.heartRate])
            case Self.battery where value <= lowBattery:
                result.add(.lowBattery)
            default:
                break
            }
        }
        return result
    }
}
