/// Capped exponential backoff with jitter, shared by every reconnect and retry loop.
///
/// Pure: the random source is passed in, so tests pin it. Delays are whole milliseconds.
public struct Backoff: Sendable, Equatable {
    public enum Jitter: Sendable, Equatable {
        /// Uniform in `0...ceiling` (AWS "full jitter"): best for many clients hitting one server.
        case full
        /// Uniform in `ceiling/2...ceiling`: never retries immediately, still spreads clients out.
        case equal
    }

    public var initialMilliseconds: Int64
    public var maximumMilliseconds: Int64
    public var jitter: Jitter

    public init(initialMilliseconds: Int64, maximumMilliseconds: Int64, jitter: Jitter = .equal) {
        precondition(initialMilliseconds > 0 && maximumMilliseconds >= initialMilliseconds)
        self.initialMilliseconds = initialMilliseconds
        self.maximumMilliseconds = maximumMilliseconds
        self.jitter = jitter
    }

    /// The exponential ceiling for `attempt` (0-based): `initial * 2^attempt`, capped at `maximum`.
    public func ceiling(attempt: Int) -> Int64 {
        // Shifting past the cap's bit width would overflow; 62 bits is beyond any sane maximum.
        let shift = min(max(attempt, 0), 62)
        let (scaled, overflow) = initialMilliseconds.multipliedReportingOverflow(by: Int64(1) << shift)
        return overflow ? maximumMilliseconds : min(scaled, maximumMilliseconds)
    }

    /// The delay before retry number `attempt` (0-based), jittered below the ceiling.
    public func delayMilliseconds(attempt: Int, using random: inout some RandomNumberGenerator) -> Int64 {
        let top = ceiling(attempt: attempt)
        switch jitter {
        case .full:
            return Int64.random(in: 0...top, using: &random)
        case .equal:
            return top / 2 + Int64.random(in: 0...(top - top / 2), using: &random)
        }
    }
}
