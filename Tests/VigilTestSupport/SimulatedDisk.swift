import Glibc
import Synchronization
import VigilCore
import VigilStore

/// An in-memory disk that models what survives a power cut, in the manner of SQLite's crash
/// tests: file contents are durable only up to the last `fdatasync`, directory entries (creates,
/// renames, removals) only after an `fsync` of their directory. ``crash(garble:)`` throws away
/// everything else, keeping a random prefix of each file's unsynced tail and optionally garbling
/// its last bytes, as a disk that lost power mid-write can.
public final class SimulatedDisk: FileSystem {
    private struct Inode {
        var bytes: [UInt8] = []
        var synced: [UInt8] = []
    }

    private struct State {
        var inodes: [Int: Inode] = [:]
        var entries: [String: Int] = [:]
        var durableEntries: [String: Int] = [:]
        var directories: Set<String> = ["/"]
        var handles: [Int32: Int] = [:]
        var nextInode = 1
        var nextHandle: Int32 = 100
        var random: SplitMix64
        /// Calls left before the power fails (every later call fails with EIO until `crash`).
        var callsUntilPowerCut: Int?

        mutating func tick(_ operation: String, _ path: String) throws(FileSystemError) {
            guard let left = callsUntilPowerCut else { return }
            if left <= 0 { throw FileSystemError(operation, path: path, code: EIO) }
            callsUntilPowerCut = left - 1
        }
    }

    private let state: Mutex<State>

    public init(seed: UInt64) {
        state = Mutex(State(random: SplitMix64(seed: seed)))
    }

    /// The power fails after `calls` more file-system calls (a write in flight lands partly).
    public func cutPower(afterCalls calls: Int) {
        state.withLock { $0.callsUntilPowerCut = calls }
    }

    /// Loses power: unsynced directory changes revert, unsynced file tails are cut at a random
    /// point (and, with `garble`, their last surviving bytes overwritten with noise). Open
    /// handles are gone.
    public func crash(garble: Bool) {
        state.withLock { state in
            state.callsUntilPowerCut = nil
            state.entries = state.durableEntries
            state.handles.removeAll()
            let live = Set(state.entries.values)
            for id in state.inodes.keys.sorted() {
                guard live.contains(id), var inode = state.inodes[id] else {
                    state.inodes[id] = nil
                    continue
                }
                if inode.bytes.count > inode.synced.count, Array(inode.bytes.prefix(inode.synced.count)) == inode.synced {
                    let tail = inode.bytes.count - inode.synced.count
                    let kept = Int(state.random.next() % UInt64(tail + 1))
                    var survivor = Array(inode.bytes.prefix(inode.synced.count + kept))
                    if garble && kept > 0 {
                        let noise = min(kept, 1 + Int(state.random.next() % 16))
                        for index in survivor.count - noise..<survivor.count { survivor[index] = UInt8(truncatingIfNeeded: state.random.next()) }
                    }
                    inode.bytes = survivor
                } else {
                    inode.bytes = inode.synced
                }
                inode.synced = inode.bytes
                state.inodes[id] = inode
            }
        }
    }

    public func createExclusive(_ path: String) throws(FileSystemError) -> FileHandleID {
        try state.withLock { (state) throws(FileSystemError) -> FileHandleID in
            try state.tick("open", path)
            guard state.directories.contains(parent(path)) else { throw FileSystemError("open", path: path, code: ENOENT) }
            guard state.entries[path] == nil else { throw FileSystemError("open", path: path, code: EEXIST) }
            let id = state.nextInode
            state.nextInode += 1
            state.inodes[id] = Inode()
            state.entries[path] = id
            return open(id, &state)
        }
    }

    public func openAppend(_ path: String) throws(FileSystemError) -> FileHandleID {
        try state.withLock { (state) throws(FileSystemError) -> FileHandleID in
            try state.tick("open", path)
            guard let id = state.entries[path] else { throw FileSystemError("open", path: path, code: ENOENT) }
            return open(id, &state)
        }
    }

    private func open(_ inode: Int, _ state: inout State) -> FileHandleID {
        let handle = state.nextHandle
        state.nextHandle += 1
        state.handles[handle] = inode
        return FileHandleID(handle)
    }

