import Crypto

/// The segment a lane is appending to. `append` queues a record; `flush` encrypts the queue and
/// writes it with one `write`; `sync` makes it durable. A group commit is `flush` + `sync` for
/// everything appended since the last one. Plaintexts stay queued until a flush succeeds, so a
/// flush that hit a full disk can be retried after eviction.
final class SegmentWriter {
    let path: String
    let header: SegmentHeader
    private let cipher: SegmentCipher
    private let fileSystem: any FileSystem
    private var handle: FileHandleID?

    /// State as of the last successful flush, restored if a flush fails.
    private var flushedIndex: UInt64
    private var flushedDigest: SealDigest
    private(set) var flushedLength: Int
    private var nextIndex: UInt64
    private var digest: SealDigest
    private var queued: [(RecordType, [UInt8])] = []
    private var queuedBytes = 0
    private var output: [UInt8] = []
    /// Written but not yet synced.
    private(set) var unsynced = false
    /// Benchmarks only: see ``StoreOptions/withoutEncryptionForBenchmark``.
    var encrypt = true
    /// A failed flush could not be rolled back: the file's tail is unknown, write no more to it.
    private(set) var broken = false

    var size: Int { flushedLength + queuedBytes }
    var queuedRecords: Int { queued.count }
    /// Entries written or queued: every record but the seal.
    var entryCount: UInt64 { sealQueued ? nextIndex - 1 : nextIndex }
    private var sealQueued = false

    /// Creates the file (`O_EXCL`), writes and syncs the header, and syncs the directory.
    init(create path: String, header: SegmentHeader, master: SymmetricKey, fileSystem: any FileSystem) throws(FileSystemError) {
        self.path = path
        self.header = header
        self.fileSystem = fileSystem
        cipher = SegmentCipher(master: master, header: header)
        let handle = try fileSystem.createExclusive(path)
        do {
            try fileSystem.writeAll(handle, header.encoded, path: path)
            try fileSystem.dataSync(handle, path: path)
            try fileSystem.syncDirectory(directory(of: path))
        } catch {
            fileSystem.close(handle)
            try? fileSystem.remove(path)
            throw error
        }
        self.handle = handle
        flushedLength = SegmentHeader.size
        flushedIndex = 0
        nextIndex = 0
        digest = SealDigest()
        flushedDigest = digest
    }

    /// Reopens a segment left open by a crash, cut to its valid prefix, only to seal it.
    init(sealing path: String, scanned: ScannedSegment, master: SymmetricKey, fileSystem: any FileSystem) throws(FileSystemError) {
        self.path = path
        header = scanned.header
        self.fileSystem = fileSystem
        cipher = SegmentCipher(master: master, header: header)
        let handle = try fileSystem.openAppend(path)
        do {
            try fileSystem.truncate(handle, to: scanned.validLength, path: path)
            try fileSystem.dataSync(handle, path: path)
        } catch {
            fileSystem.close(handle)
            throw error
        }
        self.handle = handle
        var digest = SealDigest()
        for record in scanned.records { digest.add(crc: record.crc) }
        self.digest = digest
        flushedDigest = digest
        flushedLength = scanned.validLength
        nextIndex = UInt64(scanned.records.count)
        flushedIndex = nextIndex
    }

    /// Queues one record.
    func append(_ type: RecordType, plaintext: [UInt8]) {
        precondition(!broken && handle != nil)
        queued.append((type, plaintext))
        queuedBytes += RecordFraming.prefixSize + plaintext.count + SegmentCipher.tagSize
    }

    /// Encrypts and writes the queue. On failure the file is cut back to its last good length and
    /// the queue is kept (retry after eviction, or `discardQueued`); if the cut fails too the
    /// writer is `broken` and the store moves to a new segment.
    func flush() throws(FileSystemError) {
        guard !queued.isEmpty, let handle else { return }
        output.removeAll(keepingCapacity: true)
        for (type, plaintext) in queued {
            let recordStart = output.count
            output.append(contentsOf: repeatElement(0, count: RecordFraming.prefixSize))
            if encrypt {
                cipher.seal(plaintext, index: nextIndex, type: type, into: &output)
            } else {
                output.append(contentsOf: plaintext)
                output.append(contentsOf: repeatElement(0, count: SegmentCipher.tagSize))
            }
            let crc = RecordFraming.fill(prefixAt: recordStart, type: type, in: &output)
            digest.add(crc: crc)
            nextIndex += 1
        }
        do {
            try fileSystem.writeAll(handle, output, path: path)
        } catch {
            rollback()
            throw error
        }
        flushedLength += output.count
        queued.removeAll(keepingCapacity: true)
        queuedBytes = 0
        flushedIndex = nextIndex
        flushedDigest = digest
        unsynced = true
    }

    /// Forgets the queued records (their frames were not acknowledged; devices resend them).
    func discardQueued() {
        queued.removeAll(keepingCapacity: true)
        queuedBytes = 0
    }

    private func rollback() {
        nextIndex = flushedIndex
        digest = flushedDigest
        guard let handle else { return }
        do {
            try fileSystem.truncate(handle, to: flushedLength, path: path)
        } catch {
            broken = true
        }
    }

    /// `fdatasync`. An error here means the kernel may have dropped written pages: the caller
    /// treats it as fatal (docs/STORE.md, "Sync failures").
    func sync() throws(FileSystemError) {
        guard unsynced, let handle else { return }
        try fileSystem.dataSync(handle, path: path)
        unsynced = false
    }

    /// Queues the seal record (after the queue is flushed): `flush`, `sync`, `close` complete it.
    func queueSeal() {
        precondition(queued.isEmpty, "flush before sealing")
        append(.seal, plaintext: digest.plaintext)
        sealQueued = true
    }

    func close() {
        if let handle { fileSystem.close(handle) }
        handle = nil
    }

    deinit { close() }
}
