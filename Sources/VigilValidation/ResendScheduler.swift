import VigilCore

/// Decides when to ask a device to resend a gap, and when to give the gap up: the first gap of a
/// boot, at most once per `interval` per device, at most `maxSpan` readings at a time, and at most
/// `maxAttempts` times per gap. A gap still open one interval after the last attempt is
/// abandoned: the device no longer holds those readings (or never sent them), and an ACK held
/// back for them forever would fill the device's ring and lose what it does hold. Pure.
///
/// A span larger than `maxSpan` is asked for from its upper end: a device's ring keeps its newest
/// readings, so those are the ones it may still have.
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

    public enum Action: Equatable, Sendable {
        /// Publish a RESEND for this range.
        case resend(Request)
        /// Stop waiting for this range: record it as missing and acknowledge past it.
        case abandon(boot: UInt32, range: ClosedRange<UInt32>)
    }

    public init() {}

    /// What to do now about the device's gaps in `boot` (ascending), if anything.
    public mutating func next(device: DeviceID, boot: UInt32, gaps: [ClosedRange<UInt32>], now: Duration) -> Action? {
        guard let gap = gaps.first else { return nil }
        if let last = lastRequest[device], now - last < Self.interval { return nil }
        let key = GapKey(device: device, boot: boot, start: gap.lowerBound)
        let made = attempts[key, default: 0]
        if made >= Self.maxAttempts {
            attempts[key] = nil
            return .abandon(boot: boot, range: gap)
        }
        attempts[key] = made + 1
        if attempts.count > 4_096 { attempts.removeAll() }
        lastRequest[device] = now
        let lower = gap.upperBound - gap.lowerBound >= Self.maxSpan ? gap.upperBound - (Self.maxSpan - 1) : gap.lowerBound
        return .resend(Request(boot: boot, range: lower...gap.upperBound))
    }
}