    private func inode(_ handle: FileHandleID, _ state: State, _ operation: String, _ path: String) throws(FileSystemError) -> Int {
        guard let id = state.handles[handle.rawValue] else { throw FileSystemError(operation, path: path, code: EBADF) }
        return id
    }

    public func write(_ handle: FileHandleID, _ bytes: UnsafeRawBufferPointer, path: String) throws(FileSystemError) -> Int {
        try state.withLock { (state) throws(FileSystemError) -> Int in
            let id = try inode(handle, state, "write", path)
            if state.callsUntilPowerCut == 0 {
                // The write in flight when the power fails: some of it lands.
                let landed = Int(state.random.next() % UInt64(bytes.count + 1))
                state.inodes[id]!.bytes.append(contentsOf: bytes.prefix(landed))
            }
            try state.tick("write", path)
            state.inodes[id]!.bytes.append(contentsOf: bytes)
            return bytes.count
        }
    }

    public func dataSync(_ handle: FileHandleID, path: String) throws(FileSystemError) {
        try state.withLock { (state) throws(FileSystemError) in
            try state.tick("fdatasync", path)
            let id = try inode(handle, state, "fdatasync", path)
            state.inodes[id]!.synced = state.inodes[id]!.bytes
        }
    }

    public func truncate(_ handle: FileHandleID, to length: Int, path: String) throws(FileSystemError) {
        try state.withLock { (state) throws(FileSystemError) in
            try state.tick("ftruncate", path)
            let id = try inode(handle, state, "ftruncate", path)
            let bytes = state.inodes[id]!.bytes
            state.inodes[id]!.bytes = length <= bytes.count
                ? Array(bytes.prefix(length)) : bytes + [UInt8](repeating: 0, count: length - bytes.count)
        }
    }

    public func close(_ handle: FileHandleID) {
        _ = state.withLock { $0.handles.removeValue(forKey: handle.rawValue) }
    }

    public func readFile(_ path: String) throws(FileSystemError) -> [UInt8] {
        try state.withLock { (state) throws(FileSystemError) -> [UInt8] in
            guard let id = state.entries[path] else { throw FileSystemError("open", path: path, code: ENOENT) }
            return state.inodes[id]!.bytes
        }
    }

    public func list(_ directory: String) throws(FileSystemError) -> [String] {
        try state.withLock { (state) throws(FileSystemError) -> [String] in
            guard state.directories.contains(directory) else { throw FileSystemError("opendir", path: directory, code: ENOENT) }
            return state.entries.keys.filter { parent($0) == directory }.map { String($0.dropFirst(directory.count + 1)) }
        }
    }

    /// Directories are durable at once (the store creates them before anything else).
    public func makeDirectory(_ path: String) throws(FileSystemError) {
        state.withLock { state in
            var current = path
            while current != "/" && !current.isEmpty {
                state.directories.insert(current)
                current = parent(current)
            }
        }
    }

    public func syncDirectory(_ path: String) throws(FileSystemError) {
        try state.withLock { (state) throws(FileSystemError) in
            try state.tick("fsync", path)
            for (name, id) in state.durableEntries where parent(name) == path && state.entries[name] != id {
                state.durableEntries[name] = nil
            }
            for (name, id) in state.entries where parent(name) == path { state.durableEntries[name] = id }
        }
    }

    public func rename(_ from: String, to: String) throws(FileSystemError) {
        try state.withLock { (state) throws(FileSystemError) in
            try state.tick("rename", from)
            guard let id = state.entries.removeValue(forKey: from) else { throw FileSystemError("rename", path: from, code: ENOENT) }
            state.entries[to] = id
        }
    }

    public func remove(_ path: String) throws(FileSystemError) {
        try state.withLock { (state) throws(FileSystemError) in
            try state.tick("unlink", path)
            guard state.entries.removeValue(forKey: path) != nil else { throw FileSystemError("unlink", path: path, code: ENOENT) }
        }
    }

    public func fileSize(_ path: String) throws(FileSystemError) -> Int {
        try readFile(path).count
    }

    public func availableBytes(_ path: String) throws(FileSystemError) -> Int64 { 1 << 40 }
}

private func parent(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
