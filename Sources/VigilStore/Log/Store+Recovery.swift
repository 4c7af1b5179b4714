import CoreMetrics
import Foundation
import Logging

/// What recovery found and did at start.
public struct RecoveryReport: Sendable {
    public var segments = 0
    public var records = 0
    /// Segments whose torn tail was cut off (name, bytes removed).
    public var truncated: [(segment: String, bytes: Int)] = []
    /// Segments left open by a stop or crash and sealed now.
    public var sealed = 0
    /// Damaged segments moved to `quarantine/` (name, reason), after their valid records were kept.
    public var quarantined: [(segment: String, reason: String)] = []
    /// Valid records copied out of quarantined segments into the live log.
    public var recoveredRecords = 0
    /// Empty files left by a crash while a segment was being created (nothing to keep).
    public var removedEmpty = 0
    /// Sealed segments opened from their header and seal alone, as the caller's ``KnownLog``
    /// described them (their entries were not read).
    public var trusted = 0
}

/// What the caller's durable state (the agent's checkpoint) already accounts for, so recovery
/// need not read it: per lane the position every entry before which it reflects, and the sealed
/// segments as they were then. A sealed segment wholly before that position whose header, size
/// and seal still match its summary is opened without reading its records, and its entries are
/// not passed to `restore`; any other segment is scanned in full.
public struct KnownLog: Sendable {
    public var covered: [Lane: Position]
    public var segments: [Lane: [SegmentSummary]]

    public init(covered: [Lane: Position], segments: [Lane: [SegmentSummary]]) {
        self.covered = covered
        self.segments = segments
    }
}

