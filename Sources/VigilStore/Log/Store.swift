import Crypto
import Foundation
import Logging
import VigilCore

/// The encrypted, append-only store-and-forward log (format and guarantees: `docs/STORE.md`).
///
/// Two lanes (``Lane``), each a directory of segment files. The pipeline appends entries and calls
/// ``commit()`` once per batch (group commit); only after it returns may the agent acknowledge the
/// readings to their devices. The uplink reads from a persisted cursor per lane.
///
/// Thread safety: every method takes one lock; the pipeline is the only writer.
public final class Store: @unchecked Sendable {
    public let directory: String
    /// Signalled after each commit that wrote records: the uplinks wait on it when idle.
    public let committed = WakeSignal()
    let options: StoreOptions
    let fileSystem: any FileSystem
    let logger: Logger
    let metrics: StoreMetrics
    let now: @Sendable () -> Int64
    let lock = NSLock()
    var keyring: Keyring
    var lanes: [Lane: LaneState] = [:]
    var cursors: [Lane: Position] = [:]
    /// The segments `read` decrypted last (up to two, newest last): the uplink reads a segment in
    /// many small steps, and decrypting it whole for each would make draining a backlog
    /// quadratic. The newest entries come from ``tails`` instead.
    var readCache: [(lane: Lane, id: UInt64, size: Int, thinning: UInt8, records: [ScannedRecord])] = []
    /// Bumped whenever eviction rewrites or deletes a segment: positions read before may now
    /// name other records.
    var layoutGenerationLocked: UInt64 = 0
    /// Entries appended since the last commit, per lane (written only by `commit`).
    var queues: [Lane: [(type: RecordType, plaintext: [UInt8], entry: Entry)]] = [:]
    /// The newest entries written to each lane's newest segment, as appended: the uplink reads
    /// fresh entries from here instead of decrypting the segment again each time it grew (which
    /// cost a live gateway most of its CPU, growing with the segment).
    var tails: [Lane: Tail] = [:]
    static let tailCapacity = 4_096
    /// Segments decrypted whole for `read` (tests check that live reads come from the tail).
    package var segmentScans = 0
    /// Readings deleted undelivered to make room since the store opened (``evictedReadings``).
    var evictedLocked: UInt64 = 0
    /// Asked before a segment's entries leave the log (``guardRemovals(_:)``).
    var removalGuard: (@Sendable (Lane, Position) -> Bool)?

    struct Tail {
        let segment: UInt64
        /// ``layoutGenerationLocked`` when it was started (eviction invalidates positions).
        let generation: UInt64
        /// Index in the segment of `entries[0]`.
        var firstIndex: UInt64
        var entries: [Entry]
        var endIndex: UInt64 { firstIndex + UInt64(entries.count) }
    }

    /// What the store knows about one lane's segments, oldest first.
    struct LaneState {
        var segments: [SegmentInfo] = []
        var writer: SegmentWriter?
        var nextID: UInt64 = 1
    }

    struct SegmentInfo {
        let id: UInt64
        var size: Int
        /// Entries, never counting the seal (recovery and thinning count from a scan, which
        /// leaves the seal out; the writer counts the same way).
        var records: UInt64
        var thinning: UInt8
        var keyID: UInt32
        var created: Int64
        var sealed: Bool
        /// Why its records did not all read back (a segment opened from its seal at start is
        /// checked record by record only when read): it goes to quarantine, not away, once the
        /// uplink is past it.
        var damaged: String? = nil
    }

    /// Lanes whose queued records could not be written for lack of space (and were dropped).
    public struct CommitOutcome: Sendable, Equatable {
        public var dropped: Set<Lane> = []
        public var succeeded: Bool { dropped.isEmpty }
    }

    init(directory: String, keyring: Keyring, options: StoreOptions, fileSystem: any FileSystem, logger: Logger,
         metrics: StoreMetrics, now: @escaping @Sendable () -> Int64) {
        self.directory = directory
        self.keyring = keyring
        self.options = options
        self.fileSystem = fileSystem
        self.logger = logger
        self.metrics = metrics
        self.now = now
    }

    /// Installs the check made before any segment's entries leave the log (deleted after upload,
    /// thinned or evicted): it is given the lane and the position after the segment's last entry,
    /// and answers whether the gateway's durable state (its checkpoint) already accounts for
    /// everything before that position, writing a checkpoint first if it must. A segment it
    /// refuses stays for now (the next upload or eviction asks again). It runs under the store's
    /// lock and must not call back into the store.
    public func guardRemovals(_ check: @escaping @Sendable (Lane, Position) -> Bool) {
        lock.withLock { removalGuard = check }
    }

