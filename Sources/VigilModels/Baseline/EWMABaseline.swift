/// A per-patient, per-vital adaptive baseline: exponentially weighted mean and variance in fixed
/// point, with a warm-up and a z-score test that needs neither a square root nor a division.
///
/// Q format: inputs are the protocol's fixed-point integers (e.g. 0.1 /min). The mean is kept in
/// Q16 of those units (`value << 16`) and the variance in Q16 of squared units, both in `Int64`.
/// The smoothing factor is `alpha = 2^-shift`, so every update is shifts and adds (West's
/// incremental EWMA/EWMVar):
///
///     diff = x − mean;  incr = alpha · diff;  mean += incr;  var = (1 − alpha) · (var + diff · incr)
///
/// Truncating shifts lose at most one Q16 unit per step and old errors decay by (1 − alpha), so
/// the mean stays within `2^shift` Q16 units of the exact EWMA (tested against a floating-point
/// reference). Values saturate instead of wrapping: inputs are i16, so `diff` fits in 33 bits and
/// `diff · incr` is computed at full width and clamped.
public struct EWMABaseline: Sendable, Equatable, Codable {
    public static let fractionBits = 16

    public let shift: Int
    public let warmup: Int
    public private(set) var count = 0
    /// Q16.
    public private(set) var mean: Int64 = 0
    /// Q16 of squared units.
    public private(set) var variance: Int64 = 0

    /// - Parameters:
    ///   - shift: alpha = 2^-shift (5 → 1/32: about the last 32 readings weigh most).
    ///   - warmup: readings before the baseline is trusted.
    public init(shift: Int = 5, warmup: Int = 32) {
        precondition((1...20).contains(shift) && warmup >= 1)
        self.shift = shift
        self.warmup = warmup
    }

    public var isWarm: Bool { count >= warmup }

    /// Starts the baseline from exact statistics (e.g. of a warm-up period), so a slow `alpha`
    /// does not keep the first reading's weight for hours. `mean` Q16, `variance` Q16 of squared
    /// units; `count` readings stand behind them.
    public mutating func seed(mean: Int64, variance: Int64, count: Int) {
        self.mean = mean
        self.variance = max(variance, 0)
        self.count = count
    }

    public mutating func update(_ value: Int) {
        let x = Int64(value) << Self.fractionBits
        if count == 0 {
            mean = x
            variance = 0
            count = 1
            return
        }
        let diff = x - mean
        let increment = diff >> shift
        mean = mean &+ increment
        let (high, low) = diff.multipliedFullWidth(by: increment)
        let product = Self.saturatingShiftRight(high: high, low: low, by: Self.fractionBits)
        let grown = Self.saturatingAdd(variance, product)
        variance = grown - (grown >> shift)
        if count < Int.max { count += 1 }
    }

    /// True when `value` lies more than `z` standard deviations from the mean:
    /// `(x − mean)² > z² · var`, compared at full width. `zQ8` is z in Q8 (3.0 → 768).
    /// Always false during warm-up.
    /// `minimumVariance` (Q16 of squared units) floors the variance, so a very steady signal does
    /// not make clinically meaningless wobbles count as outliers.
    public func isOutlier(_ value: Int, zQ8: Int, minimumVariance: Int64 = 0) -> Bool {
        guard isWarm else { return false }
        let diff = (Int64(value) << Self.fractionBits) - mean             // Q16
        let left = diff.magnitude.multipliedFullWidth(by: diff.magnitude) // Q32, 128-bit
        let z2 = UInt64(zQ8 * zQ8)                                        // Q16
        // z² (Q16) · var (Q16) = Q32, at full width.
        let right = z2.multipliedFullWidth(by: UInt64(max(variance, minimumVariance, 0)))
        return left.high > right.high || (left.high == right.high && left.low > right.low)
    }

    static func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    /// (high:low) >> bits as Int64, clamped to Int64's range.
    static func saturatingShiftRight(high: Int64, low: UInt64, by bits: Int) -> Int64 {
        let shiftedLow = (low >> UInt64(bits)) | (UInt64(bitPattern: high) << UInt64(64 - bits))
        let shiftedHigh = high >> Int64(bits)
        // Fits when the remaining high part is only the sign extension of the low part.
        if shiftedHigh == 0 && shiftedLow <= UInt64(Int64.max) { return Int64(shiftedLow) }
        if shiftedHigh == -1 && shiftedLow >= UInt64(bitPattern: Int64.min) { return Int64(bitPattern: shiftedLow) }
        return high < 0 ? .min : .max
    }
}
