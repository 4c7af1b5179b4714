#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor handed out by a ``FileSystem``.
public struct FileHandleID: Hashable, Sendable {
    public let rawValue: Int32
    public init(_ rawValue: Int32) { self.rawValue = rawValue }
}

/// A failed file-system call: the operation, the path and the errno.
public struct FileSystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let code: Int32

    public init(_ operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var isNoSpace: Bool { code == ENOSPC || code == EDQUOT }
    /// A failed `fsync`/`fdatasync`: what was written may be lost (see ``StoreError/syncFailed(_:)``).
    public var isSync: Bool { operation == "fsync" || operation == "fdatasync" }
    public var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}

/// The one chokepoint for every file-system call the store makes.
///
/// The real implementation is ``PosixFileSystem``; tests wrap it to inject ENOSPC, EIO and short
/// writes, or replace it with a simulated disk that drops or garbles unsynced writes on a crash.
/// Calls are synchronous: the store is driven by one task and batches its syncs.
public protocol FileSystem: Sendable {
    /// Creates a new file (`O_CREAT | O_EXCL`, mode 0600) open for appending.
    func createExclusive(_ path: String) throws(FileSystemError) -> FileHandleID
    /// Opens an existing file for appending.
    func openAppend(_ path: String) throws(FileSystemError) -> FileHandleID
    /// One `write(2)`; may write fewer bytes than given.
    func write(_ handle: FileHandleID, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileSystemError) -> Int
    /// `fdatasync(2)`.
    func dataSync(_ handle: FileHandleID, path: String) throws(FileSystemError)
    /// `ftruncate(2)`.
    func truncate(_ handle: FileHandleID, to length: Int, path: String) throws(FileSystemError)
    func close(_ handle: FileHandleID)
    func readFile(_ path: String) throws(FileSystemError) -> [UInt8]
    /// Up to `length` bytes from `offset` (`pread(2)`): fewer only at the end of the file.
    func readRange(_ path: String, offset: Int, length: Int) throws(FileSystemError) -> [UInt8]
    /// Names (not paths) in a directory, unsorted.
    func list(_ directory: String) throws(FileSystemError) -> [String]
    /// Creates the directory and missing parents with mode 0700.
    func makeDirectory(_ path: String) throws(FileSystemError)
    /// `fsync(2)` on a directory, so created, renamed and removed entries are durable.
    func syncDirectory(_ path: String) throws(FileSystemError)
    func rename(_ from: String, to: String) throws(FileSystemError)
    func remove(_ path: String) throws(FileSystemError)
    func fileSize(_ path: String) throws(FileSystemError) -> Int
    /// Bytes an unprivileged writer may still use on the file system holding `path`.
    func availableBytes(_ path: String) throws(FileSystemError) -> Int64
}

extension FileSystem {
    /// Writes all of `bytes`, looping over short writes.
    public func writeAll(_ handle: FileHandleID, _ bytes: [UInt8], path: String) throws(FileSystemError) {
        var offset = 0
        while offset < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                Result { () throws(FileSystemError) -> Int in
                    try write(handle, UnsafeRawBufferPointer(rebasing: raw[offset...]), path: path)
                }
            }
            let written = try result.get()
            if written <= 0 { throw FileSystemError("write", path: path, code: EIO) }
            offset += written
        }
    }

    /// Replaces `path` atomically and durably: temp file, sync, rename, sync directory.
    public func replaceDurably(_ path: String, with bytes: [UInt8]) throws(FileSystemError) {
        let temporary = path + ".tmp"
        try? remove(temporary)
        let handle = try createExclusive(temporary)
        do {
            try writeAll(handle, bytes, path: temporary)
            try dataSync(handle, path: temporary)
        } catch {
            close(handle)
            throw error
        }
        close(handle)
        try rename(temporary, to: path)
        try syncDirectory(directory(of: path))
    }

    public func exists(_ path: String) -> Bool { (try? fileSize(path)) != nil }

    /// Through ``readFile(_:)``, for file systems that hold their files in memory (test twins).
    public func readRange(_ path: String, offset: Int, length: Int) throws(FileSystemError) -> [UInt8] {
        let bytes = try readFile(path)
        guard offset < bytes.count else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + length)])
    }
}

func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
