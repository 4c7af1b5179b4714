import Crypto

/// One decrypted record found by a scan.
public struct ScannedRecord: Sendable {
    public let index: UInt64
    public let type: RecordType
    public let crc: UInt32
    public let plaintext: [UInt8]
    /// Byte offsets of the record in the file.
    public let start: Int
    public let end: Int
}

/// How a segment's bytes end.
public enum SegmentEnd: Sendable, Equatable {
    /// Every byte parsed, no seal: the segment being written (or one cut short by a crash).
    case open
    /// A valid seal whose count and digest match, and nothing after it.
    case sealed
    /// An incomplete record or a CRC mismatch at `offset`: what a torn write leaves.
    case torn(offset: Int)
    /// A record that frames correctly but fails authentication, an unknown type, bytes after the
    /// seal, or a seal that does not match: not a torn write. Records before `offset` are valid.
    case damaged(offset: Int, reason: String)
}

public struct ScannedSegment: Sendable {
    public let header: SegmentHeader
    /// Valid records in order, excluding the seal.
    public let records: [ScannedRecord]
    public let end: SegmentEnd
    /// Length of the valid prefix (header, records and seal if any).
    public let validLength: Int
}

/// Reads a segment's bytes: pure, no I/O.
public enum SegmentScanner {
    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case header(SegmentHeader.Problem)
        case unknownKey(UInt32)

        public var description: String {
            switch self {
            case .header(let problem): problem.rawValue
            case .unknownKey(let id): "unknown_key(\(id))"
            }
        }
    }

    /// - Parameter decrypt: `false` checks framing, CRCs and the seal only (faster, no plaintext).
    public static func scan(_ bytes: [UInt8], keyring: Keyring, decrypt: Bool = true) throws(Problem) -> ScannedSegment {
        let header: SegmentHeader
        do {
            header = try SegmentHeader.decode(bytes)
        } catch {
            throw .header(error)
        }
        guard let master = keyring.key(header.keyID) else { throw .unknownKey(header.keyID) }
        let cipher = SegmentCipher(master: master, header: header)
        var records: [ScannedRecord] = []
        var digest = SealDigest()
        var offset = SegmentHeader.size
        var index: UInt64 = 0
        func finish(_ end: SegmentEnd) -> ScannedSegment {
            ScannedSegment(header: header, records: records, end: end, validLength: offset)
        }
        while offset < bytes.count {
            guard bytes.count - offset >= RecordFraming.prefixSize else { return finish(.torn(offset: offset)) }
            var reader = ByteReader(bytes, offset: offset)
            let length = Int(try! reader.u32())
            let typeByte = try! reader.u8()
            let crc = try! reader.u32()
            let sealedStart = offset + RecordFraming.prefixSize
            guard length <= RecordFraming.maxSealedSize, length >= SegmentCipher.tagSize, bytes.count - sealedStart >= length
            else { return finish(.torn(offset: offset)) }
            var expected = CRC32C.checksum(bytes[offset..<offset + 5])
            expected = CRC32C.checksum(bytes[sealedStart..<sealedStart + length], seed: expected)
            guard expected == crc else { return finish(.torn(offset: offset)) }
            guard let type = RecordType(rawValue: typeByte) else {
                return finish(.damaged(offset: offset, reason: "unknown_record_type"))
            }
            let sealed = bytes[sealedStart..<sealedStart + length]
            let end = sealedStart + length
            if type == .seal {
                guard let plaintext = try? cipher.open(sealed, index: index, type: .seal) else {
                    return finish(.damaged(offset: offset, reason: "authentication"))
                }
                guard plaintext == digest.plaintext else { return finish(.damaged(offset: offset, reason: "seal_mismatch")) }
                guard end == bytes.count else {
                    offset = end
                    return finish(.damaged(offset: end, reason: "data_after_seal"))
                }
                offset = end
                return finish(.sealed)
            }
            var plaintext: [UInt8] = []
            if decrypt {
                do {
                    plaintext = try cipher.open(sealed, index: index, type: type)
                } catch {
                    return finish(.damaged(offset: offset, reason: "authentication"))
                }
            }
            records.append(ScannedRecord(index: index, type: type, crc: crc, plaintext: plaintext, start: offset, end: end))
            digest.add(crc: crc)
            index += 1
            offset = end
        }
        return finish(.open)
    }
}

/// A sealed segment as the store last knew it: enough to open it at start without reading its
/// records (``SegmentScanner/openSealed(header:tail:fileSize:expected:keyring:)``).
public struct SegmentSummary: Sendable, Equatable, Codable {
    public var id: UInt64
    /// Bytes of the file, seal included.
    public var size: Int
    /// Entries, not counting the seal.
    public var records: UInt64
    public var thinning: UInt8

    public init(id: UInt64, size: Int, records: UInt64, thinning: UInt8) {
        self.id = id
        self.size = size
        self.records = records
        self.thinning = thinning
    }
}

extension SegmentScanner {
    /// The seal record's bytes in the file: its framing and 40 bytes of plaintext with the tag.
    static let sealRecordSize = RecordFraming.prefixSize + 40 + SegmentCipher.tagSize

    /// Checks a sealed segment from its first and last bytes only, against what the store knew
    /// of it: the header (its CRC), the file's size, and the seal, which must frame correctly,
    /// authenticate at index `expected.records` (the index is in the nonce and the associated
    /// data) and count that many records. The records themselves are not read: their CRCs and
    /// tags are checked when they are (``Store/read(_:from:limit:)``). `nil` when anything
    /// differs: the caller scans the whole segment.
    static func openSealed(header headerBytes: [UInt8], tail: [UInt8], fileSize: Int, expected: SegmentSummary,
                           keyring: Keyring) -> SegmentHeader? {
        guard fileSize == expected.size, fileSize >= SegmentHeader.size + sealRecordSize, tail.count == sealRecordSize,
              let header = try? SegmentHeader.decode(headerBytes), header.id == expected.id,
              header.thinning == expected.thinning, let master = keyring.key(header.keyID) else { return nil }
        var reader = ByteReader(tail, offset: 0)
        guard let length = try? reader.u32(), Int(length) == sealRecordSize - RecordFraming.prefixSize,
              let type = try? reader.u8(), type == RecordType.seal.rawValue, let crc = try? reader.u32() else { return nil }
        var expectedCRC = CRC32C.checksum(tail[0..<5])
        expectedCRC = CRC32C.checksum(tail[RecordFraming.prefixSize...], seed: expectedCRC)
        guard crc == expectedCRC,
              let plaintext = try? SegmentCipher(master: master, header: header)
                  .open(tail[RecordFraming.prefixSize...], index: expected.records, type: .seal) else { return nil }
        var count = ByteReader(plaintext, offset: 0)
        guard plaintext.count == 40, (try? count.u64()) == expected.records else { return nil }
        return header
    }
}
