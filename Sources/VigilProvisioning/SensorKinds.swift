/// The kinds of sensor `vigil sensor add --kind` knows, and the channels each sends (what the
/// gateway accepts from it; `--channels` overrides).
public enum SensorKinds {
    public static let channels: [String: [String]] = [
        "spo2-ring": ["pr", "spo2", "pi", "activity", "battery"],
        "vitals-patch": ["hr", "rr", "skin_temp", "core_temp", "spo2", "sbp", "pi", "activity", "battery"],
        "bp-cuff": ["sbp", "dbp", "pr", "battery"],
        "thermometer": ["core_temp", "battery"],
    ]

    public static var names: String { channels.keys.sorted().joined(separator: ", ") }
}
