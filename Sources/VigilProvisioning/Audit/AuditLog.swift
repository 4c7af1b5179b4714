import Crypto
import Foundation
import VigilCore
import VigilFormats
import VigilStore

/// Who did what, for the audit log: the process's own user (the CLI, run by root or with sudo),
/// or the peer of a control-socket connection.
public struct AuditCaller: Sendable, Equatable {
    public var uid: UInt32
    public var user: String
    public var role: String
    public var pid: Int32?

    public init(uid: UInt32, user: String, role: String, pid: Int32? = nil) {
        self.uid = uid
        self.user = user
        self.role = role
        self.pid = pid
    }

    /// This process: root's CLI is the operator (`SUDO_USER` names the person behind sudo).
    public static var current: AuditCaller {
        let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.userName
        return AuditCaller(uid: getuid(), user: user, role: getuid() == 0 ? "operator" : "local")
    }

    var fields: [(String, String)] {
        [("uid", "\(uid)"), ("user", user), ("role", role)] + (pid.map { [("pid", "\($0)")] } ?? [])
    }
}

public struct AuditLogError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The append-only audit log, `<state>/audit/audit.log` (format: ``AuditChain``): exports, key
/// changes, provisioning, configuration and patient-settings changes, and every view of patient
/// data or refused request through the control socket. Lines name who, when and what, never
/// readings. Appends from the agent and from root's CLI are serialised by `flock` on the log, and
/// each is synced before the caller goes on (a view is recorded before the data is shown).
public struct AuditLog: Sendable {
    public let directory: String
    public let keys: AuditKeys?

    public init(directory: String, keys: AuditKeys?) {
        self.directory = directory
        self.keys = keys
    }

    /// The log of a state directory, keyed with the store's keys when this user can read them.
    public init(stateDirectory: String, keyFile: String) {
        self.init(directory: stateDirectory + "/audit", keys: AuditKeys.load(keyFile: keyFile))
    }

    public var path: String { directory + "/audit.log" }
    /// The last keyed entry's number and MAC, itself MAC'd: a tail cut off the log no longer
    /// reaches it.
    public var headPath: String { directory + "/head" }

    @discardableResult
    public func append(action: String, details: [(String, String)], caller: AuditCaller = .current,
                       at time: Date = Date()) throws -> AuditChain.Head {
        let fileSystem = PosixFileSystem()
        do {
            try fileSystem.makeDirectory(directory)
        } catch {
            throw AuditLogError(description: "cannot create \(directory): \(error)")
        }
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AuditLogError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw AuditLogError(description: "cannot lock \(path): \(String(cString: strerror(errno)))") }
        let existing = (try? fileSystem.readFile(path)) ?? []
        let lines = existing.split(separator: UInt8(ascii: "\n"))
        var previous = AuditChain.origin
        if let last = lines.last {
            guard let entry = AuditChain.parse(last) else { throw AuditLogError(description: "\(path): the last line is not an entry; run `vigil audit verify`") }
            previous = entry.mac ?? hexEncoded(SHA256.hash(data: last))
            if keys == nil, let id = entry.keyID, id != "none" {
                throw AuditLogError(description: "the audit log is keyed and the store keys are not readable by this user")
            }
        }
        let seq = UInt64(lines.count + 1)
        var fields = [("time", ISO8601DateFormatter().string(from: time)), ("action", action)] + caller.fields
        fields += details
        let line = AuditChain.seal(seq: seq, fields: fields, previous: previous, key: keys?.current)
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fdatasync(fd) == 0 else {
            // A short write leaves a partial line that verification reports; cut it off again.
            _ = ftruncate(fd, off_t(existing.count))
            throw AuditLogError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        let head = AuditChain.Head(seq: seq, mac: String(line.suffix(66).prefix(64)))
        do {
            if let keys { try fileSystem.replaceDurably(headPath, with: Array(Self.headRecord(head, keys: keys).utf8)) }
            try fileSystem.syncDirectory(directory)
        } catch {
            throw AuditLogError(description: "cannot record the audit head in \(directory): \(error)")
        }
        StateOwner.adopt([directory, path, headPath], like: (directory as NSString).deletingLastPathComponent)
        return head
    }

    /// `<seq> <mac> <key id> <HMAC of "<seq> <mac>">`.
    static func headRecord(_ head: AuditChain.Head, keys: AuditKeys) -> String {
        let (id, key) = keys.current
        let text = "\(head.seq) \(head.mac)"
        return "\(text) \(id) \(hexEncoded(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))\n"
    }

    /// The head record, if present and MAC'd under one of `keys`.
    public enum HeadRecord: Equatable, Sendable {
        case none
        case valid(AuditChain.Head)
        case forged
    }

    public func headRecord() -> HeadRecord {
        guard let bytes = try? PosixFileSystem().readFile(headPath) else { return .none }
        let parts = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).map(String.init)
        guard parts.count == 4, let head = AuditChain.Head("\(parts[0]):\(parts[1])"), let id = UInt32(parts[2]),
              let key = keys?.key(id) else { return .forged }
        let text = "\(head.seq) \(head.mac)"
        return hexEncoded(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)) == parts[3] ? .valid(head) : .forged
    }

    /// The whole check: every line, the head record beside the log, and `anchor` (the chain head
    /// the hospital holds), if given.
    public func verify(anchor: AuditChain.Head? = nil) throws -> AuditChain.Verification {
        let bytes: [UInt8]
        do {
            bytes = try PosixFileSystem().readFile(path)
        } catch {
            throw AuditLogError(description: "cannot read \(path): \(error)")
        }
        var heads: [AuditChain.Head] = []
        switch headRecord() {
        case .valid(let head): heads.append(head)
        case .forged:
            var result = AuditChain.verify(bytes, keys: keys)
            if result.intact { result.problem = .headForged }
            return result
        case .none: break
        }
        if let anchor { heads.append(anchor) }
        var result = AuditChain.verify(bytes, keys: keys, heads: heads)
        if result.intact, heads.isEmpty, result.entries > result.unkeyed { result.problem = .headMissing }
        return result
    }

    /// The store keys that entries name (kept by `vigil keys rotate`).
    public func keyIDsInUse() -> Set<UInt32> {
        guard let bytes = try? PosixFileSystem().readFile(path) else { return [] }
        return Set(bytes.split(separator: UInt8(ascii: "\n")).compactMap { AuditChain.parse($0)?.keyID.flatMap(UInt32.init) })
    }
}
