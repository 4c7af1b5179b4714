import Testing
@testable import VigilModels

@Suite struct NEWS2AlertTrackerTests {
    func score(_ total: Int, _ risk: NEWS2.Risk) -> NEWS2.Score {
        NEWS2.Score(total: total, risk: risk, subscores: [.pulse: total], missing: [])
    }

    @Test func raisesEscalatesDeduplicatesAndClearsWithHysteresis() {
        var tracker = NEWS2AlertTracker(clearAfter: 2)
        #expect(tracker.update(score(1, .low), at: 0) == nil)
        #expect(tracker.update(score(5, .medium), at: 10)?.kind == .raise)
        #expect(tracker.update(score(5, .medium), at: 20) == nil)          // same band: no repeat
        #expect(tracker.update(score(3, .lowMedium), at: 30) == nil)       // lower but not low: hold
        let escalation = tracker.update(score(8, .high), at: 40)
        #expect(escalation?.kind == .escalate && escalation?.windowStart == 10 && escalation?.windowEnd == 40)
        #expect(tracker.update(score(0, .low), at: 50) == nil)             // one low: not yet
        #expect(tracker.update(score(5, .medium), at: 60) == nil)          // streak broken
        #expect(tracker.update(score(0, .low), at: 70) == nil)
        let clear = tracker.update(score(0, .low), at: 80)
        #expect(clear?.kind == .clear && clear?.windowStart == 10)
        #expect(tracker.state == .quiet)
        #expect(tracker.update(score(3, .lowMedium), at: 90)?.kind == .raise)
    }
}
