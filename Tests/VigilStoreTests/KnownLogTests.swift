import Foundation
import Testing
import VigilStore
import VigilTestSupport

/// Start-up with what the caller's checkpoint knows (``KnownLog``): sealed segments it accounts
/// for are opened from their header and seal alone, their entries not read; anything that no
/// longer matches is scanned as before; damage inside a segment opened that way is found when it
/// is read, and the file is kept in quarantine.
@Suite struct KnownLogTests {
    let keyring = Keyring.generate()
    let options = StoreOptions(segmentBytes: 700)

    /// Three sealed routine segments of 10 readings each (seq 0–29), an open fourth with 5 more,
    /// and what the store knew of them.
    func makeStore(_ directory: TemporaryDirectory) throws -> (files: [String], known: KnownLog) {
        let (store, _) = try openStore(directory.path, keyring: keyring, options: options)
        for seq in 0..<35 as Range<UInt32> {
            store.append(reading(seq: seq))
            if seq % 10 == 9 || seq == 34 { _ = try store.commit() }
        }
        let known = store.known()
        try store.close()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/routine").sorted()
        return (names.map { directory.path + "/routine/" + $0 }, known)
    }

    func reopen(_ directory: TemporaryDirectory, known: KnownLog?) throws -> (store: Store, report: RecoveryReport, restored: [UInt32]) {
        var restored: [Entry] = []
        let (store, report) = try Store.open(directory: directory.path, keyring: keyring, options: options, logger: quietLogger,
                                             now: { 1_795_000_000_000 }, known: known, restore: { restored.append($0) })
        return (store, report, sequenceNumbers(restored))
    }

    @Test func knownSegmentsAreOpenedFromTheirSealsAndNotRestored() throws {
        let directory = try TemporaryDirectory("known")
        defer { directory.remove() }
        let (files, known) = try makeStore(directory)
        try #require(files.count == 4)
        #expect(known.segments[.routine]?.map(\.records) == [10, 10, 10])

        let (store, report, restored) = try reopen(directory, known: known)
        #expect(report.trusted == 3)
        #expect(report.records == 35)
        #expect(report.quarantined.isEmpty)
        // Only the entries after what the caller knows are handed to it again.
        #expect(restored == Array(30..<35))
        // Everything still reads back, in order, and the counts match a full scan's.
        #expect(sequenceNumbers(try store.read(.routine, limit: .max).map(\.entry)) == Array(0..<35))
        #expect(store.unsentCount(.routine) == 35)
        try store.close()

        let (full, fullReport, all) = try reopen(directory, known: nil)
        #expect(fullReport.trusted == 0)
        #expect(all == Array(0..<35))
        #expect(full.unsentCount(.routine) == 35)
        try full.close()
    }

    @Test func aSegmentThatNoLongerMatchesItsSummaryIsScannedInFull() throws {
        let directory = try TemporaryDirectory("known")
        defer { directory.remove() }
        var (files, known) = try makeStore(directory)
        // A summary that claims another count (the seal then fails to authenticate at that index).
        known.segments[.routine]?[0].records += 1
        // And a segment cut short after it was summarized: its size differs, so it is scanned, and
        // the scan finds it torn (not the newest, so not a crash's tail) and quarantines it with
        // its valid records kept.
        let victim = files[1]
        let bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: victim))

        let (store, report, restored) = try reopen(directory, known: known)
        #expect(report.trusted == 1)
        #expect(report.quarantined.map(\.reason) == ["torn"])
        #expect(Array(restored.prefix(10)) == Array(0..<10))
        #expect(restored.contains(30) && !restored.contains(25))
        #expect(Set(sequenceNumbers(try store.read(.routine, limit: .max).map(\.entry))).isSuperset(of: Array(0..<10) + Array(20..<35)))
        try store.close()
    }

    @Test func damageInsideAKnownSegmentIsFoundWhenReadAndTheFileQuarantined() throws {
        let directory = try TemporaryDirectory("known")
        defer { directory.remove() }
        let (files, known) = try makeStore(directory)
        // A bit flipped in the fifth record of the second segment, after it was sealed.
        let victim = files[1]
        let record = try SegmentScanner.scan(Array(try Data(contentsOf: URL(fileURLWithPath: victim))), keyring: keyring).records[4]
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[record.start + 12] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: victim))

        let (store, report, _) = try reopen(directory, known: known)
        // Start-up reads only its seal, which is intact.
        #expect(report.trusted == 3)
        #expect(report.quarantined.isEmpty)
        // Reading finds it: the records before the damage are sent, the rest cannot be.
        let records = try store.read(.routine, limit: .max)
        #expect(sequenceNumbers(records.map(\.entry)) == Array(0..<14) + Array(20..<35))
        // Past it, the file is kept in quarantine instead of deleted.
        try store.advance(.routine, to: records[20].position)
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/quarantine")
        #expect(quarantined.count == 1)
        #expect(quarantined.first?.hasSuffix("-torn.seg") == true)
        #expect(!FileManager.default.fileExists(atPath: files[0]) && !FileManager.default.fileExists(atPath: files[1]))
        try store.close()
    }
}
