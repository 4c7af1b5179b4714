/// Two-sided CUSUM drift detector for one vital, in units of the baseline's standard deviation,
/// with integers only.
///
/// Classic form: `S⁺ = max(0, S⁺ + (x − μ)/σ − k)`, alarm when `S⁺ > h` (and the mirror for
/// downward drift). Multiplying through by σ removes the division: the sums are kept in value
/// units (Q8), `S⁺ = max(0, S⁺ + (x − μ) − k·σ)`, alarm when `S⁺ > h·σ`. σ comes from the
/// variance by an integer square root. `k` and `h` are Q8 (0.5 → 128, 5 → 1280).
public struct CUSUM: Sendable, Equatable, Codable {
    public enum Signal: Sendable, Equatable { case none, upward, downward }

    public let kQ8: Int64
    public let hQ8: Int64
    /// Each reading's deviation is clamped to ± this many σ (Q8) before it is added, so one wild
    /// reading cannot signal on its own (a robust, "Huberized" CUSUM); `nil`: no clamp.
    public let limitQ8: Int64?
    /// Q8 of value units.
    public private(set) var upper: Int64 = 0
    public private(set) var lower: Int64 = 0

    public init(kQ8: Int = 128, hQ8: Int = 1_280, limitQ8: Int? = nil) {
        precondition(kQ8 >= 0 && hQ8 > 0 && (limitQ8 ?? 1) > 0)
        self.kQ8 = Int64(kQ8)
        self.hQ8 = Int64(hQ8)
        self.limitQ8 = limitQ8.map(Int64.init)
    }

    /// Feeds one reading against the in-control reference (`meanQ16`, `varianceQ16` from an
    /// ``EWMABaseline`` frozen or slowed for the purpose). After a signal the sums restart.
    public mutating func update(_ value: Int, meanQ16: Int64, varianceQ16: Int64) -> Signal {
        let sigmaQ8 = Int64(Self.squareRoot(UInt64(max(varianceQ16, 0))))   // √(Q16) = Q8
        var deviationQ8 = ((Int64(value) << 16) - meanQ16) >> 8
        if let limitQ8 {
            let limit = (limitQ8 * sigmaQ8) >> 8
            deviationQ8 = min(max(deviationQ8, -limit), limit)
        }
        let slack = (kQ8 * sigmaQ8) >> 8
        let threshold = (hQ8 * sigmaQ8) >> 8
        upper = max(0, EWMABaseline.saturatingAdd(upper, deviationQ8 - slack))
        lower = max(0, EWMABaseline.saturatingAdd(lower, -deviationQ8 - slack))
        if upper > threshold {
            upper = 0
            lower = 0
            return .upward
        }
        if lower > threshold {
            upper = 0
            lower = 0
            return .downward
        }
        return .none
    }

    /// ⌊√n⌋ by Newton's method on integers.
    static func squareRoot(_ n: UInt64) -> UInt64 {
        guard n > 1 else { return n }
        var x = UInt64(1) << ((64 - n.leadingZeroBitCount) / 2 + 1)
        while true {
            let y = (x + n / x) / 2
            if y >= x { return x }
            x = y
        }
    }
}

/// Rate of change over a window: the newest reading minus the one `window` readings earlier, in
/// value units (the caller knows its sampling interval and turns this into a rate per minute).
public struct RateOfChange: Sendable, Equatable {
    public let window: Int
    private var history: [Int] = []
    /// Once full: the slot holding the oldest reading, overwritten next.
    private var next = 0

    public init(window: Int) {
        precondition(window >= 1)
        self.window = window
    }

    /// Adds a reading; returns `newest − reading window ago` once enough readings are held.
    public mutating func update(_ value: Int) -> Int? {
        if history.count < window + 1 {
            history.append(value)
            return history.count == window + 1 ? value - history[0] : nil
        }
        history[next] = value
        next = (next + 1) % history.count
        return value - history[next]
    }
}
