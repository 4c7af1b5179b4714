/// Clinically aware eviction: when the quota or the disk is full, routine readings go first and
/// in stages, oldest segments first within each stage:
///
/// 1. thin: keep abnormal readings and one routine reading per device per thinning interval;
/// 2. thin again: keep abnormal readings only;
/// 3. delete the segment.
///
/// Each stage runs over every routine segment before the next begins. Alerts and gap records
/// (the priority lane) are evicted only to make room for new alerts, oldest first. Every removal
/// writes a data-gap record per device to the priority lane, before the data goes, so the team
/// sees what is missing; a crash in between leaves a gap record for data still present, never
/// the reverse.
extension Store {
    /// Evicts until `needed` more bytes fit (or, when `force` after ENOSPC, until that many bytes
    /// were freed). `false` if nothing more may be evicted for this lane. Throws only a failed
    /// sync (sealing the active segment to evict it), which is fatal like any other.
    func makeRoom(for lane: Lane, needed: Int64, force: Bool = false) throws(StoreError) -> Bool {
        var freed: Int64 = 0
        for _ in 0..<256 {
            if force {
                if freed >= needed + 65_536 { return true }
            } else if lane == .priority || withinLimits(adding: needed) {
                return true
            }
            guard let released = try evictOne(allowPriority: lane == .priority) else { return false }
            freed += released
        }
        return false
    }

    /// One eviction step; the bytes it released, or `nil` when there is nothing left to evict.
    private func evictOne(allowPriority: Bool) throws(StoreError) -> Int64? {
        let cursor = cursorLocked(.routine)
        var candidates = (lanes[.routine]?.segments ?? []).filter { $0.sealed && $0.id > cursor.segment && mayRemove(.routine, $0) }
        if candidates.isEmpty, let writer = lanes[.routine]?.writer, writer.entryCount > 0, writer.header.id > cursor.segment {
            try rotate(.routine)
            candidates = (lanes[.routine]?.segments ?? []).filter { $0.sealed && $0.id > cursor.segment && mayRemove(.routine, $0) }
        }
        if let victim = candidates.min(by: { ($0.thinning, $0.id) < ($1.thinning, $1.id) }) {
            return victim.thinning < 2 ? thin(victim) : delete(.routine, victim)
        }
        guard allowPriority else { return nil }
        let priorityCursor = cursorLocked(.priority)
        guard let oldest = lanes[.priority]?.segments.first(where: { $0.sealed && $0.id > priorityCursor.segment }),
              mayRemove(.priority, oldest) else { return nil }
        return delete(.priority, oldest)
    }

    /// Rewrites a routine segment with fewer readings, one stage further.
    private func thin(_ segment: SegmentInfo) -> Int64? {
        guard let scanned = try? scan(.routine, segment.id) else { return delete(.routine, segment) }
        let records = scanned.records
        checkIntact(.routine, segment.id, scanned)
        let stage = segment.thinning + 1
        var kept: [ReadingBatch] = []
        var removed: [String: DataGap] = [:]
        var lastBucket: [String: Int64] = [:]
        for record in records {
            guard case .readings(var batch)? = try? Entry.decode(type: record.type, record.plaintext) else { continue }
            batch.readings = batch.readings.filter { reading in
                if reading.isAbnormal { return true }
                if stage == 1 {
                    let bucket = reading.time / max(1, options.thinningIntervalMilliseconds)
                    if lastBucket[batch.device] != bucket {
                        lastBucket[batch.device] = bucket
                        return true
                    }
                }
                removed[batch.device, default: DataGap(device: batch.device, patient: batch.patient, reason: .thinned,
                                                       from: reading.time, to: reading.time, count: 0)].absorb(reading.time)
                return false
            }
            if !batch.readings.isEmpty { kept.append(batch) }
        }
        // The disk too full even for the gap record: delete instead, which records its gaps as
        // soon as the deletion has made room.
        guard recordGaps(removed.values) else { return delete(.routine, segment) }
        let path = segmentPath(.routine, segment.id)
        let header = SegmentHeader(lane: .routine, thinning: stage, id: segment.id, keyID: keyring.currentID,
                                   salt: Self.randomSalt(), created: segment.created)
        let replacement = path + ".new"
        do {
            let writer = try SegmentWriter(create: replacement, header: header, master: keyring.current, fileSystem: fileSystem)
            for batch in kept { writer.append(.readings, plaintext: Entry.readings(batch).encoded) }
            try writer.flush()
            writer.queueSeal()
            try writer.flush()
            try writer.sync()
            writer.close()
            try fileSystem.rename(replacement, to: path)
            layoutGenerationLocked &+= 1
            try fileSystem.syncDirectory(laneDirectory(.routine))
            let removedCount = removed.values.reduce(0) { $0 + Int($1.count) }
            metrics.evicted(kind: .thinned, readings: removedCount)
            let freed = Int64(segment.size - writer.flushedLength)
            if let index = lanes[.routine]?.segments.firstIndex(where: { $0.id == segment.id }) {
                lanes[.routine]?.segments[index].size = writer.flushedLength
                lanes[.routine]?.segments[index].records = UInt64(kept.count)
                lanes[.routine]?.segments[index].thinning = stage
                lanes[.routine]?.segments[index].keyID = header.keyID
            }
            logger.warning("thinned routine readings to stay within the store's limits", metadata: [
                "segment": "\(segment.id)", "stage": "\(stage)", "readings_removed": "\(removedCount)", "bytes_freed": "\(freed)",
            ])
            return freed
        } catch {
            // No room even for the smaller copy: remove the segment outright.
            try? fileSystem.remove(replacement)
            // Gaps for the thinned readings are already recorded: record only what thinning kept.
            return delete(.routine, segment, remaining: kept)
        }
    }

