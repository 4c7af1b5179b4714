/// Counts events over the last minute in twelve 5-second buckets: a rate that forgets an old
/// burst within a minute, in constant memory. Pure; time is passed in (Unix ms).
struct RateWindow: Sendable, Equatable {
    static let bucketMilliseconds: Int64 = 5_000
    static let buckets = 12
    private var counts = [UInt64](repeating: 0, count: RateWindow.buckets)
    /// The bucket number (time / width) each slot last counted for.
    private var slots = [Int64](repeating: -1, count: RateWindow.buckets)

    mutating func add(_ count: UInt64, at time: Int64) {
        let bucket = time / Self.bucketMilliseconds
        let slot = Int(bucket % Int64(Self.buckets))
        if slots[slot] != bucket {
            slots[slot] = bucket
            counts[slot] = 0
        }
        counts[slot] += count
    }

    /// Events in the minute ending at `time` (the current, partly elapsed bucket included).
    func lastMinute(at time: Int64) -> UInt64 {
        let current = time / Self.bucketMilliseconds
        var total: UInt64 = 0
        for slot in 0..<Self.buckets where slots[slot] > current - Int64(Self.buckets) && slots[slot] <= current {
            total += counts[slot]
        }
        return total
    }
}