extension Store {
    /// Opens the store at `directory` (creating it), recovering from whatever a crash or power
    /// loss left: a torn tail of a lane's newest segment is cut off and the segment sealed; a
    /// damaged segment is moved to `quarantine/` after its valid records are copied into the live
    /// log. One bad file never stops the start.
    ///
    /// - Parameters:
    ///   - known: what the caller's state accounts for already (``KnownLog``): those segments are
    ///     opened from their seals, their entries not read. Start-up then costs the entries
    ///     written after that state, not the whole log.
    ///   - restore: called with every stored entry in order (but those of `known` segments), so
    ///     the caller can rebuild state (which sequence numbers are already stored).
    public static func open(
        directory: String, keyring: Keyring, options: StoreOptions = .init(), fileSystem: any FileSystem = PosixFileSystem(),
        logger: Logger, metrics: StoreMetrics = StoreMetrics(factory: NOOPMetricsHandler.instance),
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000) },
        known: KnownLog? = nil, restore: (Entry) -> Void = { _ in }
    ) throws(StoreError) -> (Store, RecoveryReport) {
        let store = Store(directory: directory, keyring: keyring, options: options, fileSystem: fileSystem, logger: logger,
                          metrics: metrics, now: now)
        let report = try store.recover(known: known, restore: restore)
        return (store, report)
    }

    private func recover(known: KnownLog?, restore: (Entry) -> Void) throws(StoreError) -> RecoveryReport {
        lock.lock()
        defer { lock.unlock() }
        var report = RecoveryReport()
        var salvage: [(Lane, RecordType, [UInt8])] = []
        do {
            for lane in Lane.allCases { try fileSystem.makeDirectory(laneDirectory(lane)) }
            try fileSystem.makeDirectory(quarantineDirectory)
            cursors = loadCursors()
            let quarantinedIDs = try quarantinedSegmentIDs()
            for lane in Lane.allCases {
                var state = LaneState()
                // Segment ids never go back: not below a quarantined one, and not to or below the
                // cursor's, even when every segment up to it was uploaded and deleted (entries in
                // a reused id at or below the cursor would count as sent and never be uploaded).
                state.nextID = max(quarantinedIDs[lane] ?? 0, cursors[lane]?.segment ?? 0) + 1
                var ids: [UInt64] = []
                for name in try fileSystem.list(laneDirectory(lane)) {
                    if let id = Self.segmentID(name) {
                        ids.append(id)
                    } else if name.hasSuffix(".new") || name.hasSuffix(".tmp") {
                        // An eviction rewrite that did not finish: the original is still in place.
                        try fileSystem.remove(laneDirectory(lane) + "/" + name)
                    }
                }
                ids.sort()
                let summaries = Dictionary((known?.segments[lane] ?? []).map { ($0.id, $0) }) { first, _ in first }
                let covered = known?.covered[lane]
                for id in ids {
                    state.nextID = max(state.nextID, id + 1)
                    if id != ids.last, let covered, id < covered.segment, let summary = summaries[id],
                       let info = try openKnown(lane, summary) {
                        state.segments.append(info)
                        report.segments += 1
                        report.records += Int(info.records)
                        report.trusted += 1
                        continue
                    }
                    if let info = try recoverSegment(lane, id, newest: id == ids.last, report: &report, salvage: &salvage, restore: restore) {
                        state.segments.append(info)
                    }
                }
                lanes[lane] = state
            }
            if !report.quarantined.isEmpty || report.removedEmpty > 0 { try fileSystem.syncDirectory(quarantineDirectory) }
        } catch {
            throw .fileSystem(error)
        }
        for (lane, type, plaintext) in salvage {
            let writer = try activeWriter(lane)
            writer.append(type, plaintext: plaintext)
            if let entry = try? Entry.decode(type: type, plaintext) { restore(entry) }
        }
        report.recoveredRecords = salvage.count
        if !salvage.isEmpty {
            for lane in Lane.allCases {
                guard let writer = lanes[lane]?.writer else { continue }
                do {
                    try writer.flush()
                    try writer.sync()
                } catch {
                    throw .syncFailed(error)
                }
            }
        }
        metrics.quarantined.record((try? fileSystem.list(quarantineDirectory).count) ?? 0)
        metrics.update(self)
        return report
    }

    /// One segment file: returns its description if it stays in the live log.
    private func recoverSegment(
        _ lane: Lane, _ id: UInt64, newest: Bool, report: inout RecoveryReport,
        salvage: inout [(Lane, RecordType, [UInt8])], restore: (Entry) -> Void
    ) throws(FileSystemError) -> SegmentInfo? {
        let path = segmentPath(lane, id)
        let bytes = try fileSystem.readFile(path)
        let scanned: ScannedSegment
        do {
            scanned = try SegmentScanner.scan(bytes, keyring: keyring)
        } catch {
            if newest && bytes.count < SegmentHeader.size && bytes.allSatisfy({ $0 == 0 }) {
                try fileSystem.remove(path)
                report.removedEmpty += 1
                return nil
            }
            try quarantine(lane, id, reason: "\(error)", report: &report)
            return nil
        }
        report.segments += 1
        func keep(_ records: [ScannedRecord]) {
            for record in records {
                if let entry = try? Entry.decode(type: record.type, record.plaintext) { restore(entry) }
            }
            report.records += records.count
        }
        switch scanned.end {
        case .sealed:
            keep(scanned.records)
            return info(scanned, size: bytes.count, sealed: true)
        case .open where newest, .torn where newest:
            if scanned.validLength < bytes.count {
                report.truncated.append((Self.segmentName(id), bytes.count - scanned.validLength))
                logger.warning("cut a torn tail off a segment", metadata: [
                    "lane": "\(lane)", "segment": "\(id)", "bytes": "\(bytes.count - scanned.validLength)",
                ])
            }
            let writer = try SegmentWriter(sealing: path, scanned: scanned, master: keyring.key(scanned.header.keyID)!, fileSystem: fileSystem)
            writer.queueSeal()
            try writer.flush()
            try writer.sync()
            writer.close()
            report.sealed += 1
            keep(scanned.records)
            return info(scanned, size: writer.flushedLength, sealed: true)
        case .open, .torn, .damaged:
            var reason = "unsealed"
            if case .damaged(_, let why) = scanned.end { reason = why }
            if case .torn = scanned.end { reason = "torn" }
            report.segments -= 1
            for record in scanned.records { salvage.append((lane, record.type, record.plaintext)) }
            try quarantine(lane, id, reason: reason, report: &report)
            return nil
        }
    }

    /// A sealed segment the caller's state accounts for, checked from its header and seal
    /// (``SegmentScanner/openSealed(header:tail:fileSize:expected:keyring:)``); `nil` if they
    /// no longer match its summary (it is then scanned in full).
    private func openKnown(_ lane: Lane, _ summary: SegmentSummary) throws(FileSystemError) -> SegmentInfo? {
        let path = segmentPath(lane, summary.id)
        let size = try fileSystem.fileSize(path)
        guard size == summary.size, size >= SegmentHeader.size + SegmentScanner.sealRecordSize else { return nil }
        let head = try fileSystem.readRange(path, offset: 0, length: SegmentHeader.size)
        let tail = try fileSystem.readRange(path, offset: size - SegmentScanner.sealRecordSize, length: SegmentScanner.sealRecordSize)
        guard let header = SegmentScanner.openSealed(header: head, tail: tail, fileSize: size, expected: summary, keyring: keyring),
              header.lane == lane else {
            logger.notice("a segment no longer matches the checkpoint's summary of it: scanning it", metadata: [
                "lane": "\(lane)", "segment": "\(summary.id)",
            ])
            return nil
        }
        return SegmentInfo(id: summary.id, size: size, records: summary.records, thinning: header.thinning, keyID: header.keyID,
                           created: header.created, sealed: true)
    }

    private func info(_ scanned: ScannedSegment, size: Int, sealed: Bool) -> SegmentInfo {
        SegmentInfo(id: scanned.header.id, size: size, records: UInt64(scanned.records.count), thinning: scanned.header.thinning,
                    keyID: scanned.header.keyID, created: scanned.header.created, sealed: sealed)
    }

    /// Moves a segment out of the live log, never deleting it.
    private func quarantine(_ lane: Lane, _ id: UInt64, reason: String, report: inout RecoveryReport) throws(FileSystemError) {
        let name = quarantineName(lane, id, reason)
        try fileSystem.rename(segmentPath(lane, id), to: quarantineDirectory + "/" + name)
        try fileSystem.syncDirectory(laneDirectory(lane))
        report.quarantined.append((name, reason))
        logger.error("quarantined a damaged segment", metadata: ["lane": "\(lane)", "segment": "\(id)", "reason": "\(reason)"])
    }

    /// `<lane>-<segment>-<reason>.seg` in `quarantine/`.
    func quarantineName(_ lane: Lane, _ id: UInt64, _ reason: String) -> String {
        let safeReason = String(reason.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        return "\(lane)-\(Self.segmentName(id).dropLast(4))-\(safeReason).seg"
    }

    private func quarantinedSegmentIDs() throws(FileSystemError) -> [Lane: UInt64] {
        var highest: [Lane: UInt64] = [:]
        for name in try fileSystem.list(quarantineDirectory) {
            let parts = name.split(separator: "-")
            guard parts.count >= 2, let lane = Lane.allCases.first(where: { "\($0)" == parts[0] }),
                  let id = UInt64(parts[1], radix: 16) else { continue }
            highest[lane] = max(highest[lane] ?? 0, id)
        }
        return highest
    }

    func loadCursors() -> [Lane: Position] {
        guard let bytes = try? fileSystem.readFile(cursorPath) else { return [:] }
        guard let decoded = try? JSONDecoder().decode([String: Position].self, from: Data(bytes)) else {
            logger.error("the upload cursor is unreadable; uploading from the oldest record (the receiver drops duplicates)")
            return [:]
        }
        var cursors: [Lane: Position] = [:]
        for lane in Lane.allCases { cursors[lane] = decoded["\(lane)"] }
        return cursors
    }
}