    /// Deletes a segment, recording what it held as gaps first. `remaining`: the readings still
    /// unaccounted for, when a failed thinning already recorded the rest (default: the file's).
    private func delete(_ lane: Lane, _ segment: SegmentInfo, remaining: [ReadingBatch]? = nil) -> Int64 {
        var batches: [ReadingBatch] = remaining ?? []
        var alerts = 0
        if remaining == nil {
            for record in (try? scan(lane, segment.id))?.records ?? [] {
                switch try? Entry.decode(type: record.type, record.plaintext) {
                case .readings(let batch): batches.append(batch)
                case .alert: alerts += 1
                default: break
                }
            }
        }
        var gaps: [String: DataGap] = [:]
        for batch in batches {
            for reading in batch.readings {
                gaps[batch.device, default: DataGap(device: batch.device, patient: batch.patient, reason: .evicted,
                                                    from: reading.time, to: reading.time, count: 0)].absorb(reading.time)
            }
        }
        // Gap records go first, so a crash leaves a record of data still present, never the
        // reverse; when even they do not fit, they go right after the deletion has made room.
        let recordedFirst = lane != .routine || recordGaps(gaps.values)
        do {
            try fileSystem.remove(segmentPath(lane, segment.id))
            layoutGenerationLocked &+= 1
            try fileSystem.syncDirectory(laneDirectory(lane))
        } catch {
            logger.error("could not delete a segment to free space", metadata: ["segment": "\(segment.id)", "error": "\(error)"])
            return 0
        }
        if !recordedFirst, !recordGaps(gaps.values) {
            logger.critical("deleted readings without a gap record: the disk is full even after the deletion", metadata: [
                "segment": "\(segment.id)",
            ])
        }
        lanes[lane]?.segments.removeAll { $0.id == segment.id }
        let readings = gaps.values.reduce(0) { $0 + Int($1.count) }
        metrics.evicted(kind: .evicted, readings: readings)
        evictedLocked &+= UInt64(readings)
        logger.error(lane == .routine ? "deleted routine readings to stay within the store's limits"
                     : "deleted old alerts to make room for new ones", metadata: [
            "lane": "\(lane)", "segment": "\(segment.id)", "readings_removed": "\(readings)", "alerts_removed": "\(alerts)",
        ])
        return Int64(segment.size)
    }

    /// Appends and syncs gap records in the priority lane; `false` when they could not be made
    /// durable, and then the data they describe must stay.
    private func recordGaps(_ gaps: some Sequence<DataGap>) -> Bool {
        var any = false
        for gap in gaps.sorted(by: { $0.device < $1.device }) {
            guard let writer = try? activeWriter(.priority) else { return false }
            writer.append(.gap, plaintext: Entry.gap(gap).encoded)
            any = true
        }
        guard any else { return true }
        guard let writer = lanes[.priority]?.writer else { return false }
        do {
            try writer.flush()
            try writer.sync()
            return true
        } catch {
            writer.discardQueued()
            logger.error("could not record a data gap: the readings it describes are kept", metadata: ["error": "\(error)"])
            return false
        }
    }
}

extension DataGap {
    mutating func absorb(_ time: Int64) {
        from = min(from, time)
        to = max(to, time)
        count += 1
    }
}

extension Store {
    /// Readings deleted undelivered to make room (not thinned: thinning keeps the alerts and a
    /// reading a minute) since the store opened: the gateway's `store_evicting` condition.
    public var evictedReadings: UInt64 {
        lock.lock()
        defer { lock.unlock() }
        return evictedLocked
    }
}
