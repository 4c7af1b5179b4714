import Foundation
import Testing
import VigilStore
import VigilTestSupport

/// A quota that fills, and a disk that says ENOSPC: the store keeps going, alerts and abnormal
/// readings outlive routine ones, and every removal leaves a gap record.
@Suite struct FullDiskTests {
    let keyring = Keyring.generate()

    func gaps(_ store: Store) throws -> [DataGap] {
        try store.read(.priority, limit: .max).compactMap { record in
            if case .gap(let gap) = record.entry { return gap }
            return nil
        }
    }

    @Test func aSmallQuotaThinsRoutineReadingsFirstAndKeepsAlertsAndAbnormalOnes() throws {
        let directory = try TemporaryDirectory("quota")
        defer { directory.remove() }
        let options = StoreOptions(segmentBytes: 4_096, quotaBytes: 48_000, reserveBytes: 0, thinningIntervalMilliseconds: 60_000)
        let (store, _) = try openStore(directory.path, keyring: keyring, options: options)
        var abnormal: [UInt32] = []
        for seq in 0..<4_000 as Range<UInt32> {
            let isAbnormal = seq % 97 == 0
            if isAbnormal { abnormal.append(seq) }
            store.append(reading(seq: seq, abnormal: isAbnormal))
            if seq % 500 == 0 { store.append(alert(Int(seq))) }
            if seq % 20 == 19 { #expect(try store.commit().succeeded) }
        }
        let stats = store.stats
        let used = stats.lanes.values.reduce(0) { $0 + $1.bytes }
        #expect(used <= 48_000 + 4_096 * 2, "stays near the quota: \(used)")
        #expect(stats.lanes[.routine]!.thinnedSegments > 0)

        let kept = Set(sequenceNumbers(try store.read(.routine, limit: .max).map(\.entry)))
        #expect(kept.count < 4_000)
        #expect(Set(abnormal).isSubset(of: kept), "abnormal readings outlive routine ones")
        #expect((3_900..<4_000).allSatisfy { kept.contains($0) }, "the newest readings are intact")
        let alerts = try store.read(.priority, limit: .max).filter { if case .alert = $0.entry { true } else { false } }
        #expect(alerts.count == 8, "every alert kept")

        let recorded = try gaps(store)
        #expect(!recorded.isEmpty)
        #expect(recorded.allSatisfy { $0.device == "dev-1" && $0.from <= $0.to && $0.count > 0 })
        let removed = recorded.reduce(0) { $0 + Int($1.count) }
        #expect(removed + kept.count == 4_000, "every removed reading is accounted for in a gap record")
    }

    @Test func enospcEvictsRoutineDataToKeepAlertsAndNeverCrashes() throws {
        let directory = try TemporaryDirectory("enospc")
        defer { directory.remove() }
        let fileSystem = FaultInjectingFileSystem()
        let options = StoreOptions(segmentBytes: 2_048, quotaBytes: 1 << 30, reserveBytes: 0)
        let (store, _) = try openStore(directory.path, keyring: keyring, options: options, fileSystem: fileSystem)
        for seq in 0..<600 as Range<UInt32> {
            store.append(reading(seq: seq))
            if seq % 10 == 9 { _ = try store.commit() }
        }
        // The disk fills up: a few hundred bytes left.
        fileSystem.limitWrites(to: 300)
        var stored = 600
        for seq in 600..<700 as Range<UInt32> {
            store.append(reading(seq: seq))
            if seq % 10 == 9 {
                store.append(alert(Int(seq)))
                let outcome = try store.commit()
                #expect(!outcome.dropped.contains(.priority), "an alert was refused at seq \(seq)")
                if !outcome.dropped.contains(.routine) { stored += 10 }
            }
        }
        #expect(fileSystem.injectedNoSpace > 0)
        fileSystem.limitWrites(to: nil)
        try store.close()

        let (reopened, report) = try openStore(directory.path, keyring: keyring, options: options)
        #expect(report.quarantined.isEmpty)
        let alerts = try reopened.read(.priority, limit: .max).filter { if case .alert = $0.entry { true } else { false } }
        #expect(alerts.count == 10, "every alert survived the full disk")
        let recorded = try gaps(reopened)
        #expect(!recorded.isEmpty, "evictions left gap records")
        // Every stored reading is either still there or counted once in a gap record, also when
        // a thinning could not write its smaller copy and the segment was deleted instead.
        let kept = sequenceNumbers(try reopened.read(.routine, limit: .max).map(\.entry)).count
        #expect(kept + recorded.reduce(0) { $0 + Int($1.count) } == stored)
    }
}
