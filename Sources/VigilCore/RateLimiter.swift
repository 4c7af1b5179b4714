/// A per-key token bucket for log lines: a flood of identical events costs one line per interval,
/// and the line that gets through says how many were suppressed since the last one.
///
/// Pure and not thread-safe: the owner serialises access (the pipeline is one task).
public struct RateLimiter<Key: Hashable>: Sendable where Key: Sendable {
    public enum Decision: Equatable, Sendable {
        /// Emit the event; `suppressed` similar events were dropped since the last emitted one.
        case emit(suppressed: Int)
        case suppress
    }

    private struct Bucket: Sendable {
        var tokens: Int
        var refilledAt: Duration
        var suppressed: Int
    }

    public let burst: Int
    public let interval: Duration
    /// Bounds memory when keys are attacker-chosen (e.g. device ids from unprovisioned senders).
    public let maxKeys: Int
    private var buckets: [Key: Bucket] = [:]

    /// - Parameters:
    ///   - burst: events allowed at once per key; one token comes back every `interval`.
    public init(burst: Int = 5, interval: Duration = .seconds(60), maxKeys: Int = 1024) {
        precondition(burst > 0 && interval > .zero && maxKeys > 0)
        self.burst = burst
        self.interval = interval
        self.maxKeys = maxKeys
    }

    /// Decides for one event of `key` at monotonic time `now`.
    public mutating func check(_ key: Key, now: Duration) -> Decision {
        if buckets[key] == nil, buckets.count >= maxKeys {
            // Forget everything rather than grow: losing suppression counts beats unbounded memory.
            buckets.removeAll(keepingCapacity: true)
        }
        var bucket = buckets[key] ?? Bucket(tokens: burst, refilledAt: now, suppressed: 0)
        let elapsed = now - bucket.refilledAt
        if elapsed >= interval {
            let refills = Int(min(elapsed / interval, Double(burst)))
            bucket.tokens = min(burst, bucket.tokens + refills)
            bucket.refilledAt = now
        }
        let decision: Decision
        if bucket.tokens > 0 {
            bucket.tokens -= 1
            decision = .emit(suppressed: bucket.suppressed)
            bucket.suppressed = 0
        } else {
            bucket.suppressed += 1
            decision = .suppress
        }
        buckets[key] = bucket
        return decision
    }
}