    func mayRemove(_ lane: Lane, _ segment: SegmentInfo) -> Bool {
        removalGuard?(lane, Position(segment: segment.id, record: segment.records)) ?? true
    }

    func laneDirectory(_ lane: Lane) -> String { "\(directory)/\(lane)" }
    var quarantineDirectory: String { "\(directory)/quarantine" }
    var cursorPath: String { "\(directory)/cursor" }

    func segmentPath(_ lane: Lane, _ id: UInt64) -> String {
        laneDirectory(lane) + "/" + Self.segmentName(id)
    }

    static func segmentName(_ id: UInt64) -> String {
        let hex = String(id, radix: 16)
        return String(repeating: "0", count: max(0, 16 - hex.count)) + hex + ".seg"
    }

    static func segmentID(_ name: String) -> UInt64? {
        guard name.hasSuffix(".seg"), name.count == 20 else { return nil }
        return UInt64(name.prefix(16), radix: 16)
    }

    // MARK: Writing

    /// Queues an entry in its lane. Nothing is durable until ``commit()``.
    public func append(_ entry: Entry) {
        lock.lock()
        defer { lock.unlock() }
        appendLocked(entry)
    }

    func appendLocked(_ entry: Entry) {
        queues[entry.lane, default: []].append((entry.type, entry.encoded, entry))
    }

    /// Writes and `fdatasync`s every lane with queued records: the group commit. Space is made by
    /// eviction when the quota or the disk is full; what still does not fit is dropped and
    /// reported in the outcome (those frames are not acknowledged, so devices resend them).
    ///
    /// - Throws: ``StoreError/syncFailed(_:)`` when `fdatasync` fails. The caller must stop:
    ///   after a failed sync the kernel may have discarded the pages, and retrying can report
    ///   success for data that is gone (the "fsyncgate" lesson). A restart recovers from disk.
    public func commit() throws(StoreError) -> CommitOutcome {
        lock.lock()
        defer { lock.unlock() }
        var outcome = CommitOutcome()
        var wrote = false
        // Priority first: an alert must not wait behind routine data for space.
        for lane in [Lane.priority, .routine] {
            guard let queued = queues.removeValue(forKey: lane), !queued.isEmpty else { continue }
            if try write(lane, queued) {
                wrote = true
                metrics.appended(lane: lane, count: queued.count)
            } else {
                lanes[lane]?.writer?.discardQueued()
                outcome.dropped.insert(lane)
                metrics.dropped(lane: lane, count: queued.count)
            }
        }
        for lane in Lane.allCases {
            guard let writer = lanes[lane]?.writer else { continue }
            do {
                try writer.sync()
            } catch {
                throw .syncFailed(error)
            }
            updateSize(lane, writer)
            if writer.size >= options.segmentBytes { try rotate(lane) }
        }
        metrics.update(self)
        // Synced: an uplink waiting for records may read them now.
        if wrote { committed.signal() }
        return outcome
    }

    /// Writes a lane's queued entries, making room and retrying when space runs out. `false` if
    /// they could not be written.
    private func write(_ lane: Lane, _ queued: [(type: RecordType, plaintext: [UInt8], entry: Entry)]) throws(StoreError) -> Bool {
        let bytes = Int64(queued.reduce(0) { $0 + $1.plaintext.count + RecordFraming.prefixSize + SegmentCipher.tagSize })
        if lane == .routine && !withinLimits(adding: bytes) {
            guard try makeRoom(for: lane, needed: bytes) else {
                // The commit's outcome tells the caller, which says it to its users.
                logger.debug("store full: routine readings not stored", metadata: ["records": "\(queued.count)"])
                return false
            }
        }
        for _ in 0..<4 {
            do throws(FileSystemError) {
                let writer = try writerForWriting(lane)
                if writer.queuedRecords == 0 {
                    for record in queued { writer.append(record.type, plaintext: record.plaintext) }
                }
                try writer.flush()
                remember(queued.map(\.entry), writtenTo: writer, lane: lane)
                return true
            } catch {
                if lanes[lane]?.writer?.broken == true { abandonBroken(lane) }
                // Requeued from `queued` on the next attempt (eviction may write gap records first).
                lanes[lane]?.writer?.discardQueued()
                if error.isSync { throw .syncFailed(error) }
                guard error.isNoSpace else {
                    logger.error("store write failed", metadata: ["lane": "\(lane)", "error": "\(error)"])
                    return false
                }
                metrics.noSpace.increment()
                guard try makeRoom(for: lane, needed: bytes, force: true) else {
                    logger.error("disk full and nothing left to evict", metadata: ["lane": "\(lane)", "records": "\(queued.count)"])
                    return false
                }
            }
        }
        return false
    }

