/// The settings a CONFIG frame carries (PROTOCOL.md, "CONFIG"): wire key, name and accepted range.
public enum ConfigKey: UInt8, Sendable, CaseIterable {
    case sampleIntervalMilliseconds = 1
    case channelMask = 2
    case batchMax = 3
    case jsonDebug = 4

    public var name: String {
        switch self {
        case .sampleIntervalMilliseconds: "sample_interval_ms"
        case .channelMask: "channel_mask"
        case .batchMax: "batch_max"
        case .jsonDebug: "json_debug"
        }
    }

    public var range: ClosedRange<Int64> {
        switch self {
        case .sampleIntervalMilliseconds: 1_000...3_600_000
        case .channelMask: Int64(Int32.min)...Int64(Int32.max)
        case .batchMax: 1...32
        case .jsonDebug: 0...1
        }
    }

    public init?(name: String) {
        guard let key = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = key
    }
}
