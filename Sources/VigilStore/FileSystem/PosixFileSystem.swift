#if canImport(Glibc)
import Glibc
#endif

/// The real file system: each call is the system call, retried on EINTR, errno turned into
/// ``FileSystemError``.
public struct PosixFileSystem: FileSystem {
    public init() {}

    public func createExclusive(_ path: String) throws(FileSystemError) -> FileHandleID {
        try FileHandleID(retrying("open", path) { open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600) })
    }

    public func openAppend(_ path: String) throws(FileSystemError) -> FileHandleID {
        try FileHandleID(retrying("open", path) { open(path, O_WRONLY | O_APPEND | O_CLOEXEC) })
    }

    public func write(_ handle: FileHandleID, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileSystemError) -> Int {
        try retrying("write", path) { Glibc.write(handle.rawValue, bytes.baseAddress, bytes.count) }
    }

    public func dataSync(_ handle: FileHandleID, path: String) throws(FileSystemError) {
        _ = try retrying("fdatasync", path) { fdatasync(handle.rawValue) }
    }

    public func truncate(_ handle: FileHandleID, to length: Int, path: String) throws(FileSystemError) {
        _ = try retrying("ftruncate", path) { ftruncate(handle.rawValue, off_t(length)) }
    }

    public func close(_ handle: FileHandleID) {
        _ = Glibc.close(handle.rawValue)
    }

    public func readFile(_ path: String) throws(FileSystemError) -> [UInt8] {
        let fd = try retrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = Glibc.close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let outcome = chunk.withUnsafeMutableBytes { raw in
                Result { () throws(FileSystemError) -> Int in
                    try retrying("read", path) { read(fd, raw.baseAddress, raw.count) }
                }
            }
            let count = try outcome.get()
            if count == 0 { return result }
            result.append(contentsOf: chunk[..<count])
        }
    }

    public func list(_ directory: String) throws(FileSystemError) -> [String] {
        guard let handle = opendir(directory) else { throw FileSystemError("opendir", path: directory, code: errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func makeDirectory(_ path: String) throws(FileSystemError) {
        var isDirectory = stat()
        if stat(path, &isDirectory) == 0 { return }
        let parent = VigilStore.directory(of: path)
        if parent != path && parent != "." && parent != "/" { try makeDirectory(parent) }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw FileSystemError("mkdir", path: path, code: errno) }
    }

    public func syncDirectory(_ path: String) throws(FileSystemError) {
        let fd = try retrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { _ = Glibc.close(fd) }
        _ = try retrying("fsync", path) { fsync(fd) }
    }

    public func rename(_ from: String, to: String) throws(FileSystemError) {
        _ = try retrying("rename", from) { Glibc.rename(from, to) }
    }

    public func remove(_ path: String) throws(FileSystemError) {
        _ = try retrying("unlink", path) { unlink(path) }
    }

    public func readRange(_ path: String, offset: Int, length: Int) throws(FileSystemError) -> [UInt8] {
        guard length > 0 else { return [] }
        let fd = try retrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = Glibc.close(fd) }
        var result = [UInt8](repeating: 0, count: length)
        var filled = 0
        while filled < length {
            let outcome = result.withUnsafeMutableBytes { raw in
                Result { () throws(FileSystemError) -> Int in
                    try retrying("pread", path) { pread(fd, raw.baseAddress! + filled, length - filled, off_t(offset + filled)) }
                }
            }
            let count = try outcome.get()
            if count == 0 { break }
            filled += count
        }
        result.removeLast(length - filled)
        return result
    }

    public func fileSize(_ path: String) throws(FileSystemError) -> Int {
        var info = stat()
        _ = try retrying("stat", path) { stat(path, &info) }
        return Int(info.st_size)
    }

    public func availableBytes(_ path: String) throws(FileSystemError) -> Int64 {
        var info = statvfs()
        _ = try retrying("statvfs", path) { statvfs(path, &info) }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    private func retrying<T: BinaryInteger>(_ operation: String, _ path: String, _ call: () -> T) throws(FileSystemError) -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            if errno == EINTR { continue }
            throw FileSystemError(operation, path: path, code: errno)
        }
    }
}
