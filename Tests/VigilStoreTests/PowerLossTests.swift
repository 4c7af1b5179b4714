import Testing
import VigilCore
import VigilStore
import VigilTestSupport

/// Power cuts at random file-system calls on a simulated disk that keeps only what was synced
/// (plus a random, possibly garbled, part of what was not): after recovery the log must hold
/// exactly a prefix of what was appended, and at least everything a commit confirmed.
@Suite struct PowerLossTests {
    @Test(arguments: 0..<200 as Range<UInt64>)
    func recoveryKeepsExactlyAPrefixIncludingEverythingSynced(seed: UInt64) throws {
        var random = SplitMix64(seed: seed &* 31 &+ 7)
        let disk = SimulatedDisk(seed: seed)
        let keyring = Keyring(keys: [1: .init(data: [UInt8](repeating: UInt8(seed & 0xFF), count: 32))])
        let options = StoreOptions(segmentBytes: 512 + Int(random.next() % 1_024))
        var (store, _) = try openStore("/state/log", keyring: keyring, options: options, fileSystem: disk)
        var appended: [UInt32] = []
        var confirmed = 0
        var alertsConfirmed = 0
        var alerts = 0
        let cutAt = Int(random.next() % 400)
        disk.cutPower(afterCalls: cutAt)
        var seq: UInt32 = 0
        operations: for _ in 0..<120 {
            let batch = 1 + Int(random.next() % 6)
            var pending: [UInt32] = []
            for _ in 0..<batch {
                store.append(reading(seq: seq))
                pending.append(seq)
                seq += 1
            }
            let withAlert = random.next() % 5 == 0
            if withAlert { store.append(alert(alerts)) }
            do {
                let outcome = try store.commit()
                guard outcome.succeeded else { break operations }
            } catch {
                break operations
            }
            appended += pending
            confirmed = appended.count
            if withAlert {
                alerts += 1
                alertsConfirmed = alerts
            }
        }
        // Whatever was queued when the power failed may or may not have reached the disk.
        let maybe = Array(appended.count..<Int(seq)).map(UInt32.init)
        disk.crash(garble: seed % 2 == 0)

        if random.next() % 3 == 0 {
            // The power fails again during recovery.
            disk.cutPower(afterCalls: Int(random.next() % 40))
            _ = try? openStore("/state/log", keyring: keyring, options: options, fileSystem: disk)
            disk.crash(garble: seed % 3 == 0)
        }
        var restored: [Entry] = []
        let report: RecoveryReport
        (store, report) = try openStore("/state/log", keyring: keyring, options: options, fileSystem: disk) { restored.append($0) }
        let recovered = sequenceNumbers(try store.read(.routine, limit: .max).map(\.entry))
        let possible = appended + maybe
        #expect(recovered.count >= confirmed, "lost a synced record (cut at call \(cutAt))")
        #expect(Array(possible.prefix(recovered.count)) == recovered, "not a prefix of what was written")
        #expect(sequenceNumbers(restored) == recovered)
        let recoveredAlerts = try store.read(.priority, limit: .max).count
        #expect(recoveredAlerts >= alertsConfirmed && recoveredAlerts <= alerts + 1)
        #expect(report.quarantined.isEmpty, "a torn tail is cut, not quarantined: \(report.quarantined)")

        // Recovery is stable: opening again finds the same records and nothing to repair.
        let (again, second) = try openStore("/state/log", keyring: keyring, options: options, fileSystem: disk)
        #expect(sequenceNumbers(try again.read(.routine, limit: .max).map(\.entry)) == recovered)
        #expect(second.truncated.isEmpty && second.quarantined.isEmpty)
    }
}
