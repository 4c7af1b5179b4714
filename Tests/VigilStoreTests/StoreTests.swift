import Foundation
import Testing
import VigilStore
import VigilTestSupport

@Suite struct StoreTests {
    let keyring = Keyring.generate()

    @Test func entriesSurviveReopenInOrderAndAreRestored() throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let (store, _) = try openStore(directory.path, keyring: keyring, options: .init(segmentBytes: 2_048))
        for seq in 0..<200 as Range<UInt32> {
            store.append(reading(seq: seq))
            if seq % 50 == 0 { store.append(alert(Int(seq))) }
            if seq % 7 == 0 { #expect(try store.commit().succeeded) }
        }
        #expect(try store.commit().succeeded)
        #expect(store.stats.lanes[.routine]!.segments > 3, "small segments rotate")

        var restored: [Entry] = []
        let (reopened, report) = try openStore(directory.path, keyring: keyring, options: .init(segmentBytes: 2_048)) { restored.append($0) }
        #expect(report.quarantined.isEmpty && report.truncated.isEmpty)
        #expect(report.sealed == 2, "each lane's open segment is sealed at start")
        let routine = try reopened.read(.routine, limit: .max).map(\.entry)
        #expect(sequenceNumbers(routine) == Array(0..<200))
        #expect(try reopened.read(.priority, limit: .max).map(\.entry) == [0, 50, 100, 150].map(alert))
        #expect(sequenceNumbers(restored) == Array(0..<200))
    }

    @Test func cursorPersistsAndUploadedSegmentsAreDeleted() throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let options = StoreOptions(segmentBytes: 1_024)
        let (store, _) = try openStore(directory.path, keyring: keyring, options: options)
        for seq in 0..<100 as Range<UInt32> {
            store.append(reading(seq: seq))
            if seq % 10 == 9 { _ = try store.commit() }
        }
        let segmentsBefore = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/routine").count
        let first = try store.read(.routine, limit: 60)
        #expect(sequenceNumbers(first.map(\.entry)) == Array(0..<60))
        try store.advance(.routine, to: first.last!.next)
        let segmentsAfter = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/routine").count
        #expect(segmentsAfter < segmentsBefore)

