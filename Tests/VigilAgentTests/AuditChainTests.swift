import Crypto
import Foundation
import Testing
import VigilCore
import VigilFormats
import VigilProvisioning
import VigilStore
import VigilTestSupport

/// The audit log's keyed chain against the attacks it must tell apart: an edited, inserted or
/// forged line, a chain re-computed without the key, entries removed from the middle, a tail cut
/// off (caught by the head record, and by the hospital's chain head when the head record goes
/// too), a chain re-written with the key (caught only by the hospital's head).
@Suite struct AuditChainTests {
    let keyring = Keyring.generate()

    func log(entries: Int) throws -> (AuditLog, TemporaryDirectory) {
        let directory = try TemporaryDirectory("audit")
        let log = AuditLog(directory: directory.path, keys: AuditKeys(keyring: keyring))
        for index in 0..<entries {
            try log.append(action: "phi.view", details: [("what", "readings"), ("subject", "ring-\(index)")],
                           caller: AuditCaller(uid: 1000, user: "nurse", role: "clinician", pid: 42))
        }
        return (log, directory)
    }

    func lines(_ log: AuditLog) throws -> [String] {
        try String(contentsOfFile: log.path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func write(_ log: AuditLog, _ lines: [String]) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: log.path, atomically: true, encoding: .utf8)
    }

    /// What the uplink sends: entries as the log grows, from the cursor the hospital confirmed,
    /// which survives a restart; a log replaced under it is read again, past the cursor only.
    @Test func theTailHandsTheUplinkEachEntryOnceFromItsCursor() throws {
        let (log, directory) = try log(entries: 3)
        defer { directory.remove() }
        let tail = AuditTail(log: log)
        let first = tail.pending(limit: 10)
        #expect(first.map(\.seq) == [1, 2, 3])
        #expect(first.map { String(decoding: $0.line, as: UTF8.self) } == (try lines(log)))
        #expect(first[1].prev == first[0].mac && first[0].fields["action"] == "phi.view" && first[0].fields["mac"] == nil && first[0].key != "none")
        #expect(tail.pending(limit: 2).map(\.seq) == [1, 2])
        try tail.confirm(through: AuditChain.Head(seq: 2, mac: first[1].mac))
        #expect(try String(contentsOfFile: tail.cursorPath, encoding: .utf8) == "2 \(first[1].mac)\n")
        #expect(tail.pending(limit: 10).map(\.seq) == [3])
        try log.append(action: "store.export", details: [], caller: AuditCaller(uid: 0, user: "root", role: "operator"))
        try log.append(action: "keys.rotate", details: [], caller: AuditCaller(uid: 0, user: "root", role: "operator"))
        #expect(tail.pending(limit: 10).map(\.seq) == [3, 4, 5])
        // A restart: the cursor is read back.
        let restarted = AuditTail(log: log)
        #expect(restarted.confirmed?.seq == 2)
        #expect(restarted.pending(limit: 10).map(\.seq) == [3, 4, 5])
        // The log replaced (a new file): read again, nothing at or before the cursor resent.
        let all = try lines(log)
        try write(log, all + [all[4]])
        #expect(restarted.pending(limit: 10).map(\.seq) == [3, 4, 5, 5])
        #expect(restarted.unreadableLines == 0)
    }

    @Test func anIntactLogVerifiesWithItsHeadAndTheHospitalsAnchor() throws {
        let (log, directory) = try log(entries: 5)
        defer { directory.remove() }
        let result = try log.verify()
        #expect(result.intact && result.entries == 5 && result.unkeyed == 0)
        let head = try #require(result.head)
        #expect(head.seq == 5)
        #expect(try log.verify(anchor: head).intact)
        #expect(try log.verify(anchor: AuditChain.Head(seq: 3, mac: lines(log)[2].suffix(66).prefix(64).description)).intact)
    }

    @Test func anEditedLineIsForged() throws {
        let (log, directory) = try log(entries: 5)
        defer { directory.remove() }
        var text = try lines(log)
        text[2] = text[2].replacingOccurrences(of: "ring-2", with: "ring-9")
        try write(log, text)
        #expect(try log.verify().problem == .forged(line: 3))
    }

    @Test func anInsertedLineIsForged() throws {
        let (log, directory) = try log(entries: 4)
        defer { directory.remove() }
        var text = try lines(log)
        // A plausible entry linked to line 2, with a MAC made without the key.
        let fake = AuditChain.seal(seq: 3, fields: [("action", "keys.rotate")], previous: String(text[1].suffix(66).prefix(64)),
                                   key: (1, .init(size: .bits256)))
        text.insert(fake, at: 2)
        try write(log, text)
        #expect(try log.verify().problem == .forged(line: 3))
    }

