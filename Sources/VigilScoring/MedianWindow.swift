import VigilModels

/// Values per key collected over one clock-aligned window, and their medians when it closes:
/// how NEWS2 and the quantized models see a wearable stream. Checkpointed with the patient.
struct MedianWindow<Key: Hashable & Codable & Sendable>: Codable, Equatable, Sendable {
    private var index: Int64 = .min
    private var samples: [Key: [Int]] = [:]

    /// Moves to the window holding `time` (`length` ms); when that closes a window with values,
    /// returns their medians and the closed window's last millisecond.
    mutating func advance(to time: Int64, length: Int64) -> (closedAt: Int64, medians: [Key: Int])? {
        let window = VitalDrift.floorDivide(time, length)
        guard window > index else { return nil }
        defer {
            index = window
            samples.removeAll(keepingCapacity: true)
        }
        guard !samples.isEmpty else { return nil }
        return ((index + 1) * length - 1, samples.mapValues(Self.median))
    }

    mutating func add(_ key: Key, _ value: Int) {
        samples[key, default: []].append(value)
    }

    /// The lower middle of an even count: always a value that was read.
    static func median(_ values: [Int]) -> Int {
        let sorted = values.sorted()
        return sorted[(sorted.count - 1) / 2]
    }
}
