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