    /// Adds entries just written to the lane's tail (a new tail when they went to another segment
    /// or the layout changed), keeping at most ``tailCapacity``.
    private func remember(_ entries: [Entry], writtenTo writer: SegmentWriter, lane: Lane) {
        let first = writer.entryCount - UInt64(entries.count)
        if var tail = tails[lane], tail.segment == writer.header.id, tail.generation == layoutGenerationLocked, tail.endIndex == first {
            tails[lane] = nil
            tail.entries.append(contentsOf: entries)
            if tail.entries.count > 2 * Self.tailCapacity {
                let drop = tail.entries.count - Self.tailCapacity
                tail.entries.removeFirst(drop)
                tail.firstIndex += UInt64(drop)
            }
            tails[lane] = tail
        } else {
            tails[lane] = Tail(segment: writer.header.id, generation: layoutGenerationLocked, firstIndex: first, entries: entries)
        }
    }

    /// A writer whose failed flush could not be cut back: leave the file (recovery will keep its
    /// valid prefix and quarantine it) and start a new segment, keeping the queued records.
    private func abandonBroken(_ lane: Lane) {
        guard let writer = lanes[lane]?.writer else { return }
        logger.error("abandoned a segment after a failed write", metadata: ["lane": "\(lane)", "segment": "\(writer.header.id)"])
        writer.close()
        lanes[lane]?.writer = nil
    }

    func withinLimits(adding bytes: Int64) -> Bool {
        if usedBytes + bytes > options.quotaBytes { return false }
        if let free = try? fileSystem.availableBytes(directory), free - bytes < options.reserveBytes { return false }
        return true
    }

    /// The lane's writer, creating a segment if there is none (or the last one broke).
    func activeWriter(_ lane: Lane) throws(StoreError) -> SegmentWriter {
        do {
            return try writerForWriting(lane)
        } catch {
            throw .fileSystem(error)
        }
    }

    func writerForWriting(_ lane: Lane) throws(FileSystemError) -> SegmentWriter {
        if let writer = lanes[lane]?.writer, !writer.broken { return writer }
        lanes[lane]?.writer?.close()
        var state = lanes[lane] ?? LaneState()
        let id = state.nextID
        let header = SegmentHeader(lane: lane, id: id, keyID: keyring.currentID, salt: Self.randomSalt(), created: now())
        let writer = try SegmentWriter(create: segmentPath(lane, id), header: header, master: keyring.current, fileSystem: fileSystem)
        writer.encrypt = !options.withoutEncryptionForBenchmark
        state.nextID = id + 1
        state.segments.append(SegmentInfo(id: id, size: SegmentHeader.size, records: 0, thinning: 0, keyID: header.keyID,
                                          created: header.created, sealed: false))
        state.writer = writer
        lanes[lane] = state
        return writer
    }

    /// Seals the active segment; the next append starts a new one. A seal that cannot be written
    /// (no space) leaves the segment open: recovery keeps its records and quarantines the file.
    func rotate(_ lane: Lane) throws(StoreError) {
        guard let writer = lanes[lane]?.writer, !writer.broken, writer.queuedRecords == 0 else { return }
        writer.queueSeal()
        do {
            try writer.flush()
        } catch {
            writer.discardQueued()
            abandonBroken(lane)
            return
        }
        do {
            try writer.sync()
        } catch {
            throw .syncFailed(error)
        }
        writer.close()
        updateSize(lane, writer)
        if let index = lanes[lane]?.segments.firstIndex(where: { $0.id == writer.header.id }) {
            lanes[lane]?.segments[index].sealed = true
        }
        lanes[lane]?.writer = nil
    }

    private func updateSize(_ lane: Lane, _ writer: SegmentWriter) {
        guard let index = lanes[lane]?.segments.firstIndex(where: { $0.id == writer.header.id }) else { return }
        lanes[lane]?.segments[index].size = writer.flushedLength
        lanes[lane]?.segments[index].records = writer.entryCount
    }

    var usedBytes: Int64 {
        lanes.values.reduce(0) { total, lane in total + lane.segments.reduce(0) { $0 + Int64($1.size) } }
    }

    static func randomSalt() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// Seals the active segments (clean shutdown).
    public func close() throws(StoreError) {
        lock.lock()
        defer { lock.unlock() }
        for lane in Lane.allCases { try rotate(lane) }
    }
}
