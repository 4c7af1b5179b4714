import VigilCore

/// Maps device times to Unix milliseconds per (device, boot). Pure; time is passed in.
public struct ClockMapper: Sendable, Equatable, Codable {
    /// Synced device clocks further than this from the gateway's are flagged `suspect`.
    public static let tolerance: Int64 = 10 * 60 * 1_000

    /// Per boot: receive time minus device uptime, from the live frame with the smallest value
    /// (the one that spent least time in transit).
    private var offsets: [UInt32: Int64] = [:]

    public init() {}

    /// Learns from a frame (call before `map`), then maps one reading's time.
    public mutating func observe(boot: UInt32, deviceTime: UInt64, synced: Bool, replay: Bool, receivedAt: Int64) {
        guard !synced, !replay else { return }
        let offset = receivedAt - Int64(clamping: deviceTime)
        offsets[boot] = min(offsets[boot] ?? offset, offset)
        if offsets.count > SequenceTracker.bootsKept, let oldest = offsets.keys.min() { offsets.removeValue(forKey: oldest) }
    }

    /// The gateway's wall clock jumped by `delta` ms: every uptime offset moves with it, so a
    /// sensor that keeps running is mapped onto the clock's new time line at once (keeping the
    /// old minimum would leave it on the old one until the sensor or the agent restarts).
    public mutating func shift(by delta: Int64) {
        for boot in offsets.keys { offsets[boot]! += delta }
    }

    /// - Parameter gatewayTrusted: whether the gateway's own clock is synchronised. A synced
    ///   device is judged against it only then; otherwise the device's clock is the better one.
    public func map(boot: UInt32, deviceTime: UInt64, synced: Bool, receivedAt: Int64,
                    gatewayTrusted: Bool = true) -> (time: Int64, quality: TimeQuality) {
        let device = Int64(clamping: deviceTime)
        if synced {
            let skew = device - receivedAt
            return (device, gatewayTrusted && abs(skew) > Self.tolerance ? .suspect : .device)
        }
        guard let offset = offsets[boot] else { return (receivedAt, .unknown) }
        return (device + offset, .estimated)
    }
}
