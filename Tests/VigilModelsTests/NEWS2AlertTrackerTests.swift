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
        #expect(tracker.state == .quiet(streak: nil))
        #expect(tracker.update(score(3, .lowMedium), at: 90)?.kind == .raise)
    }

    @Test func persistenceRaisesOnlyOnARunAndReportsTheBandThatHeld() {
        var tracker = NEWS2AlertTracker(raiseAfter: 3, clearAfter: 2)
        #expect(tracker.update(score(5, .medium), at: 0) == nil)
        #expect(tracker.update(score(7, .high), at: 10) == nil)
        #expect(tracker.update(score(0, .low), at: 20) == nil)             // the run is broken
        #expect(tracker.update(score(7, .high), at: 30) == nil)
        #expect(tracker.update(score(3, .lowMedium), at: 40) == nil)
        let raise = tracker.update(score(7, .high), at: 50)
        #expect(raise?.kind == .raise && raise?.risk == .lowMedium && raise?.windowStart == 30)
        #expect(tracker.update(score(7, .high), at: 60) == nil)            // higher, not yet held
        #expect(tracker.update(score(3, .lowMedium), at: 70) == nil)       // the higher run is broken
        #expect(tracker.update(score(5, .medium), at: 80) == nil)
        #expect(tracker.update(score(7, .high), at: 90) == nil)
        let escalation = tracker.update(score(8, .high), at: 100)
        #expect(escalation?.kind == .escalate && escalation?.risk == .medium && escalation?.windowStart == 30)
    }
}
