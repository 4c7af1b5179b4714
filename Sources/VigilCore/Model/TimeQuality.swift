/// How far a reading's time can be trusted (carried with every reading to the hospital).
public enum TimeQuality: String, Sendable, Equatable, CaseIterable, Codable {
    /// From the device's synchronised clock.
    case device
    /// Device uptime mapped to wall time by the gateway (the least-delayed live frame's offset).
    case estimated
    /// The device's synchronised clock disagrees with the gateway's by more than the tolerance:
    /// the time is still the device's own clock, flagged.
    case suspect
    /// Replayed from a boot never seen live: only the gateway's receive time is known.
    case unknown

    /// The time is the device's own wall clock (`device` and `suspect`), not a mapped uptime.
    public var isDeviceClock: Bool { self == .device || self == .suspect }

    /// The store's one-byte code (docs/STORE.md): 0 device, 1 estimated, 2 suspect, 3 unknown.
    public var storeCode: UInt8 {
        switch self {
        case .device: 0
        case .estimated: 1
        case .suspect: 2
        case .unknown: 3
        }
    }

    public init?(storeCode: UInt8) {
        guard let quality = Self.allCases.first(where: { $0.storeCode == storeCode }) else { return nil }
        self = quality
    }
}
