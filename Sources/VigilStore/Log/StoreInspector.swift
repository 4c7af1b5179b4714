/// Read-only access to a store directory for the technician's commands (`vigil store …`). It
/// never repairs, seals or moves anything, so it is safe while the agent is running: the newest
/// segment of a lane may be mid-write, and an unsealed or torn end there is reported as such,
/// not as damage.
public struct StoreInspector: Sendable {
    public let directory: String
    public let keyring: Keyring
    let fileSystem: any FileSystem

    public init(directory: String, keyring: Keyring, fileSystem: any FileSystem = PosixFileSystem()) {
        self.directory = directory
        self.keyring = keyring
        self.fileSystem = fileSystem
    }

    public struct SegmentReport: Sendable {
        public let lane: Lane
        public let name: String
        public let bytes: Int
        public let records: Int
        public let keyID: UInt32?
        public let thinning: UInt8
        public let created: Int64?
        /// `sealed`, `open` (being written), or a problem.
        public let state: String
        public let healthy: Bool
    }

    /// Names in a directory; none if it does not exist (nothing stored yet, or all uploaded).
    private func names(_ path: String) throws(FileSystemError) -> [String] {
        do {
            return try fileSystem.list(path)
        } catch where error.code == 2 {
            return []
        }
    }

    /// Scans (and authenticates, decrypting every record) every live segment.
    public func segments() throws(FileSystemError) -> [SegmentReport] {
        var reports: [SegmentReport] = []
        for lane in Lane.allCases {
            let names = try names("\(directory)/\(lane)").filter { Store.segmentID($0) != nil }.sorted()
            for name in names {
                let bytes: [UInt8]
                do {
                    bytes = try fileSystem.readFile("\(directory)/\(lane)/\(name)")
                } catch where error.code == 2 {
                    continue  // uploaded and deleted since the listing
                }
                let newest = name == names.last
                do {
                    let scanned = try SegmentScanner.scan(bytes, keyring: keyring)
                    let (state, healthy): (String, Bool) = switch scanned.end {
                    case .sealed: ("sealed", true)
                    case .open: newest ? ("open", true) : ("unsealed (not the newest: damaged)", false)
                    case .torn(let offset): newest ? ("open, partial record at \(offset) (being written, or cut at the next start)", true)
                        : ("torn at \(offset)", false)
                    case .damaged(let offset, let reason): ("damaged at \(offset): \(reason)", false)
                    }
                    reports.append(SegmentReport(lane: lane, name: name, bytes: bytes.count, records: scanned.records.count,
                                                 keyID: scanned.header.keyID, thinning: scanned.header.thinning,
                                                 created: scanned.header.created, state: state, healthy: healthy))
                } catch {
                    let healthy = newest && bytes.count < SegmentHeader.size
                    reports.append(SegmentReport(lane: lane, name: name, bytes: bytes.count, records: 0, keyID: nil, thinning: 0,
                                                 created: nil, state: healthy ? "being created" : "\(error)", healthy: healthy))
                }
            }
        }
        return reports
    }

    /// Files in `quarantine/`.
    public func quarantined() -> [String] {
        ((try? names("\(directory)/quarantine")) ?? []).sorted()
    }

    /// Key ids of every segment, quarantined ones included (they may still be read by hand), and
    /// of the checkpoint.
    public func keyIDsInUse() throws(FileSystemError) -> Set<UInt32> {
        var ids: Set<UInt32> = []
        for lane in Lane.allCases {
            for name in try names("\(directory)/\(lane)") where Store.segmentID(name) != nil {
                if let header = try? SegmentHeader.decode(try fileSystem.readFile("\(directory)/\(lane)/\(name)")) { ids.insert(header.keyID) }
            }
        }
        for name in quarantined() {
            if let header = try? SegmentHeader.decode(try fileSystem.readFile("\(directory)/quarantine/\(name)")) { ids.insert(header.keyID) }
        }
        if let checkpoint = CheckpointFile(directory: directory, keyring: keyring, fileSystem: fileSystem).keyID() { ids.insert(checkpoint) }
        return ids
    }

    /// Every valid entry of every live segment, priority lane first, each lane oldest first.
    public func entries() throws(FileSystemError) -> [(lane: Lane, entry: Entry)] {
        var result: [(Lane, Entry)] = []
        for lane in Lane.allCases {
            for name in try names("\(directory)/\(lane)").filter({ Store.segmentID($0) != nil }).sorted() {
                guard let bytes = try? fileSystem.readFile("\(directory)/\(lane)/\(name)"),
                      let scanned = try? SegmentScanner.scan(bytes, keyring: keyring) else { continue }
                for record in scanned.records {
                    if let entry = try? Entry.decode(type: record.type, record.plaintext) { result.append((lane, entry)) }
                }
            }
        }
        return result
    }
}
