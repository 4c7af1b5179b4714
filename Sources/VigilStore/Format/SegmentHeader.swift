/// The store keeps two logs ("lanes"): alerts and data-gap records go out first and are evicted
/// last; routine readings are the bulk and are thinned first when space runs out.
public enum Lane: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case priority = 1
    case routine = 2

    public var description: String { self == .priority ? "priority" : "routine" }
}

/// The fixed 64-byte header at the start of every segment file (`docs/STORE.md`).
public struct SegmentHeader: Sendable, Equatable {
    public static let size = 64
    static let magic: [UInt8] = Array("VGLS".utf8)
    static let version: UInt8 = 1

    public let lane: Lane
    /// How many times eviction thinned this segment (0 = as written).
    public let thinning: UInt8
    public let id: UInt64
    public let keyID: UInt32
    public let salt: [UInt8]
    /// Unix milliseconds when the segment was created.
    public let created: Int64

    public init(lane: Lane, thinning: UInt8 = 0, id: UInt64, keyID: UInt32, salt: [UInt8], created: Int64) {
        precondition(salt.count == 32)
        self.lane = lane
        self.thinning = thinning
        self.id = id
        self.keyID = keyID
        self.salt = salt
        self.created = created
    }

    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: Self.size)
        writer.raw(Self.magic)
        writer.u8(Self.version)
        writer.u8(lane.rawValue)
        writer.u8(thinning)
        writer.u8(0)
        writer.u64(id)
        writer.u32(keyID)
        writer.raw(salt)
        writer.i64(created)
        writer.u32(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    public enum Problem: String, Error, Sendable {
        case short = "short_header"
        case badMagic = "bad_magic"
        case unsupportedVersion = "unsupported_version"
        case badChecksum = "header_checksum"
        case badLane = "bad_lane"
    }

    public static func decode(_ bytes: [UInt8]) throws(Problem) -> SegmentHeader {
        guard bytes.count >= size else { throw .short }
        guard Array(bytes[0..<4]) == magic else { throw .badMagic }
        var reader = ByteReader(bytes, offset: 60)
        guard let crc = try? reader.u32(), crc == CRC32C.checksum(bytes[0..<60]) else { throw .badChecksum }
        guard bytes[4] == version else { throw .unsupportedVersion }
        guard let lane = Lane(rawValue: bytes[5]) else { throw .badLane }
        reader = ByteReader(bytes, offset: 8)
        do {
            let id = try reader.u64()
            let keyID = try reader.u32()
            let salt = try reader.raw(32)
            let created = try reader.i64()
            return SegmentHeader(lane: lane, thinning: bytes[6], id: id, keyID: keyID, salt: salt, created: created)
        } catch {
            throw .short
        }
    }
}

/// What a record holds; stored in clear (and bound into the AEAD) so the log can be walked, and
/// sealed segments checked, without decrypting. It reveals only the coarse kind of a record.
public enum RecordType: UInt8, Sendable {
    case readings = 1
    case alert = 2
    case gap = 3
    case coverage = 4
    case rollup = 5
    /// The last record of a rotated segment: the record count and a digest of every record.
    case seal = 0x7F
}
