import Testing
import VigilCore
@testable import VigilModels

/// Per-vital drift: per-minute means, warm-up, CUSUM against a slowly adapting baseline with a σ
/// floor, a frozen baseline while the alert is open, clearing with hysteresis, acknowledgement.
@Suite struct VitalDriftTests {
    let start: Int64 = 1_794_999_960_000   // on a minute boundary

    /// Feeds `minutes` of readings every `every` seconds from `value(minute)` plus uniform noise
    /// of ±`noise`; returns the events with the minute they came in.
    func feed(_ drift: inout VitalDrift, from first: Int = 0, minutes: Int, every: Int = 60, noise: Int = 10,
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

    @Test func aSteadyPatientNeverAlertsOverAWeek() {
        var random = SplitMix64(seed: 1)
        var drift = VitalDrift(.init(sigmaFloor: 30))
        // Heart rate 72 ± 2 /min, a reading a minute, seven days.
        #expect(feed(&drift, minutes: 7 * 1_440, random: &random) { _ in 720 }.isEmpty)
        #expect(drift.baseline.isWarm)
    }

    @Test func nothingIsJudgedDuringWarmUp() {
        var random = SplitMix64(seed: 2)
        var drift = VitalDrift(.init(warmupMinutes: 60, sigmaFloor: 30))
        // A 30 /min jump at minute 30, inside the warm-up: learned, not alerted.
        #expect(feed(&drift, minutes: 60, random: &random) { $0 < 30 ? 720 : 1_020 }.isEmpty)
    }

    @Test(arguments: [(VitalDrift.Direction.both, 150, VitalDrift.Direction.up), (.both, -150, .down), (.down, -30, .down)])
    func aSustainedShiftRaisesInItsDirection(allowed: VitalDrift.Direction, shift: Int, expected: VitalDrift.Direction) throws {
        var random = SplitMix64(seed: 3)
        var drift = VitalDrift(.init(sigmaFloor: allowed == .down ? 10 : 30, direction: allowed))
        #expect(feed(&drift, minutes: 120, random: &random) { _ in 960 }.isEmpty)
        let events = feed(&drift, from: 120, minutes: 60, random: &random) { _ in 960 + shift }
        let first = try #require(events.first)
        guard case .raise(let direction, _, let baseline, let value, let sigma) = first.event else {
            Issue.record("expected a raise, got \(first.event)")
            return
        }
        #expect(direction == expected)
        #expect(abs(baseline - 960) <= 2 && abs(value - (960 + shift)) <= 10, "\(baseline) \(value)")
        #expect(sigma == (allowed == .down ? 10 : 30), "the floor, not the tiny spread of minute means, sets σ")
        #expect(first.minute < 130, "found within minutes")
        #expect(events.count == 1, "de-duplicated while open")
    }

    @Test func oneWildMinuteIsNotDriftButThreeAre() {
        var random = SplitMix64(seed: 9)
        var drift = VitalDrift(.init(sigmaFloor: 10, direction: .down))
        _ = feed(&drift, minutes: 120, random: &random) { _ in 970 }
        // SpO2 85 % for one minute (12 σ): NEWS2 scores it; drift waits for a sustained change.
        #expect(feed(&drift, from: 120, minutes: 60, random: &random) { $0 == 130 ? 850 : 970 }.isEmpty)
        let sustained = feed(&drift, from: 180, minutes: 10, random: &random) { _ in 850 }
        #expect(sustained.first.map { $0.minute - 180 } == 3, "three minutes at 4 σ (the clamp) − 0.5 σ pass h = 8 σ")
    }

    @Test func aShiftInTheHarmlessDirectionIsIgnored() {
        var random = SplitMix64(seed: 4)
        var drift = VitalDrift(.init(sigmaFloor: 10, direction: .down))   // SpO2: only falls matter
        _ = feed(&drift, minutes: 120, random: &random) { _ in 940 }
        #expect(feed(&drift, from: 120, minutes: 120, random: &random) { _ in 990 }.isEmpty)
    }

    @Test func theBaselineFreezesWhileOpenAndTheAlertClearsOnlyAfterAStreakBackInRange() throws {
        var random = SplitMix64(seed: 5)
        var drift = VitalDrift(.init(sigmaFloor: 30, clearAfterMinutes: 15))
        _ = feed(&drift, minutes: 120, random: &random) { _ in 720 }
        let raised = feed(&drift, from: 120, minutes: 120, random: &random) { _ in 1_000 }
        #expect(raised.count == 1)
        // Two hours at the new level taught the baseline nothing.
        #expect(abs(Int(drift.baseline.mean >> 16) - 720) <= 2)
        // Back to normal, but interrupted once at minute 250: the streak restarts.
        let back = feed(&drift, from: 240, minutes: 40, random: &random) { $0 == 250 ? 1_000 : 720 }
        let clear = try #require(back.first)
        guard case .clear = clear.event else {
            Issue.record("expected a clear, got \(clear.event)")
            return
        }
        #expect(clear.minute == 251 + 15, "15 minutes in range after the interruption (closed one minute late)")
        #expect(back.count == 1)
    }

    @Test func aSlowRampIsFoundBecauseTheBaselineLags() throws {
        var random = SplitMix64(seed: 6)
        var drift = VitalDrift(.init(sigmaFloor: 30))
        _ = feed(&drift, minutes: 120, random: &random) { _ in 750 }
        // +5 /min per hour (the simulator's sepsis is +8 /min per hour).
        let events = feed(&drift, from: 120, minutes: 360, random: &random) { 750 + ($0 - 120) * 50 / 60 }
        let first = try #require(events.first)
        #expect(first.minute < 120 + 240)
    }

    @Test func theSamplingRateDoesNotChangeTheDecision() {
        // One reading a minute or one a second: the same minute means, the same alert minute.
        var minutes: [Int] = []
        for every in [60, 1] {
            var random = SplitMix64(seed: 7)
            var drift = VitalDrift(.init(sigmaFloor: 30))
            _ = feed(&drift, minutes: 120, every: every, noise: 0, random: &random) { _ in 720 }
            minutes.append(feed(&drift, from: 120, minutes: 60, every: every, noise: 0, random: &random) { _ in 900 }.first?.minute ?? -1)
        }
        #expect(minutes[0] == minutes[1] && minutes[0] > 0, "\(minutes)")
    }

    @Test func acknowledgingAcceptsTheNewLevel() {
        var random = SplitMix64(seed: 8)
        var drift = VitalDrift(.init(sigmaFloor: 30))
        _ = feed(&drift, minutes: 120, random: &random) { _ in 720 }
        #expect(feed(&drift, from: 120, minutes: 30, random: &random) { _ in 950 }.count == 1)
        #expect(drift.acknowledge() != nil)
        #expect(!drift.isOpen && !drift.baseline.isWarm)
        // Staying at the accepted level raises nothing, not even after the new warm-up.
        #expect(feed(&drift, from: 150, minutes: 240, random: &random) { _ in 950 }.isEmpty)
    }

    @Test func readingsFromAnEarlierMinuteAreIgnored() {
        var drift = VitalDrift(.init(sigmaFloor: 30))
        _ = drift.update(720, at: start + 600_000)
        #expect(drift.update(9_000, at: start) == nil)
        _ = drift.update(720, at: start + 660_000)   // closes minute 10 with its one reading
        #expect(drift.baseline.mean >> 16 == 720)
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
