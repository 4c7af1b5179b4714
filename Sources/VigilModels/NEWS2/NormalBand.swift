import VigilCore

/// Whether a vital is outside NEWS2's normal band (a subscore of 1 or more on its own), and on
/// which side: the per-vital interpretation `H` / `L`, and what keeps a reading out of a minute
/// rollup. SpO2 is judged on scale 1 (the uplink does not know a patient's prescribed target).
public enum NormalBand {
    public enum Side: Sendable { case low, high }

    public static func judge(_ channel: Channel, _ raw: Int16) -> Side? {
        var observation = NEWS2.Observation()
        let value = Int(raw)
        let middle: Int
        switch channel {
        case .respiratoryRate: observation.respiratoryRate = value; middle = 160
        case .spo2: observation.spo2 = value; middle = 1_001
        case .systolicBP: observation.systolicBP = value; middle = 165
        case .pulseRate, .heartRate: observation.pulse = value; middle = 705
        case .coreTemperature: observation.temperature = value; middle = 3_705
        default: return nil
        }
        guard NEWS2.score(observation).subscores.values.contains(where: { $0 > 0 }) else { return nil }
        return value > middle ? .high : .low
    }
}