        let (reopened, _) = try openStore(directory.path, keyring: keyring, options: options)
        #expect(sequenceNumbers(try reopened.read(.routine, limit: .max).map(\.entry)) == Array(60..<100))
    }

    /// The last entry of a segment sealed by a stop stays unsent until the uplink confirms it,
    /// however the uplink's reads split the segment. (The end-to-end benchmark found a reading
    /// stranded there: the seal was subtracted from a count that did not include it.)
    @Test(arguments: [Lane.routine, .priority])
    func theLastEntryOfASegmentSealedAtStopIsStillUnsent(_ lane: Lane) throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let entries = (0..<10).map { lane == .routine ? reading(seq: UInt32($0)) : alert($0) }
        let (store, _) = try openStore(directory.path, keyring: keyring)
        for entry in entries { store.append(entry) }
        _ = try store.commit()
        try store.close()

        let (reopened, _) = try openStore(directory.path, keyring: keyring)
        #expect(reopened.unsentCount(lane) == 10)
        let first = try reopened.read(lane, limit: 9)
        try reopened.advance(lane, to: try #require(first.last).next)
        #expect(reopened.hasUnsent(lane), "one entry left")
        #expect(reopened.unsentCount(lane) == 1)
        let rest = try reopened.read(lane, limit: 10)
        #expect(rest.map(\.entry) == [entries[9]])
        try reopened.advance(lane, to: try #require(rest.last).next)
        #expect(!reopened.hasUnsent(lane) && reopened.unsentCount(lane) == 0)
        #expect(reopened.stats.lanes[lane]!.records == 0, "a sealed segment the cursor has passed is deleted")
        try reopened.close()
    }

    /// Once every segment of a lane was uploaded and deleted, a restart must not number the next
    /// segment from 1 again: the cursor would count its entries as sent and they would never be
    /// uploaded. Also: recovery seals an open segment (a crash) with the same counts as a stop.
    @Test(arguments: [Lane.routine, .priority])
    func segmentNumbersDoNotRestartBelowTheCursor(_ lane: Lane) throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let entries = (0..<10).map { lane == .routine ? reading(seq: UInt32($0)) : alert($0) }
        for _ in 0..<2 {
            let (store, _) = try openStore(directory.path, keyring: keyring)
            for entry in entries { store.append(entry) }
            _ = try store.commit()
            try store.close()
            let (reopened, _) = try openStore(directory.path, keyring: keyring)
            let all = try reopened.read(lane, limit: 100)
            try reopened.advance(lane, to: try #require(all.last).next)
            #expect(reopened.stats.lanes[lane]!.segments == 0, "everything uploaded and deleted")
            try reopened.close()
        }
        let (crashed, _) = try openStore(directory.path, keyring: keyring)
        for entry in entries { crashed.append(entry) }
        _ = try crashed.commit()
        let (recovered, report) = try openStore(directory.path, keyring: keyring)
        #expect(report.sealed >= 1)
        #expect(recovered.unsentCount(lane) == 10)
        try recovered.advance(lane, to: try #require(try recovered.read(lane, limit: 9).last).next)
        #expect(try recovered.read(lane, limit: 10).map(\.entry) == [entries[9]])
    }

    /// A live uplink reads each commit's entries as they come: from the tail the store keeps as it
    /// appends, without decrypting the segment again (not even across rotations), and exactly
    /// what a reader gets from disk.
    @Test func freshEntriesAreReadFromTheTailNotDecryptedAgain() throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let options = StoreOptions(segmentBytes: 16 << 10)
        let (store, _) = try openStore(directory.path, keyring: keyring, options: options)
        var live: [StoredRecord] = []
        var from = store.cursor(.routine)
        var seq: UInt32 = 0
        for round in 0..<300 {
            for _ in 0..<(round % 7 + 1) {
                store.append(reading(seq: seq))
                seq += 1
            }
            _ = try store.commit()
            let fresh = try store.read(.routine, from: from, limit: 256)
            live += fresh
            from = fresh.last?.next ?? from
        }
        #expect(store.stats.lanes[.routine]!.segments > 3, "segments rotated")
        #expect(store.segmentScans == 0)
        #expect(sequenceNumbers(live.map(\.entry)) == Array(0..<seq))
        try store.close()

        let (reopened, _) = try openStore(directory.path, keyring: keyring, options: options)
        let disk = try reopened.read(.routine, limit: .max)
        // (`next` of a segment's last entry differs: read live it is past the entry in the same
        // segment, read sealed it is the following segment's start; both are the same place.)
        #expect(disk.count == live.count)
        #expect(disk.map(\.position) == live.map(\.position), "same positions")
        #expect(disk.map(\.entry) == live.map(\.entry), "same entries")
        #expect(reopened.segmentScans > 0)
    }

    @Test func aFailedSyncIsFatal() throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let (store, _) = try openStore(directory.path, keyring: keyring, fileSystem: fileSystem)
        store.append(reading(seq: 1))
        fileSystem.failSyncs(true)
        #expect {
            _ = try store.commit()
        } throws: { error in
            guard case .syncFailed? = error as? StoreError else { return false }
            return true
        }
    }

    @Test func shortWritesAreCompleted() throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        fileSystem.shortenWrites(true)
        let (store, _) = try openStore(directory.path, keyring: keyring, fileSystem: fileSystem)
        for seq in 0..<50 as Range<UInt32> { store.append(reading(seq: seq)) }
        #expect(try store.commit().succeeded)
        let (reopened, report) = try openStore(directory.path, keyring: keyring)
        #expect(report.quarantined.isEmpty)
        #expect(sequenceNumbers(try reopened.read(.routine, limit: .max).map(\.entry)) == Array(0..<50))
    }

    @Test func noPlaintextReachesTheDisk() throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let (store, _) = try openStore(directory.path, keyring: keyring)
        let canary = "Patient/CANARY-7f3a"
        let marker: Int16 = 0x5A5B
        for seq in 0..<100 as Range<UInt32> {
            let value = StoredReading(seq: seq, time: 1_795_000_000_000, deviceTime: 0,
                                      values: [.init(channel: .heartRate, raw: marker), .init(channel: .pulseRate, raw: marker)])
            store.append(.readings(ReadingBatch(device: "canary-dev", patient: canary, boot: 1, timeQuality: .device,
                                                    receivedAt: 0, readings: [value])))
        }
        var event = AlertEvent(kind: .raise, model: "test")
        event.response = "CANARY-ALERT"
        store.append(.alert(AlertEntry(device: "canary-dev", patient: canary, time: 0, event: event)))
        _ = try store.commit()
        try store.close()
        let needles: [[UInt8]] = [Array(canary.utf8), Array("canary-dev".utf8), Array("CANARY-ALERT".utf8), [0x5B, 0x5A, 0x02, 0x5B, 0x5A]]
        var searched = 0
        for file in try FileManager.default.subpathsOfDirectory(atPath: directory.path) {
            let path = directory.path + "/" + file
            guard let bytes = FileManager.default.contents(atPath: path) else { continue }
            searched += bytes.count
            for needle in needles { #expect(!contains(Array(bytes), needle), "plaintext in \(file)") }
        }
        #expect(searched > 100 * 20)
        // The same needle is found when it is there: the search itself works.
        #expect(contains(Array("xx\(canary)yy".utf8), Array(canary.utf8)))
    }

    @Test func rotatedKeysEncryptNewSegmentsAndOldOnesStayReadable() throws {
        let directory = try TemporaryDirectory("store")
        defer { directory.remove() }
        let (store, _) = try openStore(directory.path, keyring: keyring)
        store.append(reading(seq: 1))
        _ = try store.commit()
        try store.close()
        let rotated = keyring.rotated()
        let (reopened, _) = try openStore(directory.path, keyring: rotated)
        reopened.append(reading(seq: 2))
        _ = try reopened.commit()
        #expect(reopened.stats.keyIDs == [1, 2])
        #expect(sequenceNumbers(try reopened.read(.routine, limit: .max).map(\.entry)) == [1, 2])
        try reopened.close()
        // Without the old key its segment cannot be read: it is quarantined, not silently dropped.
        let (withoutOld, report) = try openStore(directory.path, keyring: Keyring(keys: [2: rotated.key(2)!]))
        #expect(report.quarantined.map(\.reason).contains("unknown_key(1)"))
        #expect(sequenceNumbers(try withoutOld.read(.routine, limit: .max).map(\.entry)) == [2])
    }
}

func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard needle.count <= haystack.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
        if Array(haystack[start..<start + needle.count]) == needle { return true }
    }
    return false
}
