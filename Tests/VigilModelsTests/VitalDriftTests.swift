import Foundation
import Testing
import VigilCore
@testable import VigilModels

/// Per-vital drift against a daily profile: per-minute means, warm-up, hourly slots learnt over
/// days, a smoothed residual that must pass the minimum effect for a persistence time, a frozen
/// profile while the alert is open, clearing with hysteresis, acknowledgement.
@Suite struct VitalDriftTests {
    /// A UTC midnight, so minute m of the test is minute m of the profile's day.
    let start: Int64 = 1_795_046_400_000 - 1_795_046_400_000 % 86_400_000
    /// Heart rate settings as shipped: up 15 /min, down 25 /min.
    let heartRate = VitalDrift.Settings(up: 150, down: 250)

    /// A daily rhythm of ±`amplitude` around `mean`, lowest at 04:00.
    func rhythm(_ minute: Int, mean: Int = 720, amplitude: Double = 200) -> Int {
        mean + Int(amplitude * -cos(Double((minute % 1_440) - 240) / 1_440 * 2 * .pi))
    }

    /// Feeds minutes `first..<first+minutes`, a reading every `every` seconds of `value(minute)`
    /// plus uniform noise of ±`noise`; returns the events with the minute they came in.
    func feed(_ drift: inout VitalDrift, from first: Int = 0, minutes: Int, every: Int = 60, noise: Int = 20,
              random: inout SplitMix64, value: (Int) -> Int) -> [(minute: Int, event: VitalDrift.Event)] {
        var events: [(Int, VitalDrift.Event)] = []
        for minute in first..<(first + minutes) {
            for second in stride(from: 0, to: 60, by: every) {
                let time = start + Int64(minute * 60 + second) * 1_000
                if let event = drift.update(value(minute) + Int.random(in: -noise...noise, using: &random), at: time) {
                    events.append((minute, event))
                }
            }
        }
        return events
    }

    @Test func aDailyRhythmLargerThanTheEffectNeverAlertsOverAWeek() {
        // ±20 /min between night and afternoon: a single adaptive baseline would read every
        // afternoon as "up"; the profile expects it.
        var random = SplitMix64(seed: 1)
        var drift = VitalDrift(heartRate)
        #expect(feed(&drift, minutes: 7 * 1_440, random: &random) { rhythm($0) }.isEmpty)
        #expect(drift.isWarm)
        // The same rhythm twelve hours out of phase is a change the profile sees.
        #expect(!feed(&drift, from: 7 * 1_440, minutes: 1_440, random: &random) { rhythm($0 + 720) }.isEmpty)
    }

    @Test func nothingIsJudgedDuringWarmUp() {
        var random = SplitMix64(seed: 2)
        var drift = VitalDrift(heartRate)
        #expect(feed(&drift, minutes: 600, random: &random) { _ in 720 }.isEmpty)
        #expect(feed(&drift, from: 600, minutes: 600, random: &random) { _ in 1_100 }.isEmpty)
        #expect(!drift.isWarm)
    }

    @Test(arguments: [(VitalDrift.Settings(up: 150, down: 250), 200, VitalDrift.Direction.up),
                      (VitalDrift.Settings(up: 150, down: 250), -300, .down),
                      (VitalDrift.Settings(up: nil, down: 30), -45, .down)])
    func aSustainedShiftRaisesInItsDirectionAfterThePersistenceTime(settings: VitalDrift.Settings, shift: Int,
                                                                     expected: VitalDrift.Direction) throws {
        var random = SplitMix64(seed: 3)
        var drift = VitalDrift(settings)
        let onset = 3 * 1_440 + 720
        let events = feed(&drift, minutes: 4 * 1_440, noise: 5, random: &random) { rhythm($0, amplitude: 50) + ($0 >= onset ? shift : 0) }
        let first = try #require(events.first)
        guard case .raise(let direction, let since, let baseline, let value, let effect) = first.event else {
            Issue.record("expected a raise, got \(first.event)")
            return
        }
        #expect(direction == expected)
        #expect(effect == (expected == .up ? settings.up : settings.down))
        // The smoothed residual takes a few minutes to pass the effect, then 30 minutes in a row.
        #expect(first.minute >= onset + 30 && first.minute <= onset + 60)
        #expect(since <= start + Int64(first.minute - 29) * 60_000 && since > start + Int64(onset) * 60_000)
        #expect(abs(value - baseline - shift) <= abs(shift) / 3)
    }

