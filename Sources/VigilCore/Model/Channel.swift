/// A measurement channel: its wire id, JSON key, UCUM unit, fixed-point scale and the range the
/// gateway accepts (PROTOCOL.md, "Channels"). Values travel as i16; `decoded = value / divisor`.
public enum Channel: UInt8, Sendable, CaseIterable, Comparable {
    case heartRate = 1
    case pulseRate = 2
    case spo2 = 3
    case respiratoryRate = 4
    case skinTemperature = 5
    case coreTemperature = 6
    case systolicBP = 7
    case diastolicBP = 8
    case perfusionIndex = 9
    case activity = 10
    case battery = 11
    case rssi = 12

    public static func < (a: Channel, b: Channel) -> Bool { a.rawValue < b.rawValue }

    public var key: String {
        switch self {
        case .heartRate: "hr"
        case .pulseRate: "pr"
        case .spo2: "spo2"
        case .respiratoryRate: "rr"
        case .skinTemperature: "skin_temp"
        case .coreTemperature: "core_temp"
        case .systolicBP: "sbp"
        case .diastolicBP: "dbp"
        case .perfusionIndex: "pi"
        case .activity: "activity"
        case .battery: "battery"
        case .rssi: "rssi"
        }
    }

    public init?(key: String) {
        guard let channel = Channel.allCases.first(where: { $0.key == key }) else { return nil }
        self = channel
    }

    /// UCUM unit of the decoded value.
    public var unit: String {
        switch self {
        case .heartRate, .pulseRate, .respiratoryRate: "/min"
        case .spo2, .perfusionIndex, .battery: "%"
        case .skinTemperature, .coreTemperature: "Cel"
        case .systolicBP, .diastolicBP: "mm[Hg]"
        case .activity: "m[g]"
        case .rssi: "dB[mW]"
        }
    }

    /// Encoded units per decoded unit: 10 for 0.1 resolution, 100 for 0.01, 1 for whole units.
    public var divisor: Int16 {
        switch self {
        case .heartRate, .pulseRate, .spo2, .respiratoryRate: 10
        case .skinTemperature, .coreTemperature, .perfusionIndex: 100
        case .systolicBP, .diastolicBP, .activity, .battery, .rssi: 1
        }
    }

    /// Accepted encoded values (physiologically or physically plausible).
    public var accepted: ClosedRange<Int16> {
        switch self {
        case .heartRate, .pulseRate: 200...3000
        case .spo2: 500...1000
        case .respiratoryRate: 20...800
        case .skinTemperature: 1500...4500
        case .coreTemperature: 2500...4500
        case .systolicBP: 40...300
        case .diastolicBP: 20...200
        case .perfusionIndex: 0...2000
        case .activity: 0...16000
        case .battery: 0...100
        case .rssi: -120...0
        }
    }
}
