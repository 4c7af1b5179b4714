import Foundation
import Logging
import Testing
import VigilStore
import VigilTestSupport

/// `vigil store …` and `vigil keys …` as a technician runs them, on a real store directory.
@Suite struct StoreCommandTests {
    let vigil = builtProduct("vigil")

    struct Setup {
        let directory: TemporaryDirectory
        let config: String
        var keyFile: String { directory.file("store.keys") }
        var storeDirectory: String { directory.path + "/state/log" }
    }

    func setUp() throws -> Setup {
        let directory = try TemporaryDirectory("store-cli")
        let config = try writeAgentConfig(in: directory, gateway: "gw-cli")
        return Setup(directory: directory, config: config)
    }

    /// Writes readings of two patients (heart rate 72.5, SpO2 97.0) and one gap, through the library.
    func fill(_ setup: Setup, keyring: Keyring) throws {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let (store, _) = try Store.open(directory: setup.storeDirectory, keyring: keyring, logger: logger)
        for (index, device) in ["ring-1", "ring-2"].enumerated() {
            for seq in 0..<3 as Range<UInt32> {
                store.append(.readings(ReadingBatch(
                    device: device, patient: "Patient/p\(index)", boot: 1, timeQuality: .device, receivedAt: 0,
                    readings: [StoredReading(seq: seq, time: 1_795_350_000_000 + Int64(seq) * 60_000, deviceTime: 0,
                                             values: [.init(channel: .heartRate, raw: 725), .init(channel: .spo2, raw: 970)])])))
            }
        }
        store.append(.gap(DataGap(device: "ring-1", patient: "Patient/p0", reason: .evicted, from: 1_795_000_000_000,
                                  to: 1_795_000_600_000, count: 10)))
        _ = try store.commit()
        try store.close()
    }

    @Test func keysInitCreatesAPrivateFileAndRefusesToOverwrite() async throws {
        let setup = try setUp()
        defer { setup.directory.remove() }
        let created = try await runProcess(vigil, ["keys", "init", "--config", setup.config])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("created \(setup.keyFile) with key 1"))
        let mode = try FileManager.default.attributesOfItem(atPath: setup.keyFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try await runProcess(vigil, ["keys", "init", "--config", setup.config])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
        #expect(!created.stdout.contains(try String(contentsOfFile: setup.keyFile, encoding: .utf8).split(separator: " ").last!.prefix(16)))
    }

    @Test func rotateAddsAKeyKeepsUsedOnesAndDropsUnusedOnes() async throws {
        let setup = try setUp()
        defer { setup.directory.remove() }
        #expect(try await runProcess(vigil, ["keys", "init", "--config", setup.config]).status == 0)
        try fill(setup, keyring: try Keyring.load(path: setup.keyFile))
        let first = try await runProcess(vigil, ["keys", "rotate", "--config", setup.config])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("key 2 is now current"))
        #expect(first.stdout.contains("kept for existing segments: 1"))
        #expect(try Keyring.load(path: setup.keyFile).keys.keys.sorted() == [1, 2])
        // Old data still reads with the rotated file.
        let stats = try await runProcess(vigil, ["store", "stats", "--config", setup.config])
        #expect(stats.stdout.contains("routine: ") && stats.stdout.contains("6 records"), "\(stats.stdout)")
        #expect(stats.stdout.contains("keys: current 2, used by segments: 1"))

        // Once no segment uses key 1, the next rotation drops it.
        try FileManager.default.removeItem(atPath: setup.storeDirectory)
        let second = try await runProcess(vigil, ["keys", "rotate", "--config", setup.config])
        // Keys 1 and 2 MAC'd audit entries (keys.init, the first rotation): they stay, so the
        // whole audit chain stays verifiable.
        #expect(second.stdout.contains("key 3 is now current") && second.stdout.contains("kept for existing segments: 1, 2"), "\(second.stdout)")
        #expect(try Keyring.load(path: setup.keyFile).keys.keys.sorted() == [1, 2, 3])

        // Each key change is in the audit log (ids only), and the chain verifies.
        let shown = try await runProcess(vigil, ["audit", "show", "--config", setup.config])
        let actions = shown.stdout.split(separator: "\n").compactMap { try? jsonObject(String($0))["action"] as? String }
        #expect(actions == ["keys.init", "keys.rotate", "keys.rotate"], "\(shown.stdout)")
        #expect(shown.stdout.contains(#""current_key":"3""#) && shown.stdout.contains(#""dropped_keys":"""#))
        let key = try String(contentsOfFile: setup.keyFile, encoding: .utf8).split(separator: " ").last!.prefix(16)
        #expect(!shown.stdout.contains(key), "no key material in the audit log")
        let verified = try await runProcess(vigil, ["audit", "verify", "--config", setup.config])
        #expect(verified.status == 0 && verified.stdout.contains("ok: 3 entries, MACs and chain intact; head 3:"), "\(verified.stdout)")
        // An edited entry no longer verifies under its MAC.
        let auditPath = setup.directory.path + "/state/audit/audit.log"
        let text = try String(contentsOfFile: auditPath, encoding: .utf8)
        try text.replacingOccurrences(of: #""current_key":"2""#, with: #""current_key":"9""#).write(toFile: auditPath, atomically: true, encoding: .utf8)
        let tampered = try await runProcess(vigil, ["audit", "verify", "--config", setup.config])
        #expect(tampered.status == 65 && tampered.stdout.contains("line 2 is forged"), "\(tampered.stdout)")
    }

