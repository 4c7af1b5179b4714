/// Sizes and limits of the store (from the `store` section of the configuration).
public struct StoreOptions: Sendable, Equatable {
    /// A segment rotates (is sealed and a new one started) once it reaches this size.
    public var segmentBytes: Int
    /// Total bytes of segments the store may hold before it evicts routine readings.
    public var quotaBytes: Int64
    /// Free space kept on the file system: routine readings stop (after eviction) below it, so
    /// what is left stays for alerts and gap records.
    public var reserveBytes: Int64
    /// First eviction pass keeps one routine reading per device per interval (milliseconds).
    public var thinningIntervalMilliseconds: Int64

    /// Benchmarks only (`vigil-bench store --no-encryption`): records are written with the same
    /// framing but not encrypted, to measure what encryption costs. Never readable back.
    package var withoutEncryptionForBenchmark = false

    public init(segmentBytes: Int = 4 << 20, quotaBytes: Int64 = 1 << 30, reserveBytes: Int64 = 64 << 20,
                thinningIntervalMilliseconds: Int64 = 300_000) {
        self.segmentBytes = segmentBytes
        self.quotaBytes = quotaBytes
        self.reserveBytes = reserveBytes
        self.thinningIntervalMilliseconds = thinningIntervalMilliseconds
    }
}

/// Where the uplink has got to in a lane: the next record to send.
public struct Position: Sendable, Equatable, Comparable, Codable, CustomStringConvertible {
    public var segment: UInt64
    public var record: UInt64

    public init(segment: UInt64, record: UInt64) {
        self.segment = segment
        self.record = record
    }

    public static func < (a: Position, b: Position) -> Bool { (a.segment, a.record) < (b.segment, b.record) }
    public var description: String { "\(segment):\(record)" }
}

/// A record read back from the log.
public struct StoredRecord: Sendable {
    public let lane: Lane
    public let position: Position
    /// The cursor value that marks this record as sent.
    public let next: Position
    public let entry: Entry

    /// The same record with its entry as the uplink sends it (``Retimer``).
    public func with(_ entry: Entry) -> StoredRecord {
        StoredRecord(lane: lane, position: position, next: next, entry: entry)
    }
}

public enum StoreError: Error, Sendable, CustomStringConvertible {
    /// The master keys could not be used.
    case keys(String)
    /// A file-system call failed where the store cannot carry on (recovery, directory setup).
    case fileSystem(FileSystemError)
    /// `fdatasync` failed: written data may be lost, so nothing may be acknowledged. Fatal.
    case syncFailed(FileSystemError)

    public var description: String {
        switch self {
        case .keys(let text): "store keys: \(text)"
        case .fileSystem(let error): "store: \(error)"
        case .syncFailed(let error): "store sync failed (fatal): \(error)"
        }
    }
}
