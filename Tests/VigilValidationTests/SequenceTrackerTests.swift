import Testing
@testable import VigilValidation

@Suite struct SequenceTrackerTests {
    @Test func inOrderReadingsGrowThePrefix() {
        var tracker = SequenceTracker()
        #expect(tracker.classify(boot: 1, first: 0, last: 4) == .new)
        tracker.accept(boot: 1, first: 0, last: 4)
        #expect(tracker.state(boot: 1)?.contiguousThrough == 4)
        #expect(tracker.state(boot: 1)?.gaps == [])
        #expect(tracker.classify(boot: 1, first: 5, last: 5) == .new)
    }

    @Test func duplicatesAndPartialOverlapsAreRecognised() {
        var tracker = SequenceTracker()
        tracker.accept(boot: 1, first: 0, last: 9)
        #expect(tracker.classify(boot: 1, first: 3, last: 7) == .duplicate)
        #expect(tracker.classify(boot: 1, first: 8, last: 11) == .partial(fresh: [10, 11]))
    }

    @Test func gapsAreFoundAndClosedByResends() {
        var tracker = SequenceTracker()
        tracker.accept(boot: 2, first: 0, last: 2)
        tracker.accept(boot: 2, first: 6, last: 7)
        tracker.accept(boot: 2, first: 10, last: 10)
        #expect(tracker.state(boot: 2)?.gaps == [3...5, 8...9])
        #expect(tracker.state(boot: 2)?.contiguousThrough == 2)
        tracker.accept(boot: 2, first: 3, last: 5)
        #expect(tracker.state(boot: 2)?.gaps == [8...9])
        #expect(tracker.state(boot: 2)?.contiguousThrough == 7)
        tracker.accept(boot: 2, first: 8, last: 9)
        #expect(tracker.state(boot: 2)?.gaps == [])
        #expect(tracker.state(boot: 2)?.contiguousThrough == 10)
    }

    @Test func aLostFirstReadingOfABootIsAGap() {
        var tracker = SequenceTracker()
        tracker.accept(boot: 5, first: 1, last: 3)
        #expect(tracker.state(boot: 5)?.gaps == [0...0])
        #expect(tracker.state(boot: 5)?.contiguousThrough == nil)
    }

    @Test func aRebootedDeviceCanStillDeliverItsOldBootButAncientBootsAreReplays() {
        var tracker = SequenceTracker()
        tracker.accept(boot: 1, first: 0, last: 4)
        tracker.accept(boot: 2, first: 0, last: 0)
        // Readings 5... of boot 1 were in the ring buffer when the device rebooted.
        #expect(tracker.classify(boot: 1, first: 5, last: 9) == .new)
        for boot in UInt32(3)...6 { tracker.accept(boot: boot, first: 0, last: 0) }
        #expect(tracker.boots.count == SequenceTracker.bootsKept)
        #expect(tracker.classify(boot: 1, first: 5, last: 9) == .replayed)
        #expect(tracker.classify(boot: 2, first: 0, last: 0) == .replayed)
        #expect(tracker.classify(boot: 3, first: 0, last: 0) == .duplicate)
    }

    @Test func aHugeJumpIsOneGapComputedWithoutWalkingIt() {
        var tracker = SequenceTracker()
        tracker.accept(boot: 1, first: 0, last: 0)
        tracker.accept(boot: 1, first: 4_000_000_000, last: 4_000_000_000)
        #expect(tracker.state(boot: 1)?.gaps == [1...3_999_999_999])
    }

    @Test func sparseStateIsBoundedByGivingUpTheOldestGap() {
        var tracker = SequenceTracker()
        var abandoned: [ClosedRange<UInt32>] = []
        // Every other sequence arrives: the sparse set grows until compaction gives up gaps,
        // oldest first, one per reading past the bound.
        for seq in stride(from: UInt32(1), through: UInt32(2 * SequenceTracker.maxSparse + 3), by: 2) {
            if let skipped = tracker.accept(boot: 1, first: seq, last: seq) { abandoned.append(skipped) }
        }
        #expect(abandoned == [0...0, 2...2])
        #expect(tracker.state(boot: 1)!.gaps.count <= SequenceTracker.maxSparse)
    }
}
