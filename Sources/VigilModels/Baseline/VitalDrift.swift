/// Drift of one vital away from the patient's own baseline, with an alert lifecycle. Integers only.
///
/// Readings are averaged per minute first, so the baseline's memory and the detector's speed are
/// in minutes whatever the sensor's sampling rate. Each closed minute goes, in order:
/// - during warm-up, into exact sums that then seed the ``EWMABaseline`` (its slow alpha would
///   otherwise keep the first minute's weight for hours);
/// - once warm, through a ``CUSUM`` against the baseline (each minute counting at most
///   `limit` σ, so it takes a sustained change, not one wild minute), with σ floored at a clinically
///   meaningful spread (a very steady patient must not turn a 1 /min wobble into an alert), and
///   then, unless it lies beyond `learnZ` σ, into the baseline, which adapts slowly (hours) so a
///   slow deterioration still shows as a growing lag;
/// - while a drift alert is open, the baseline is frozen (it must not learn the deterioration) and
///   the alert clears after `clearAfterMinutes` consecutive minutes back within `clearZ` σ.
/// Acknowledging an open alert accepts the new level: the baseline restarts its warm-up.
public struct VitalDrift: Sendable, Equatable, Codable {
    public enum Direction: String, Sendable, Codable { case up, down, both }

    public struct Settings: Sendable, Equatable, Codable {
        public var shift: Int
        public var warmupMinutes: Int
        public var kQ8: Int
        public var hQ8: Int
        /// The smallest σ used, in the vital's units.
        public var sigmaFloor: Int
        public var direction: Direction
        public var clearAfterMinutes: Int
        public var clearZQ8: Int
        /// Once warm, the baseline learns only from minutes within this many σ.
        public var learnZQ8: Int
        /// A minute's deviation counts at most this many σ: drift means a sustained change; a
        /// single wild minute is NEWS2's business.
        public var limitQ8: Int

        public init(shift: Int = 7, warmupMinutes: Int = 60, kQ8: Int = 128, hQ8: Int = 2_048, sigmaFloor: Int,
                    direction: Direction = .both, clearAfterMinutes: Int = 15, clearZQ8: Int = 512, learnZQ8: Int = 768,
                    limitQ8: Int = 1_024) {
            self.shift = shift
            self.warmupMinutes = warmupMinutes
            self.kQ8 = kQ8
            self.hQ8 = hQ8
            self.sigmaFloor = sigmaFloor
            self.direction = direction
            self.clearAfterMinutes = clearAfterMinutes
            self.clearZQ8 = clearZQ8
            self.learnZQ8 = learnZQ8
            self.limitQ8 = limitQ8
        }
    }

    public enum Event: Sendable, Equatable {
        /// `baseline` and `value` (the minute's mean) in the vital's units; `sigma` as used.
        case raise(direction: Direction, since: Int64, baseline: Int, value: Int, sigma: Int)
        case clear(since: Int64, baseline: Int, value: Int)
    }

    public let settings: Settings
    public private(set) var baseline: EWMABaseline
    private var cusum: CUSUM
    private var minute: Int64 = .min
    private var sum: Int64 = 0
    private var count: Int64 = 0
    /// An open alert: when it began, and the minutes in a row back in range.
    private struct OpenAlert: Sendable, Equatable, Codable {
        var since: Int64
        var inRange: Int
    }

    private var open: OpenAlert?
    /// Warm-up sums of minute means and of their squares.
    private var warmupSum: Int64 = 0
    private var warmupSquares: Int64 = 0

    public init(_ settings: Settings) {
        precondition(settings.sigmaFloor >= 1 && settings.clearAfterMinutes >= 1)
        self.settings = settings
        baseline = EWMABaseline(shift: settings.shift, warmup: settings.warmupMinutes)
        cusum = CUSUM(kQ8: settings.kQ8, hQ8: settings.hQ8, limitQ8: settings.limitQ8)
    }

    public var isOpen: Bool { open != nil }

    /// Adds a reading at `time` (Unix ms). Returns an event when the minute it closes raises or
    /// clears the alert. Readings from an earlier minute than the current one are ignored.
    public mutating func update(_ value: Int, at time: Int64) -> Event? {
        let readingMinute = time >= 0 ? time / 60_000 : (time - 59_999) / 60_000
        if readingMinute < minute { return nil }
        var event: Event?
        if readingMinute > minute, count > 0 {
            event = close(mean: Int(sum / count), at: minute * 60_000 + 59_999)
            sum = 0
            count = 0
        }
        minute = readingMinute
        sum += Int64(value)
        count += 1
        return event
    }

    /// Accepts the current level as the patient's new normal: closes an open alert (returning
    /// when it began) and restarts the baseline's warm-up.
    public mutating func acknowledge() -> Int64? {
        let since = open?.since
        open = nil
        baseline = EWMABaseline(shift: settings.shift, warmup: settings.warmupMinutes)
        cusum = CUSUM(kQ8: settings.kQ8, hQ8: settings.hQ8, limitQ8: settings.limitQ8)
        warmupSum = 0
        warmupSquares = 0
        return since
    }

    private var varianceFloor: Int64 { Int64(settings.sigmaFloor * settings.sigmaFloor) << EWMABaseline.fractionBits }

    private mutating func close(mean value: Int, at time: Int64) -> Event? {
        let level = Int(baseline.mean >> EWMABaseline.fractionBits)
        if let alert = open {
            let back = !baseline.isOutlier(value, zQ8: settings.clearZQ8, minimumVariance: varianceFloor)
            let inRange = back ? alert.inRange + 1 : 0
            guard inRange >= settings.clearAfterMinutes else {
                open = OpenAlert(since: alert.since, inRange: inRange)
                return nil
            }
            open = nil
            cusum = CUSUM(kQ8: settings.kQ8, hQ8: settings.hQ8, limitQ8: settings.limitQ8)
            return .clear(since: alert.since, baseline: level, value: value)
        }
        guard baseline.isWarm else {
            warmupSum += Int64(value)
            warmupSquares += Int64(value) * Int64(value)
            baseline.update(value)
            if baseline.isWarm {
                // Exact mean and population variance of the warm-up minutes, in Q16.
                let n = Int128(baseline.count)
                let sum = Int128(warmupSum)
                let spread = n * Int128(warmupSquares) - sum * sum
                baseline.seed(mean: Int64((sum << 16) / n), variance: Int64((spread << 16) / (n * n)), count: baseline.count)
            }
            return nil
        }
        let variance = max(baseline.variance, varianceFloor)
        let signal = cusum.update(value, meanQ16: baseline.mean, varianceQ16: variance)
        let direction: Direction? = switch signal {
        case .upward where settings.direction != .down: .up
        case .downward where settings.direction != .up: .down
        default: nil
        }
        guard let direction else {
            // A minute far outside the baseline is evidence for the detector, not a new normal.
            if !baseline.isOutlier(value, zQ8: settings.learnZQ8, minimumVariance: varianceFloor) { baseline.update(value) }
            return nil
        }
        open = OpenAlert(since: time, inRange: 0)
        let sigma = Int(CUSUM.squareRoot(UInt64(variance)) >> 8)
        return .raise(direction: direction, since: time, baseline: level, value: value, sigma: sigma)
    }
}
