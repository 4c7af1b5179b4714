import Foundation
import Glibc
import Synchronization
import VigilStore

/// The real file system with faults on demand: a disk that is full (ENOSPC once the free bytes
/// given are written; removing or truncating files frees space again, as on a real disk), EIO
/// from `fdatasync`, short writes. Counts what it injected.
public final class FaultInjectingFileSystem: FileSystem {
    struct State {
        var writeBudget: Int?
        var failSync = false
        var stallNextSync: Double?
        var shortWrites = false
        var injectedNoSpace = 0
        var syncs = 0
    }

    private let base = PosixFileSystem()
    private let state = Mutex(State())

    public init() {}

    /// Only `bytes` more bytes fit (`nil`: no limit); freed bytes count again.
    public func limitWrites(to bytes: Int?) { state.withLock { $0.writeBudget = bytes } }
    public func failSyncs(_ fail: Bool) { state.withLock { $0.failSync = fail } }
    /// The next `fdatasync` takes `seconds` (a slow SD card, a stalled disk).
    public func stallNextSync(seconds: Double) { state.withLock { $0.stallNextSync = seconds } }
    /// Each write writes at most half of what it is given (at least one byte).
    public func shortenWrites(_ shorten: Bool) { state.withLock { $0.shortWrites = shorten } }
    public var injectedNoSpace: Int { state.withLock { $0.injectedNoSpace } }
    /// Successful `fdatasync` calls so far.
    public var syncs: Int { state.withLock { $0.syncs } }

    public func write(_ handle: FileHandleID, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileSystemError) -> Int {
        var count = bytes.count
        let allowed: Int? = state.withLock { state in
            if state.shortWrites { count = max(1, count / 2) }
            guard let budget = state.writeBudget else { return count }
            if budget == 0 {
                state.injectedNoSpace += 1
                return nil
            }
            count = min(count, budget)
            state.writeBudget = budget - count
            return count
        }
        guard let allowed else { throw FileSystemError("write", path: path, code: ENOSPC) }
        return try base.write(handle, UnsafeRawBufferPointer(rebasing: bytes[..<allowed]), path: path)
    }

    public func dataSync(_ handle: FileHandleID, path: String) throws(FileSystemError) {
        if state.withLock({ $0.failSync }) { throw FileSystemError("fdatasync", path: path, code: EIO) }
        if let stall = state.withLock({ state -> Double? in
            defer { state.stallNextSync = nil }
            return state.stallNextSync
        }) {
            Thread.sleep(forTimeInterval: stall)
        }
        try base.dataSync(handle, path: path)
        state.withLock { $0.syncs += 1 }
    }

    public func createExclusive(_ path: String) throws(FileSystemError) -> FileHandleID { try base.createExclusive(path) }
    public func openAppend(_ path: String) throws(FileSystemError) -> FileHandleID { try base.openAppend(path) }
    public func truncate(_ handle: FileHandleID, to length: Int, path: String) throws(FileSystemError) {
        let before = (try? base.fileSize(path)) ?? length
        try base.truncate(handle, to: length, path: path)
        free(before - length)
    }

    private func free(_ bytes: Int) {
        guard bytes > 0 else { return }
        state.withLock { state in
            if let budget = state.writeBudget { state.writeBudget = budget + bytes }
        }
    }
    public func close(_ handle: FileHandleID) { base.close(handle) }
    public func readFile(_ path: String) throws(FileSystemError) -> [UInt8] { try base.readFile(path) }
    public func list(_ directory: String) throws(FileSystemError) -> [String] { try base.list(directory) }
    public func makeDirectory(_ path: String) throws(FileSystemError) { try base.makeDirectory(path) }
    public func syncDirectory(_ path: String) throws(FileSystemError) { try base.syncDirectory(path) }
    public func rename(_ from: String, to: String) throws(FileSystemError) {
        let replaced = (try? base.fileSize(to)) ?? 0
        try base.rename(from, to: to)
        free(replaced)
    }

    public func remove(_ path: String) throws(FileSystemError) {
        let size = (try? base.fileSize(path)) ?? 0
        try base.remove(path)
        free(size)
    }
    public func fileSize(_ path: String) throws(FileSystemError) -> Int { try base.fileSize(path) }
    public func availableBytes(_ path: String) throws(FileSystemError) -> Int64 {
        if let budget = state.withLock({ $0.writeBudget }) { return Int64(budget) }
        return try base.availableBytes(path)
    }
}
