import Foundation
import Testing
import VigilStore
import VigilTestSupport

/// Damage that is not a torn write: each is detected, the segment is quarantined (never
/// deleted), its valid records are kept, and the store still opens.
@Suite struct TamperingTests {
    let keyring = Keyring.generate()

    /// Three sealed routine segments of 10 readings each (seq 0–29), plus an open fourth.
    func makeStore(_ directory: TemporaryDirectory) throws -> [String] {
        let (store, _) = try openStore(directory.path, keyring: keyring, options: .init(segmentBytes: 700))
        for seq in 0..<30 as Range<UInt32> {
            store.append(reading(seq: seq))
            if seq % 10 == 9 {
                _ = try store.commit()
            }
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/routine").sorted()
        return names.map { directory.path + "/routine/" + $0 }
    }

    func records(in path: String) throws -> [ScannedRecord] {
        try SegmentScanner.scan(Array(try Data(contentsOf: URL(fileURLWithPath: path))), keyring: keyring).records
    }

    func reopen(_ directory: TemporaryDirectory) throws -> (seqs: [UInt32], report: RecoveryReport) {
        let (store, report) = try openStore(directory.path, keyring: keyring, options: .init(segmentBytes: 700))
        return (sequenceNumbers(try store.read(.routine, limit: .max).map(\.entry)).sorted(), report)
    }

    @Test func aSealedSegmentCutShortIsQuarantinedAndItsRecordsKept() throws {
        let directory = try TemporaryDirectory("tamper")
        defer { directory.remove() }
        let files = try makeStore(directory)
        try #require(files.count >= 3)
        let victim = files[0]
        let cut = try records(in: victim)[6].end
        let bytes = try Data(contentsOf: URL(fileURLWithPath: victim))
        try bytes.prefix(cut).write(to: URL(fileURLWithPath: victim))
        let (seqs, report) = try reopen(directory)
        #expect(report.quarantined.map(\.reason) == ["unsealed"])
        #expect(seqs == Array(0..<7) + Array(10..<30))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/quarantine").count == 1)
    }

    @Test func aModifiedRecordWithARecomputedChecksumFailsAuthentication() throws {
        let directory = try TemporaryDirectory("tamper")
        defer { directory.remove() }
        let files = try makeStore(directory)
        let victim = files[1]
        let record = try records(in: victim)[4]
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: victim)))
        bytes[record.start + 12] ^= 0x01
        // Forge the CRC so only the AEAD can notice.
        var crc = CRC32C.checksum(bytes[record.start..<record.start + 5])
        crc = CRC32C.checksum(bytes[record.start + 9..<record.end], seed: crc)
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange(record.start + 5..<record.start + 9, with: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: victim))
        let (seqs, report) = try reopen(directory)
        #expect(report.quarantined.map(\.reason) == ["authentication"])
        #expect(seqs == Array(0..<14) + Array(20..<30))
    }

    @Test func aRecordMovedToAnotherSegmentFailsAuthentication() throws {
        let directory = try TemporaryDirectory("tamper")
        defer { directory.remove() }
        let files = try makeStore(directory)
        let source = try records(in: files[0])[2]
        let target = try records(in: files[1])[2]
        let sourceBytes = Array(try Data(contentsOf: URL(fileURLWithPath: files[0])))
        var targetBytes = Array(try Data(contentsOf: URL(fileURLWithPath: files[1])))
        try #require(source.end - source.start == target.end - target.start)
        targetBytes.replaceSubrange(target.start..<target.end, with: sourceBytes[source.start..<source.end])
        try Data(targetBytes).write(to: URL(fileURLWithPath: files[1]))
        let (seqs, report) = try reopen(directory)
        #expect(report.quarantined.map(\.reason) == ["authentication"])
        #expect(seqs == Array(0..<12) + Array(20..<30))
    }

    @Test func aDamagedHeaderIsQuarantined() throws {
        let directory = try TemporaryDirectory("tamper")
        defer { directory.remove() }
        let files = try makeStore(directory)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: files[2])))
        bytes[9] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: files[2]))
        let (seqs, report) = try reopen(directory)
        #expect(report.quarantined.map(\.reason) == ["header_checksum"])
        #expect(seqs == Array(0..<20))
    }

    @Test func aTornTailOfTheNewestSegmentIsCutAndSealed() throws {
        let directory = try TemporaryDirectory("tamper")
        defer { directory.remove() }
        let (store, _) = try openStore(directory.path, keyring: keyring)
        for seq in 0..<5 as Range<UInt32> { store.append(reading(seq: seq)) }
        _ = try store.commit()
        let newest = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/routine").sorted().last!
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.path + "/routine/" + newest))
        handle.seekToEndOfFile()
        handle.write(Data([0x40, 0, 0, 0, 1, 9, 9]))
        try handle.close()
        let (seqs, report) = try reopen(directory)
        #expect(report.quarantined.isEmpty)
        #expect(report.truncated.map(\.bytes) == [7])
        #expect(seqs == Array(0..<5))
        let verified = try SegmentScanner.scan(Array(try Data(contentsOf: URL(fileURLWithPath: directory.path + "/routine/" + newest))), keyring: keyring)
        #expect(verified.end == .sealed)
    }
}
