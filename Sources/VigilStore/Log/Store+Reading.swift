import Foundation

extension Store {
    /// The next record the uplink has not confirmed, in `lane`.
    public func cursor(_ lane: Lane) -> Position {
        lock.lock()
        defer { lock.unlock() }
        return cursorLocked(lane)
    }

    func cursorLocked(_ lane: Lane) -> Position {
        cursors[lane] ?? Position(segment: lanes[lane]?.segments.first?.id ?? 0, record: 0)
    }

    /// Up to `limit` records of `lane` from `position` (default: the cursor), oldest first. Reads
    /// only what has been written; the uplink may send records not yet synced (a crash would make
    /// the device resend them, and the receiver drops the duplicate).
    public func read(_ lane: Lane, from position: Position? = nil, limit: Int) throws(StoreError) -> [StoredRecord] {
        lock.lock()
        defer { lock.unlock() }
        let start = position ?? cursorLocked(lane)
        var result: [StoredRecord] = []
        let segments = lanes[lane]?.segments ?? []
        for (offset, segment) in segments.enumerated() where segment.id >= start.segment {
            guard result.count < limit else { break }
            let from = segment.id > start.segment ? 0 : start.record
            // Read to its end already (the uplink caught up before it was sealed): nothing to decrypt.
            if segment.sealed && from >= segment.records { continue }
            let following = offset + 1 < segments.count ? segments[offset + 1].id : nil
            func next(after index: UInt64, of count: UInt64) -> Position {
                index + 1 == count && segment.sealed && following != nil
                    ? Position(segment: following!, record: 0) : Position(segment: segment.id, record: index + 1)
            }
            if let tail = tails[lane], tail.segment == segment.id, tail.generation == layoutGenerationLocked, from >= tail.firstIndex {
                // Fresh entries, as appended: nothing to decrypt.
                var index = from
                while index < tail.endIndex && result.count < limit {
                    result.append(StoredRecord(lane: lane, position: Position(segment: segment.id, record: index),
                                               next: next(after: index, of: tail.endIndex), entry: tail.entries[Int(index - tail.firstIndex)]))
                    index += 1
                }
                continue
            }
            let records: [ScannedRecord]
            if let cached = readCache.first(where: { $0.lane == lane && $0.id == segment.id && $0.size == segment.size
                                                         && $0.thinning == segment.thinning }) {
                records = cached.records
            } else {
                let scanned = try scan(lane, segment.id)
                records = scanned.records
                segmentScans += 1
                checkIntact(lane, segment.id, scanned)
                readCache.removeAll { $0.lane == lane && $0.id == segment.id }
                readCache.append((lane, segment.id, segment.size, segment.thinning, records))
                if readCache.count > 2 { readCache.removeFirst() }
            }
            for record in records where record.index >= from {
                guard result.count < limit else { break }
                guard let entry = try? Entry.decode(type: record.type, record.plaintext) else { continue }
                result.append(StoredRecord(lane: lane, position: Position(segment: segment.id, record: record.index),
                                           next: next(after: record.index, of: UInt64(records.count)), entry: entry))
            }
        }
        return result
    }

