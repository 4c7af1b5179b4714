/// Drift of one vital away from what this patient usually shows *at this time of day*, at rest,
/// with an alert lifecycle. Integers only.
///
/// Why not a single adaptive baseline: a normal day moves core temperature by 0.5–0.9 °C, heart
/// rate and blood pressure by 10–15 % between sleep and afternoon; a baseline that adapts over
/// hours reads every night as "down" and every afternoon as "up". So the expectation is a daily
/// profile: 24 hourly slots (UTC hours: a patient's routine keeps its phase whatever the zone,
/// and a daylight-saving hour is learnt within days), interpolated linearly between slot centres.
///
/// Readings are averaged per minute first (the caller passes only readings taken at rest: walking
/// is not a fever). Each closed minute:
/// - before the profile is warm (`warmupMinutes` since the first minute and `minimumSlots` slots
///   learnt) it only feeds the hour it belongs to;
/// - once warm, its residual from the expected level (clamped to ± `clampEffects` minimum effects,
///   so one wild minute is NEWS2's business, not drift's) is smoothed (EWMA, 2^-`smoothShift`);
///   an alert needs the smoothed residual beyond the vital's **minimum clinically meaningful
///   effect** in a monitored direction for `persistMinutes` minutes in a row;
/// - while no alert is open, it feeds the hour it belongs to; an hour with at least
///   `minutesPerHour` such minutes moves its slot a quarter of the way (2^-`learnShift`) towards
///   the hour's mean, the step capped at half the minimum effect: a new normal is learnt over
///   days, a deterioration over hours still shows as a growing residual;
/// - while an alert is open the profile is frozen, and the alert clears after `clearMinutes`
///   minutes in a row with the smoothed residual within half the effect.
/// Acknowledging an open alert accepts the new level: the whole profile moves by the residual
/// (the daily rhythm is kept).
public struct VitalDrift: Sendable, Equatable, Codable {
    public enum Direction: String, Sendable, Codable { case up, down, both }

    public struct Settings: Sendable, Equatable, Codable {
        /// The smallest change worth an alert, in the vital's units, per direction (`nil`: that
        /// direction is not monitored).
        public var up: Int?
        public var down: Int?
        public var persistMinutes: Int
        public var smoothShift: Int
        public var clearMinutes: Int
        public var warmupMinutes: Int
        public var minimumSlots: Int
        public var minutesPerHour: Int
        public var learnShift: Int
        public var clampEffects: Int

        public init(up: Int?, down: Int?, persistMinutes: Int = 30, smoothShift: Int = 4, clearMinutes: Int = 30,
                    warmupMinutes: Int = 1_440, minimumSlots: Int = 12, minutesPerHour: Int = 10, learnShift: Int = 2,
                    clampEffects: Int = 4) {
            self.up = up
            self.down = down
            self.persistMinutes = persistMinutes
            self.smoothShift = smoothShift
            self.clearMinutes = clearMinutes
            self.warmupMinutes = warmupMinutes
            self.minimumSlots = minimumSlots
            self.minutesPerHour = minutesPerHour
            self.learnShift = learnShift
            self.clampEffects = clampEffects
        }

        var smallestEffect: Int { min(up ?? .max, down ?? .max) }
    }

    public enum Event: Sendable, Equatable {
        /// `baseline`: the expected level now; `value`: the smoothed level; `effect`: the
        /// minimum effect it passed; all in the vital's units.
        case raise(direction: Direction, since: Int64, baseline: Int, value: Int, effect: Int)
        case clear(since: Int64, baseline: Int, value: Int)
    }

    public var settings: Settings {
        didSet { precondition(settings.smallestEffect < .max, "a drift monitor needs a direction") }
    }

    /// Expected level per UTC hour, Q8 of the vital's units; `nil` until learnt.
    public private(set) var slots: [Int64?] = Array(repeating: nil, count: 24)
    private var firstMinute: Int64?
    private var minute: Int64 = .min
    private var sum: Int64 = 0
    private var count: Int64 = 0
    private var hour: Int64 = .min
    private var hourSum: Int64 = 0
    private var hourCount: Int64 = 0
    private var lastClosed: Int64 = .min
    /// Smoothed residual, Q8.
    private var smoothQ8: Int64 = 0
    private var beyond: Int = 0
    private var beyondDirection: Direction = .up
    private var beyondSince: Int64 = 0

    private struct OpenAlert: Sendable, Equatable, Codable {
        var since: Int64
        var direction: Direction
        var inRange: Int
    }

    private var open: OpenAlert?

    public init(_ settings: Settings) {
        precondition(settings.smallestEffect < .max && settings.persistMinutes >= 1 && settings.clearMinutes >= 1)
        self.settings = settings
    }

    public var isOpen: Bool { open != nil }

    public var isWarm: Bool {
        guard let firstMinute else { return false }
        return minute - firstMinute >= Int64(settings.warmupMinutes) && slots.lazy.filter { $0 != nil }.count >= settings.minimumSlots
    }