    @Test func aShortExcursionIsNotDrift() {
        var random = SplitMix64(seed: 4)
        var drift = VitalDrift(heartRate)
        let excursion = (3 * 1_440 + 600)..<(3 * 1_440 + 620)
        #expect(feed(&drift, minutes: 4 * 1_440, random: &random) { rhythm($0) + (excursion.contains($0) ? 400 : 0) }.isEmpty)
    }

    @Test func aShiftInTheUnmonitoredDirectionIsIgnored() {
        var random = SplitMix64(seed: 5)
        var drift = VitalDrift(.init(up: nil, down: 30))
        #expect(feed(&drift, minutes: 4 * 1_440, noise: 5, random: &random) { 960 + ($0 >= 3 * 1_440 ? 40 : 0) }.isEmpty)
    }

    @Test func theProfileFreezesWhileOpenAndTheAlertClearsOnlyAfterAStreakBackInRange() throws {
        var random = SplitMix64(seed: 6)
        var drift = VitalDrift(heartRate)
        let onset = 3 * 1_440
        let raised = feed(&drift, minutes: onset + 120, random: &random) { rhythm($0) + ($0 >= onset ? 250 : 0) }
        #expect(raised.count == 1 && drift.isOpen)
        let slots = drift.slots
        // Hours more of the raised level: no new event, and the profile does not learn it.
        #expect(feed(&drift, from: onset + 120, minutes: 600, random: &random) { rhythm($0) + 250 }.isEmpty)
        #expect(drift.slots == slots)
        let back = feed(&drift, from: onset + 720, minutes: 120, random: &random) { rhythm($0) }
        let clear = try #require(back.first)
        guard case .clear = clear.event else {
            Issue.record("expected a clear, got \(clear.event)")
            return
        }
        // Within half the effect after a few minutes of smoothing, then 30 minutes in a row.
        #expect(clear.minute >= onset + 720 + 30 && clear.minute <= onset + 720 + 60)
        #expect(!drift.isOpen)
    }

    @Test func aSlowRampIsFoundBecauseTheProfileLearnsAtMostAnEighthOfTheEffectADay() throws {
        // +30 /min over 24 hours, starting on day 3.
        var random = SplitMix64(seed: 7)
        var drift = VitalDrift(heartRate)
        let onset = 3 * 1_440
        let events = feed(&drift, minutes: 5 * 1_440, random: &random) { rhythm($0) + max(0, min(300, ($0 - onset) * 300 / 1_440)) }
        let first = try #require(events.first)
        guard case .raise(.up, _, _, _, _) = first.event else {
            Issue.record("expected an upward raise, got \(first.event)")
            return
        }
        #expect(first.minute > onset && first.minute < onset + 1_440)
    }

    @Test func theSamplingRateDoesNotChangeTheDecision() {
        func firstEvent(every seconds: Int) -> Int? {
            var random = SplitMix64(seed: 8)
            var drift = VitalDrift(heartRate)
            return feed(&drift, minutes: 4 * 1_440, every: seconds, noise: 0, random: &random) {
                rhythm($0) + ($0 >= 3 * 1_440 ? 200 : 0)
            }.first?.minute
        }
        #expect(firstEvent(every: 60) != nil)
        #expect(firstEvent(every: 60) == firstEvent(every: 5))
    }