    /// Marks everything before `position` as confirmed by the receiver: persists the cursor
    /// atomically (temp file, fsync, rename, fsync directory), then deletes sealed segments that
    /// are entirely before it and that the removal guard lets go (``guardRemovals(_:)``).
    public func advance(_ lane: Lane, to position: Position) throws(StoreError) {
        lock.lock()
        defer { lock.unlock() }
        cursors[lane] = position
        // Decrypted segments wholly behind the cursor are never read again: free them now (a
        // drained backlog's two segments would otherwise stay in memory until the next drain).
        readCache.removeAll { $0.lane == lane && $0.id < position.segment }
        var encoded: [String: Position] = [:]
        for (lane, position) in cursors { encoded["\(lane)"] = position }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            try fileSystem.replaceDurably(cursorPath, with: Array(try! encoder.encode(encoded)))
            var removed = false
            while let first = lanes[lane]?.segments.first, first.sealed,
                  first.id < position.segment || (first.id == position.segment && position.record >= first.records),
                  mayRemove(lane, first) {
                if let reason = first.damaged {
                    try fileSystem.rename(segmentPath(lane, first.id), to: quarantineDirectory + "/" + quarantineName(lane, first.id, reason))
                    try fileSystem.syncDirectory(quarantineDirectory)
                } else {
                    try fileSystem.remove(segmentPath(lane, first.id))
                }
                lanes[lane]?.segments.removeFirst()
                removed = true
            }
            if removed { try fileSystem.syncDirectory(laneDirectory(lane)) }
        } catch {
            throw .fileSystem(error)
        }
        metrics.update(self)
    }

    /// A segment read and decrypted: its valid records and how it ends.
    func scan(_ lane: Lane, _ id: UInt64) throws(StoreError) -> ScannedSegment {
        do {
            let bytes = try fileSystem.readFile(segmentPath(lane, id))
            return try SegmentScanner.scan(bytes, keyring: keyring)
        } catch let error as FileSystemError {
            throw .fileSystem(error)
        } catch {
            throw .keys("\(error)")
        }
    }

    /// Notes a sealed segment whose records did not all read back (damaged on disk after it was
    /// sealed, found only now because start-up opened it from its seal): logged and counted; its
    /// valid records are sent, what follows the damage cannot be, and the file goes to
    /// quarantine once the cursor passes it.
    func checkIntact(_ lane: Lane, _ id: UInt64, _ scanned: ScannedSegment) {
        guard let offset = lanes[lane]?.segments.firstIndex(where: { $0.id == id }), var segment = lanes[lane]?.segments[offset],
              segment.sealed, segment.damaged == nil,
              scanned.end != .sealed || UInt64(scanned.records.count) != segment.records else { return }
        var reason = "count_mismatch"
        switch scanned.end {
        case .torn: reason = "torn"
        case .damaged(_, let why): reason = why
        case .open: reason = "unsealed"
        case .sealed: break
        }
        segment.damaged = reason
        lanes[lane]?.segments[offset] = segment
        metrics.damagedOnRead.increment()
        logger.error("a sealed segment is damaged: its records after the damage cannot be sent", metadata: [
            "lane": "\(lane)", "segment": "\(segment.id)", "reason": "\(reason)",
            "readable": "\(scanned.records.count)", "records": "\(segment.records)",
        ])
    }

    /// Sizes and counts for `vigil store stats`.
    public struct Stats: Sendable {
        public struct LaneStats: Sendable {
            public var segments: Int
            public var bytes: Int
            public var records: UInt64
            public var thinnedSegments: Int
            public var oldest: Int64?
            public var cursor: Position
        }

        public var lanes: [Lane: LaneStats]
        public var quarantined: Int
        public var keyIDs: Set<UInt32>
    }

    public var stats: Stats {
        lock.lock()
        defer { lock.unlock() }
        var lanes: [Lane: Stats.LaneStats] = [:]
        var keyIDs: Set<UInt32> = []
        for lane in Lane.allCases {
            let segments = self.lanes[lane]?.segments ?? []
            keyIDs.formUnion(segments.map(\.keyID))
            lanes[lane] = .init(segments: segments.count, bytes: segments.reduce(0) { $0 + $1.size },
                                records: segments.reduce(0) { $0 + $1.records },
                                thinnedSegments: segments.filter { $0.thinning > 0 }.count,
                                oldest: segments.filter { $0.records > 0 }.map(\.created).min(), cursor: cursorLocked(lane))
        }
        let quarantined = (try? fileSystem.list(quarantineDirectory).count) ?? 0
        return Stats(lanes: lanes, quarantined: quarantined, keyIDs: keyIDs)
    }
}

extension Store {
    /// The position after the newest record of `lane` (where the next append will go).
    public func end(_ lane: Lane) -> Position {
        lock.lock()
        defer { lock.unlock() }
        guard let last = lanes[lane]?.segments.last else { return cursorLocked(lane) }
        return Position(segment: last.id, record: last.records)
    }

    /// Every lane's end, and the sealed segments before it as they are now: what a caller's
    /// state that reflects every entry stored so far hands back to ``Store/open(directory:keyring:options:fileSystem:logger:metrics:now:known:restore:)``.
    public func known() -> KnownLog {
        lock.lock()
        defer { lock.unlock() }
        var known = KnownLog(covered: [:], segments: [:])
        for lane in Lane.allCases {
            let segments = lanes[lane]?.segments ?? []
            known.covered[lane] = segments.last.map { Position(segment: $0.id, record: $0.records) } ?? cursorLocked(lane)
            known.segments[lane] = segments.dropLast().filter(\.sealed)
                .map { SegmentSummary(id: $0.id, size: $0.size, records: $0.records, thinning: $0.thinning) }
        }
        return known
    }

    /// Records of `lane` past its cursor, without decrypting anything.
    public func unsentCount(_ lane: Lane) -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        let cursor = cursorLocked(lane)
        return (lanes[lane]?.segments ?? []).reduce(0) { total, segment in
            if segment.id < cursor.segment { return total }
            let entries = segment.records
            if segment.id == cursor.segment { return total + (entries > cursor.record ? entries - cursor.record : 0) }
            return total + entries
        }
    }


    /// Changes whenever eviction rewrites or deletes a segment (positions read before may then
    /// name other records).
    public var layoutGeneration: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return layoutGenerationLocked
    }

    /// Whether `lane` holds records past its cursor: a cheap check (no decryption) for a poller.
    public func hasUnsent(_ lane: Lane) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let cursor = cursorLocked(lane)
        guard let last = lanes[lane]?.segments.last else { return false }
        return cursor.segment < last.id || (cursor.segment == last.id && cursor.record < last.records)
    }
}

extension Store {
    /// Bytes of the segments that still hold unsent records (any lane) and when the oldest of
    /// them was started: bounds of the backlog's size and age, without decrypting anything.
    public var unsentSegments: (bytes: Int, oldest: Int64?) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = 0
        var oldest: Int64?
        for lane in Lane.allCases {
            let cursor = cursorLocked(lane)
            for segment in lanes[lane]?.segments ?? [] where segment.id > cursor.segment
                || (segment.id == cursor.segment && segment.records > cursor.record) {
                bytes += segment.size
                oldest = min(oldest ?? segment.created, segment.created)
            }
        }
        return (bytes, oldest)
    }
}