    /// Adds a reading taken at rest at `time` (Unix ms). Returns an event when the minute it
    /// closes raises or clears the alert. Readings from an earlier minute are ignored.
    public mutating func update(_ value: Int, at time: Int64) -> Event? {
        let readingMinute = Self.floorDivide(time, 60_000)
        if readingMinute < minute { return nil }
        var event: Event?
        if readingMinute > minute, count > 0 {
            event = close(mean: sum / count, minute: minute)
            sum = 0
            count = 0
        }
        minute = readingMinute
        if firstMinute == nil { firstMinute = readingMinute }
        sum += Int64(value)
        count += 1
        return event
    }

    /// Accepts the current level as the patient's new normal: closes an open alert (returning
    /// when it began) and moves the profile by the smoothed residual.
    public mutating func acknowledge() -> Int64? {
        let since = open?.since
        let shift = smoothQ8
        slots = slots.map { $0.map { $0 + shift } }
        open = nil
        smoothQ8 = 0
        beyond = 0
        return since
    }

    /// The expected level at minute `m` (since the epoch), Q8: interpolated between the two
    /// nearest learnt slot centres around the day.
    func expectedQ8(minute m: Int64) -> Int64? {
        let ofDay = Int((m % 1_440 + 1_440) % 1_440)
        // Position relative to slot centres (hh:30).
        let shifted = (ofDay - 30 + 1_440) % 1_440
        let before = shifted / 60
        let fraction = Int64(shifted % 60)
        var lower: (offset: Int, value: Int64)?
        var upper: (offset: Int, value: Int64)?
        for step in 0..<24 where lower == nil {
            if let value = slots[(before - step + 24) % 24] { lower = (step, value) }
        }
        for step in 0..<24 where upper == nil {
            if let value = slots[(before + 1 + step) % 24] { upper = (step, value) }
        }
        guard let lower, let upper else { return nil }
        // Distances in minutes from the two learnt centres around this minute.
        let toLower = Int64(lower.offset * 60) + fraction
        let toUpper = Int64(upper.offset * 60) + 60 - fraction
        return lower.value + (upper.value - lower.value) * toLower / (toLower + toUpper)
    }

    private mutating func close(mean value: Int64, minute closed: Int64) -> Event? {
        defer { lastClosed = closed }
        let time = closed * 60_000 + 59_999
        let valueQ8 = value << 8
        let expected = expectedQ8(minute: closed)
        var event: Event?
        var usual = true
        if isWarm, let expected {
            if closed - lastClosed > 60 {
                // After an hour without data the smoothed residual describes another time.
                smoothQ8 = 0
                beyond = 0
            }
            let limit = Int64(settings.smallestEffect * settings.clampEffects) << 8
            let residual = min(max(valueQ8 - expected, -limit), limit)
            usual = residual > -limit && residual < limit
            smoothQ8 += (residual - smoothQ8) >> settings.smoothShift
            event = judge(expected: expected, at: time)
        }
        if open == nil, usual { learn(value, minute: closed) }
        return event
    }

    private mutating func judge(expected: Int64, at time: Int64) -> Event? {
        let baseline = Int(expected >> 8)
        let level = Int((expected + smoothQ8) >> 8)
        if let alert = open {
            let effect = Int64((alert.direction == .down ? settings.down : settings.up) ?? settings.smallestEffect) << 8
            let back = 2 * abs(smoothQ8) < effect
            let inRange = back ? alert.inRange + 1 : 0
            guard inRange >= settings.clearMinutes else {
                open?.inRange = inRange
                return nil
            }
            open = nil
            beyond = 0
            return .clear(since: alert.since, baseline: baseline, value: level)
        }
        let direction: Direction?
        let effect: Int
        if let up = settings.up, smoothQ8 >= Int64(up) << 8 {
            direction = .up
            effect = up
        } else if let down = settings.down, smoothQ8 <= -(Int64(down) << 8) {
            direction = .down
            effect = down
        } else {
            direction = nil
            effect = 0
        }
        guard let direction else {
            beyond = 0
            return nil
        }
        if beyond == 0 || beyondDirection != direction {
            beyond = 0
            beyondDirection = direction
            beyondSince = time - 59_999
        }
        beyond += 1
        guard beyond >= settings.persistMinutes else { return nil }
        open = OpenAlert(since: beyondSince, direction: direction, inRange: 0)
        return .raise(direction: direction, since: beyondSince, baseline: baseline, value: level, effect: effect)
    }

    /// Adds a minute to its hour; a finished hour with enough minutes moves its slot.
    private mutating func learn(_ value: Int64, minute closed: Int64) {
        let closedHour = Self.floorDivide(closed, 60)
        if closedHour != hour {
            finishHour()
            hour = closedHour
        }
        hourSum += value
        hourCount += 1
    }

    private mutating func finishHour() {
        defer {
            hourSum = 0
            hourCount = 0
        }
        guard hour != .min, hourCount >= Int64(settings.minutesPerHour) else { return }
        let slot = Int(hour % 24 + 24) % 24
        let meanQ8 = (hourSum << 8) / hourCount
        guard let current = slots[slot] else {
            slots[slot] = meanQ8
            return
        }
        let cap = Int64(settings.smallestEffect) << 7
        slots[slot] = current + (min(max(meanQ8 - current, -cap), cap) >> settings.learnShift)
    }

    public static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }
}
