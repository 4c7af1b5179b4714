import Foundation
import Synchronization
import Testing
import VigilStore
import VigilTestSupport

/// The checkpoint file beside the log, and the guard the store asks before entries leave it.
@Suite struct CheckpointTests {
    @Test func roundTripsSealedAndRefusesADamagedOrForeignFile() throws {
        let directory = try TemporaryDirectory("checkpoint")
        defer { directory.remove() }
        let keyring = Keyring.generate()
        let file = CheckpointFile(directory: directory.path, keyring: keyring)
        #expect(try file.read() == nil, "no checkpoint yet")
        let payload = Array(#"{"patient":"Patient/secret"}"#.utf8)
        try file.write(payload)
        #expect(try file.read() == payload)
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file.path)))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("secret"), "sealed, not plaintext")
        #expect(file.keyID() == keyring.currentID)

        // A rotated keyring still opens it (the key id is in the header); a foreign one does not.
        #expect(try CheckpointFile(directory: directory.path, keyring: keyring.rotated()).read() == payload)
        #expect(throws: CheckpointFile.ReadError.self) { try CheckpointFile(directory: directory.path, keyring: .generate()).read() }

        var damaged = bytes
        damaged[damaged.count / 2] ^= 0x01
        try Data(damaged).write(to: URL(fileURLWithPath: file.path))
        #expect(throws: CheckpointFile.ReadError.authentication) { try file.read() }
    }

    @Test func keysInUseIncludeTheCheckpoints() throws {
        let directory = try TemporaryDirectory("checkpoint-keys")
        defer { directory.remove() }
        let keyring = Keyring.generate().rotated()
        try CheckpointFile(directory: directory.path, keyring: keyring).write([1, 2, 3])
        #expect(try StoreInspector(directory: directory.path, keyring: keyring).keyIDsInUse().contains(keyring.currentID))
    }

    /// Uploaded segments are deleted only once the guard lets them go; a refused one stays, and
    /// goes at the next confirmation once the guard agrees.
    @Test func uploadedSegmentsLeaveOnlyWhenTheGuardLetsThem() throws {
        let directory = try TemporaryDirectory("checkpoint-guard")
        defer { directory.remove() }
        let (store, _) = try openStore(directory.path, keyring: .generate(), options: StoreOptions(segmentBytes: 256, quotaBytes: 1 << 20, reserveBytes: 0))
        for seq in UInt32(0)..<20 {
            store.append(reading(seq: seq))
            _ = try store.commit()
        }
        let allow = Mutex(false)
        let asked = Mutex<[Position]>([])
        store.guardRemovals { lane, end in
            asked.withLock { $0.append(end) }
            return lane == .routine && allow.withLock { $0 }
        }
        func segments() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: directory.path + "/routine").count }
        let before = try segments()
        #expect(before > 2)
        try store.advance(.routine, to: store.end(.routine))
        #expect(try segments() == before, "refused: nothing deleted")
        #expect(asked.withLock { $0.count } == 1, "asked once, for the oldest segment")
        allow.withLock { $0 = true }
        try store.advance(.routine, to: store.end(.routine))
        #expect(try segments() == 1, "every sealed segment went; the active one stays")
    }
}
