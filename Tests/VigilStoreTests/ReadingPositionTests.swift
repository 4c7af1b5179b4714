import Testing
import VigilTestSupport
@testable import VigilStore

/// What the uplink's live mode relies on: the end of a lane, how much is unsent, reading from
/// any position across segments, and a generation that moves when eviction rewrites segments.
@Suite struct ReadingPositionTests {
    @Test func endUnsentCountAndReadingFromAPositionAcrossSegments() throws {
        let directory = try TemporaryDirectory("positions")
        defer { directory.remove() }
        let (store, _) = try openStore(directory.path, keyring: .generate(), options: StoreOptions(segmentBytes: 4_096))
        for seq in 0..<200 {
            store.append(reading(seq: UInt32(seq)))
            if seq % 20 == 19 { _ = try store.commit() }
        }
        #expect(store.stats.lanes[.routine]!.segments > 1, "the test needs several segments")
        #expect(store.unsentCount(.routine) == 200)
        let end = store.end(.routine)
        #expect(try store.read(.routine, from: end, limit: 10).isEmpty, "nothing after the end")
        let middle = try store.read(.routine, limit: 120)
        #expect(sequenceNumbers(middle.map(\.entry)) == Array(0..<120))
        let rest = try store.read(.routine, from: middle.last!.next, limit: 1_000)
        #expect(sequenceNumbers(rest.map(\.entry)) == Array(120..<200), "reading on from a record's next position loses nothing")
        try store.advance(.routine, to: middle.last!.next)
        #expect(store.unsentCount(.routine) == 80)
        store.append(reading(seq: 200))
        _ = try store.commit()
        #expect(sequenceNumbers(try store.read(.routine, from: end, limit: 10).map(\.entry)) == [200], "appended after the old end")
    }

    @Test func evictionMovesTheLayoutGeneration() throws {
        let directory = try TemporaryDirectory("positions")
        defer { directory.remove() }
        let (store, _) = try openStore(directory.path, keyring: .generate(),
                                       options: StoreOptions(segmentBytes: 4_096, quotaBytes: 24_576, reserveBytes: 0))
        let before = store.layoutGeneration
        for seq in 0..<2_000 {
            store.append(reading(seq: UInt32(seq), time: 1_795_000_000_000 + Int64(seq) * 60_000))
            if seq % 50 == 49 { _ = try store.commit() }
        }
        _ = try store.commit()
        #expect(store.layoutGeneration != before, "a store over its quota thinned or deleted segments")
    }
}