    @Test func theAgentRefusesAKeyFileOthersCanRead() async throws {
        let setup = try setUp()
        defer { setup.directory.remove() }
        try Keyring.generate().fileContents.write(toFile: setup.keyFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: setup.keyFile)
        let result = try await runProcess(vigil, ["run", "--config", setup.config])
        #expect(result.status == 78)
        #expect(result.stderr.contains("mode 644 lets others read it; run chmod 600"), "\(result.stderr)")
    }

    @Test func theAgentWillNotReKeyALogWhoseKeyFileIsMissing() async throws {
        let setup = try setUp()
        defer { setup.directory.remove() }
        try fill(setup, keyring: .generate())
        let result = try await runProcess(vigil, ["run", "--config", setup.config])
        #expect(result.status == 78)
        #expect(result.stderr.contains("is missing but") && result.stderr.contains("holds encrypted segments"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: setup.keyFile))
    }

    @Test func exportIsAuditedAndDeidentifies() async throws {
        let setup = try setUp()
        defer { setup.directory.remove() }
        #expect(try await runProcess(vigil, ["keys", "init", "--config", setup.config]).status == 0)
        try fill(setup, keyring: try Keyring.load(path: setup.keyFile))

        let plain = try await runProcess(vigil, ["store", "export", "--config", setup.config, "--device", "ring-2"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let lines = plain.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0] == #"{"type":"reading","device":"ring-2","patient":"Patient/p1","boot":1,"seq":0,"time":"2026-11-22T12:20:00.000Z","time_quality":"device","abnormal":false,"quality":"good","values":{"hr":72.5,"spo2":97.0}}"#)

        let all = try await runProcess(vigil, ["store", "export", "--config", setup.config, "--since", "2026-11-22T12:21:00Z"])
        #expect(all.stdout.split(separator: "\n").count == 4, "two readings per device from 09:01, and no gap (it ended before)")

        let research = try await runProcess(vigil, ["store", "export", "--config", setup.config, "--deidentify"])
        #expect(research.status == 0)
        #expect(research.stdout.split(separator: "\n").count == 7)
        for identifier in ["ring-1", "ring-2", "Patient/p0", "Patient/p1", "2026-11-22T12:20:00.000Z"] {
            #expect(!research.stdout.contains(identifier), "\(identifier) leaked into a de-identified export")
        }
        #expect(research.stdout.contains(#""values":{"hr":72.5,"spo2":97.0}"#), "values are kept")

        let audit = try String(contentsOfFile: setup.directory.path + "/state/audit/audit.log", encoding: .utf8)
        let entries = audit.split(separator: "\n")
        #expect(entries.count == 4)
        #expect(entries[0].contains(#""action":"keys.init""#))
        #expect(entries.dropFirst().allSatisfy { $0.contains(#""action":"store.export""#) })
        #expect(entries[3].contains(#""deidentify":"true""#))
        #expect(!audit.contains("72.5"))

        // The audit chain: editing a line is detected by verify.
        #expect(try await runProcess(vigil, ["store", "verify", "--config", setup.config]).status == 0)
        try audit.replacingOccurrences(of: #""device":"ring-2""#, with: #""device":"ring-9""#)
            .write(toFile: setup.directory.path + "/state/audit/audit.log", atomically: true, encoding: .utf8)
        let verify = try await runProcess(vigil, ["store", "verify", "--config", setup.config])
        #expect(verify.status == 65)
        #expect(verify.stdout.contains("DAMAGED audit log: line 2 is forged"), "\(verify.stdout)")
    }

    @Test func verifyReportsADamagedSegment() async throws {
        let setup = try setUp()
        defer { setup.directory.remove() }
        #expect(try await runProcess(vigil, ["keys", "init", "--config", setup.config]).status == 0)
        // Two fills: two sealed routine segments, so the damaged one is not the newest (whose
        // tail may legitimately be mid-write while the agent runs).
        try fill(setup, keyring: try Keyring.load(path: setup.keyFile))
        try fill(setup, keyring: try Keyring.load(path: setup.keyFile))
        let good = try await runProcess(vigil, ["store", "verify", "--config", setup.config])
        #expect(good.status == 0 && good.stdout.contains("ok: "), "\(good.stdout)")
        let routine = setup.storeDirectory + "/routine/"
        let segment = routine + (try FileManager.default.contentsOfDirectory(atPath: routine).sorted().first!)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: segment)))
        bytes[SegmentHeader.size + 20] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: segment))
        let bad = try await runProcess(vigil, ["store", "verify", "--config", setup.config])
        #expect(bad.status == 65)
        #expect(bad.stdout.contains("DAMAGED routine/"), "\(bad.stdout)")
    }
}