    @Test func aChainRecomputedWithoutTheKeyIsRewritten() throws {
        let (log, directory) = try log(entries: 5)
        defer { directory.remove() }
        let text = try lines(log)
        // From line 3 on, every entry re-sealed under a guessed key, each linked to the last.
        var rewritten = Array(text.prefix(2))
        var previous = String(text[1].suffix(66).prefix(64))
        let guess = SymmetricKeyStandIn.key
        for seq in 3...5 {
            let line = AuditChain.seal(seq: UInt64(seq), fields: [("action", "store.export")], previous: previous, key: (1, guess))
            rewritten.append(line)
            previous = String(line.suffix(66).prefix(64))
        }
        try write(log, rewritten)
        #expect(try log.verify().problem == .rewritten(fromLine: 3))
    }

    @Test func entriesRemovedFromTheMiddleAreFound() throws {
        let (log, directory) = try log(entries: 5)
        defer { directory.remove() }
        var text = try lines(log)
        text.remove(at: 2)
        try write(log, text)
        #expect(try log.verify().problem == .removed(line: 3))
    }

    @Test func aTruncatedTailIsFoundByTheHeadRecordAndByTheHospitalsAnchor() throws {
        let (log, directory) = try log(entries: 5)
        defer { directory.remove() }
        let anchor = try #require(try log.verify().head)
        try write(log, Array(try lines(log).prefix(3)))
        #expect(try log.verify().problem == .truncated(lastSeq: 3, expected: 5))
        // The head record removed too: the box alone cannot tell; the hospital's head can.
        try FileManager.default.removeItem(atPath: log.headPath)
        #expect(try log.verify().problem == .headMissing)
        #expect(try log.verify(anchor: anchor).problem == .truncated(lastSeq: 3, expected: 5))
        // A head record written without the key is forged.
        try "3 \(String(repeating: "a", count: 64)) 1 \(String(repeating: "b", count: 64))\n".write(toFile: log.headPath, atomically: true, encoding: .utf8)
        #expect(try log.verify().problem == .headForged)
    }

    @Test func aChainRewrittenWithTheKeyDiffersFromTheHospitalsHead() throws {
        let (log, directory) = try log(entries: 4)
        defer { directory.remove() }
        let anchor = try #require(try log.verify().head)
        // Someone holding the store key writes a different history of the same length.
        try FileManager.default.removeItem(atPath: log.path)
        try FileManager.default.removeItem(atPath: log.headPath)
        for _ in 0..<4 { try log.append(action: "config.changed", details: []) }
        #expect(try log.verify().intact, "locally indistinguishable")
        #expect(try log.verify(anchor: anchor).problem == .rewrittenAgainstAnchor(seq: 4))
    }

    @Test func unkeyedAndFormatOneEntriesAreAcceptedOnlyBeforeTheFirstKeyedOne() throws {
        let directory = try TemporaryDirectory("audit")
        defer { directory.remove() }
        // Format 1: a SHA-256 chain without numbers or MACs, as vigil 0.1 wrote it.
        let first = #"{"time":"2026-11-01T00:00:00Z","action":"keys.init","uid":"0","user":"root","prev":"\#(AuditChain.origin)"}"#
        let second = #"{"time":"2026-11-01T00:00:01Z","action":"device.add","uid":"0","user":"root","prev":"\#(hexEncoded(SHA256Digest.of(first)))"}"#
        try (first + "\n" + second + "\n").write(toFile: directory.path + "/audit.log", atomically: true, encoding: .utf8)
        let unkeyed = AuditLog(directory: directory.path, keys: nil)
        try unkeyed.append(action: "sensor.add", details: [])
        let keyed = AuditLog(directory: directory.path, keys: AuditKeys(keyring: keyring))
        try keyed.append(action: "keys.rotate", details: [])
        let result = try keyed.verify()
        #expect(result.intact && result.entries == 4 && result.unkeyed == 3, "\(String(describing: result.problem))")
        #expect(throws: AuditLogError.self) { try unkeyed.append(action: "sensor.add", details: []) }
        // An unkeyed line appended after a keyed one is a downgrade.
        var text = try lines(keyed)
        text.append(AuditChain.seal(seq: 5, fields: [("action", "store.export")], previous: String(text[3].suffix(66).prefix(64)), key: nil))
        try write(keyed, text)
        #expect(try keyed.verify().problem == .downgraded(line: 5))
    }

    @Test func aDuplicatedFieldOrATrailingMemberMakesALineUnreadable() throws {
        let (log, directory) = try log(entries: 2)
        defer { directory.remove() }
        var text = try lines(log)
        text[1] = text[1].replacingOccurrences(of: #"{"seq":"2","#, with: #"{"seq":"2","seq":"7","#)
        try write(log, text)
        #expect(try log.verify().problem == .unreadable(line: 2))
    }
}

/// A key an attacker might use: any key that is not the store's.
enum SymmetricKeyStandIn {
    static let key = AuditKeys(keyring: .generate()).current.key
}

enum SHA256Digest {
    static func of(_ text: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(text.utf8)))
    }
}
