/// Keeps a flapping condition from paging the team again and again: per patient and model, at
/// most `burst` raises within `windowMilliseconds`. A raise over the budget is still stored and
/// uploaded (nothing is lost), marked as not to be notified. Escalations and clears are never
/// limited: a patient getting worse must always reach someone. Pure; time is passed in.
public struct AlertRateLimiter: Sendable, Equatable, Codable {
    public let burst: Int
    public let windowMilliseconds: Int64
    private var raises: [String: [Int64]] = [:]

    public init(burst: Int = 3, windowMilliseconds: Int64 = 3_600_000) {
        precondition(burst >= 1 && windowMilliseconds > 0)
        self.burst = burst
        self.windowMilliseconds = windowMilliseconds
    }

    /// Whether a raise for `key` (patient and model) at `time` should notify.
    public mutating func allowRaise(_ key: String, at time: Int64) -> Bool {
        var recent = (raises[key] ?? []).filter { time - $0 < windowMilliseconds }
        defer { raises[key] = recent }
        guard recent.count < burst else { return false }
        recent.append(time)
        return true
    }
}
