import Foundation
import Synchronization
import VigilFormats
import VigilStore

/// The audit log's entries the hospital has not confirmed yet, read as the log grows, and the
/// cursor `audit/uploaded` (`<seq> <mac>`) of the last one it has: what the uplink sends as
/// AuditEvents. The log only grows; if it shrinks or is replaced, it is read again from the start,
/// and entries at or before the cursor are not sent again (the hospital keeps what it received).
public final class AuditTail: Sendable {
    private let log: AuditLog
    private let state: Mutex<State>

    struct State {
        /// Bytes of the log read so far (through the end of a whole line), and lines in them.
        var offset = 0
        var lines = 0
        var inode: UInt64 = 0
        var buffered: [AuditChain.Link] = []
        var confirmed: AuditChain.Head?
        /// Lines that are no entry (counted; `vigil audit verify` names them).
        var unreadable = 0
    }

    /// Bytes read from the log at most per call: the first read of a long log is spread out.
    static let readLimit = 1 << 20

    public init(log: AuditLog) {
        self.log = log
        var state = State()
        if let bytes = try? PosixFileSystem().readFile(log.directory + "/uploaded") {
            state.confirmed = AuditChain.Head(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                .replacingOccurrences(of: " ", with: ":"))
        }
        self.state = Mutex(state)
    }

    public var cursorPath: String { log.directory + "/uploaded" }

    /// The last entry the hospital confirmed.
    public var confirmed: AuditChain.Head? { state.withLock { $0.confirmed } }
    public var unreadableLines: Int { state.withLock { $0.unreadable } }

    /// The oldest unconfirmed entries, at most `limit`.
    public func pending(limit: Int) -> [AuditChain.Link] {
        state.withLock { state in
            if state.buffered.count < limit { readMore(&state) }
            return Array(state.buffered.prefix(limit))
        }
    }

    private func readMore(_ state: inout State) {
        var info = stat()
        guard stat(log.path, &info) == 0 else { return }
        let size = Int(info.st_size)
        if UInt64(info.st_ino) != state.inode || size < state.offset {
            state.inode = UInt64(info.st_ino)
            state.offset = 0
            state.lines = 0
            state.buffered = []
        }
        guard size > state.offset else { return }
        let fd = open(log.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: min(size - state.offset, Self.readLimit))
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(state.offset)) }
        guard count > 0, let end = bytes[..<count].lastIndex(of: UInt8(ascii: "\n")) else { return }
        let whole = bytes[...end]
        state.offset += whole.count
        let confirmedSeq = state.confirmed?.seq ?? 0
        for line in whole.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
            state.lines += 1
            guard let link = AuditChain.link(line, lineNumber: state.lines) else {
                state.unreadable += 1
                continue
            }
            if link.seq > confirmedSeq { state.buffered.append(link) }
        }
    }

    /// The hospital holds every entry through `head`: the cursor moves there and is synced.
    public func confirm(through head: AuditChain.Head) throws {
        state.withLock { state in
            state.confirmed = head
            state.buffered.removeAll { $0.seq <= head.seq }
        }
        let fileSystem = PosixFileSystem()
        try fileSystem.replaceDurably(cursorPath, with: Array("\(head.seq) \(head.mac)\n".utf8))
        try fileSystem.syncDirectory(log.directory)
    }
}