    @Test func acknowledgingAcceptsTheNewLevelAndKeepsTheRhythm() throws {
        var random = SplitMix64(seed: 9)
        var drift = VitalDrift(heartRate)
        let onset = 3 * 1_440
        #expect(feed(&drift, minutes: onset + 120, random: &random) { rhythm($0) + ($0 >= onset ? 250 : 0) }.count == 1)
        #expect(drift.acknowledge() != nil && !drift.isOpen)
        // The new level with the same rhythm is this patient's normal now.
        #expect(feed(&drift, from: onset + 120, minutes: 2 * 1_440, random: &random) { rhythm($0) + 250 }.isEmpty)
    }

    @Test func readingsFromAnEarlierMinuteAreIgnoredAndTheProfileInterpolates() {
        var drift = VitalDrift(heartRate)
        _ = drift.update(720, at: start + 600_000)
        #expect(drift.update(9_000, at: start) == nil)
        for minute in 11..<60 { _ = drift.update(720, at: start + Int64(minute) * 60_000) }
        for minute in 60..<130 { _ = drift.update(780, at: start + Int64(minute) * 60_000) }
        // Minute 131 closes minute 130, the first of hour 2: that finishes hour 1.
        _ = drift.update(780, at: start + 130 * 60_000)
        _ = drift.update(780, at: start + 131 * 60_000)
        // Hour 0 learnt 720 from minutes 10-59 (the 9,000 was ignored), hour 1 learnt 780.
        #expect(drift.slots[0] == 720 << 8 && drift.slots[1] == 780 << 8)
        let minuteOfEpoch = start / 60_000
        #expect(drift.expectedQ8(minute: minuteOfEpoch + 30) == 720 << 8)
        #expect(drift.expectedQ8(minute: minuteOfEpoch + 60) == 750 << 8)
        #expect(drift.expectedQ8(minute: minuteOfEpoch + 90) == 780 << 8)
    }
}

@Suite struct AlertBookTests {
    @Test func unacknowledgedEpisodesAreRemindedUntilAcknowledged() throws {
        var book = AlertBook(reminderMilliseconds: 30 * 60_000)
        book.record(patient: "p", key: "news2", since: 0, event: "raise", at: 0, notified: true)
        #expect(book.reminders(patient: "p", at: 29 * 60_000).isEmpty)
        #expect(book.reminders(patient: "p", at: 30 * 60_000).map(\.id) == ["news2@0"])
        #expect(book.reminders(patient: "p", at: 45 * 60_000).isEmpty, "the next one is 30 minutes after the last")
        #expect(book.acknowledge(patient: "p", id: "news2@0")?.acknowledged == true)
        #expect(book.reminders(patient: "p", at: 120 * 60_000).isEmpty)
        // An escalation needs a new acknowledgement.
        book.record(patient: "p", key: "news2", since: 0, event: "escalate", at: 130 * 60_000, notified: true)
        #expect(book.reminders(patient: "p", at: 160 * 60_000).map(\.id) == ["news2@0"])
        book.record(patient: "p", key: "news2", since: 0, event: "clear", at: 170 * 60_000, notified: true)
        #expect(book.open.isEmpty)
        #expect(book.reminders(patient: "p", at: 999 * 60_000).isEmpty)
    }

    @Test func acknowledgementsNeedTheRightPatientAndId() {
        var book = AlertBook()
        book.record(patient: "p", key: "drift/hr", since: 5, event: "raise", at: 5, notified: true)
        #expect(book.acknowledge(patient: "q", id: "drift/hr@5") == nil)
        #expect(book.acknowledge(patient: "p", id: "drift/hr@6") == nil)
        #expect(book.acknowledge(patient: "p", id: "drift/hr@5") != nil)
    }

    @Test func zeroTurnsRemindersOff() {
        var book = AlertBook(reminderMilliseconds: 0)
        book.record(patient: "p", key: "news2", since: 0, event: "raise", at: 0, notified: true)
        #expect(book.reminders(patient: "p", at: 1_000 * 60_000).isEmpty)
    }
}
