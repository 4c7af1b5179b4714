import Testing
import VigilModels

@Suite struct BinaryAlertTrackerTests {
    @Test func raisesAfterConsecutivePositivesAndClearsWithHysteresis() {
        var tracker = BinaryAlertTracker(raiseAfter: 2, clearAfter: 3)
        let results = [true, false, true, true, true, false, false, true, false, false, false, true]
        let events = results.enumerated().map { tracker.update(positive: $1, at: Int64($0)) }
        #expect(events == [nil, nil, nil, .raise(since: 2), nil, nil, nil, nil, nil, nil, .clear(since: 2), nil])
    }
}
