import VigilCore

/// Decides when to ask a device to resend a gap: the first gap of a boot, at most once per
/// `interval` per device, at most `maxSpan` readings at a time (the device answers from its ring
/// buffer, which holds far fewer), and at most `maxAttempts` times per gap: a device that no
/// longer holds the readings cannot fill it, and asking forever is noise. Pure.
public struct ResendScheduler: Sendable {
    public static let interval = Duration.seconds(5)
    public static let maxSpan: UInt32 = 256
    public static let maxAttempts = 3
    private var lastRequest: [DeviceID: Duration] = [:]
    private var attempts: [GapKey: Int] = [:]

    private struct GapKey: Hashable {
        let device: DeviceID
        let boot: UInt32
        let start: UInt32
    }

    public struct Request: Equatable, Sendable {
        public let boot: UInt32
        public let range: ClosedRange<UInt32>

        public init(boot: UInt32, range: ClosedRange<UInt32>) {
            self.boot = boot
            self.range = range
        }
    }

    public init() {}

    /// The resend to ask for now, given the device's gaps in `boot`, if any.
    public mutating func request(device: DeviceID, boot: UInt32, gaps: [ClosedRange<UInt32>], now: Duration) -> Request? {
        if let last = lastRequest[device], now - last < Self.interval { return nil }
        guard let gap = gaps.first(where: { attempts[GapKey(device: device, boot: boot, start: $0.lowerBound), default: 0] < Self.maxAttempts })
        else { return nil }
        let key = GapKey(device: device, boot: boot, start: gap.lowerBound)
        attempts[key, default: 0] += 1
        if attempts.count > 4_096 { attempts.removeAll() }
        lastRequest[device] = now
        let upper = gap.upperBound - gap.lowerBound >= Self.maxSpan ? gap.lowerBound + Self.maxSpan - 1 : gap.upperBound
        return Request(boot: boot, range: gap.lowerBound...upper)
    }
}
