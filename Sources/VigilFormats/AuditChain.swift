import Crypto
import Foundation
import VigilCore

/// The MAC keys an audit log's entries name, by store key id (VigilProvisioning's `AuditKeys`).
public protocol AuditKeyring: Sendable {
    func key(_ id: UInt32) -> SymmetricKey?
}

/// The audit log's format and its check, pure (docs/STORE.md "Audit log").
///
/// One JSON object per line, every value a string. A keyed entry ends with
/// `,"key":"<store key id>","prev":"<64 hex>","mac":"<64 hex>"}`: `mac` is an HMAC-SHA256 of the
/// line's bytes before `,"mac":`, under a key derived from that store key (``AuditKeys``), and
/// `prev` is the previous entry's `mac`. `seq` counts entries from 1. So nobody without the store
/// key can edit, insert or re-chain an entry unnoticed; removing entries from the end is caught by
/// the head (``AuditHead``) kept beside the log and, beyond the box, by the chain head the
/// hospital holds from the uploaded AuditEvents.
///
/// Entries written before any store key existed (and those of state format 1, which had no key)
/// are unkeyed: `mac` is a plain SHA-256 (format 1: only `prev`, the SHA-256 of the line
/// before). They are accepted only before the first keyed entry.
public enum AuditChain {
    /// `prev` of the first entry: the SHA-256 of nothing.
    public static let origin = hexEncoded(SHA256.hash(data: [UInt8]()))
    package static let macSuffixLength = #","mac":""#.utf8.count + 64 + 2

    /// The entry after `previous` (its `mac`, or ``origin``), numbered `seq`, sealed with `key`
    /// (`nil`: unkeyed). `fields` come first, in order; values are escaped here.
    public static func seal(seq: UInt64, fields: [(String, String)], previous: String, key: (id: UInt32, key: SymmetricKey)?) -> String {
        var all = [("seq", "\(seq)")] + fields
        all.append(("key", key.map { "\($0.id)" } ?? "none"))
        all.append(("prev", previous))
        let body = "{" + all.map { "\"\(JSONText.escaped($0.0))\":\"\(JSONText.escaped($0.1))\"" }.joined(separator: ",")
        return body + ",\"mac\":\"" + mac(Array(body.utf8), key: key?.key) + "\"}"
    }

    package static func mac(_ body: [UInt8], key: SymmetricKey?) -> String {
        guard let key else { return hexEncoded(SHA256.hash(data: body)) }
        return hexEncoded(HMAC<SHA256>.authenticationCode(for: body, using: key))
    }

    /// One line as read back.
    package struct Entry {
        package var fields: [String: String]
        /// Bytes the MAC covers, and the MAC (`nil` for a format-1 line).
        package var body: [UInt8]
        package var mac: String?
        package var seq: UInt64? { fields["seq"].flatMap(UInt64.init) }
        package var keyID: String? { fields["key"] }
        package var prev: String? { fields["prev"] }
    }

    /// Parses a line strictly: a JSON object of strings, and, when it carries a MAC, the MAC as
    /// its last member and each chain field exactly once (no duplicate key can hide behind the
    /// one a parser picks).
    package static func parse(_ line: ArraySlice<UInt8>) -> Entry? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return nil }
        var fields: [String: String] = [:]
        for (name, value) in object {
            guard let text = value as? String else { return nil }
            fields[name] = text
        }
        guard let mac = fields["mac"] else {
            return fields["prev"] == nil ? nil : Entry(fields: fields, body: Array(line), mac: nil)
        }
        guard line.count > macSuffixLength else { return nil }
        let body = Array(line.dropLast(macSuffixLength))
        let suffix = Array(line.suffix(macSuffixLength))
        guard suffix == Array(",\"mac\":\"\(mac)\"}".utf8) else { return nil }
        let text = String(decoding: body, as: UTF8.self)
        for name in ["seq", "key", "prev", "mac"] where text.components(separatedBy: "\"\(name)\":\"").count != (name == "mac" ? 1 : 2) {
            return nil
        }
        return Entry(fields: fields, body: body, mac: mac)
    }

    /// An entry as the upload sends it: `seq` (a format-1 line's is its line number), its fields
    /// without the chain's, its key id (`none` when unkeyed), `prev`, its MAC (a format-1
    /// line's: the SHA-256 the next line names) and the line itself.
    public struct Link: Sendable, Equatable {
        public let seq: UInt64
        public let fields: [String: String]
        public let key: String
        public let prev: String
        public let mac: String
        public let line: [UInt8]
    }

    /// `line` (the `lineNumber`th of the log) as a ``Link``; nil when it is no entry.
    public static func link(_ line: ArraySlice<UInt8>, lineNumber: Int) -> Link? {
        guard let entry = parse(line), let prev = entry.prev else { return nil }
        var fields = entry.fields
        for name in ["seq", "key", "prev", "mac"] { fields[name] = nil }
        return Link(seq: entry.seq ?? UInt64(lineNumber), fields: fields, key: entry.keyID ?? "none", prev: prev,
                    mac: entry.mac ?? hexEncoded(SHA256.hash(data: line)), line: Array(line))
    }

    /// The last entry's number and MAC: what the hospital holds and the box keeps in `head`.
    public struct Head: Equatable, Sendable, CustomStringConvertible {
        public let seq: UInt64
        public let mac: String
        public init(seq: UInt64, mac: String) {
            self.seq = seq
            self.mac = mac
        }
        /// `<seq>:<mac>`, as `vigil audit verify --anchor` takes it.
        public init?(_ text: String) {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let seq = UInt64(parts[0]), parts[1].count == 64, parts[1].allSatisfy(\.isHexDigit) else { return nil }
            self.init(seq: seq, mac: String(parts[1]).lowercased())
        }
        public var description: String { "\(seq):\(mac)" }
    }

    public enum Problem: Equatable, Sendable {
        /// A line that is not an entry at all.
        case unreadable(line: Int)
        /// One entry whose MAC does not verify while the chain goes on intact after it: edited,
        /// inserted or written without the key.
        case forged(line: Int)
        /// Every entry from this line on fails its MAC but links to the one before: the chain was
        /// re-computed by someone without the key.
        case rewritten(fromLine: Int)
        /// A keyed chain that verifies, but differs from the head held elsewhere at that entry:
        /// re-written by someone holding the key.
        case rewrittenAgainstAnchor(seq: UInt64)
        /// Entries removed: between two lines (`line` is the first after the gap), or at the end
        /// (the log stops at `lastSeq`, the head names `expected`).
        case removed(line: Int)
        case truncated(lastSeq: UInt64, expected: UInt64)
        /// An entry names a store key the keyring does not hold.
        case unknownKey(line: Int, key: String)
        /// An unkeyed entry after a keyed one.
        case downgraded(line: Int)
        /// The head record beside the log is missing (with keyed entries) or not MAC'd by the
        /// store key: the log's end cannot be vouched for on the box.
        case headMissing
        case headForged
    }


    public struct Verification: Equatable, Sendable {
        public var entries: Int
        public var unkeyed: Int
        public var head: Head?
        public var problem: Problem?
        public var intact: Bool { problem == nil }
    }

    /// Checks every line, then the end against `heads` (the box's own head record, the anchor
    /// the hospital holds): the log must reach each and agree with it there.
    public static func verify(_ bytes: [UInt8], keys: (any AuditKeyring)?, heads: [Head] = []) -> Verification {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var result = Verification(entries: 0, unkeyed: 0, head: nil, problem: nil)
        var previousMAC = origin
        var previousLine: ArraySlice<UInt8> = []
        var keyed = false
        var failedFrom: Int?
        var macs: [UInt64: String] = [:]
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if line.isEmpty {
                if index == lines.count - 1 { break }
                result.problem = .unreadable(line: number)
                return result
            }
            guard let entry = parse(line) else {
                result.problem = .unreadable(line: number)
                return result
            }
            result.entries += 1
            guard let mac = entry.mac else {
                // Format 1: a SHA-256 chain, before any keyed entry.
                if keyed {
                    result.problem = .downgraded(line: number)
                    return result
                }
                guard entry.prev == hexEncoded(SHA256.hash(data: previousLine)) else {
                    result.problem = .forged(line: number)
                    return result
                }
                result.unkeyed += 1
                previousMAC = hexEncoded(SHA256.hash(data: line))
                previousLine = line
                continue
            }
            let expectedSeq = UInt64(result.entries)
            let links = entry.prev == previousMAC
            let valid: Bool
            switch entry.keyID {
            case "none"?:
                if keyed {
                    result.problem = .downgraded(line: number)
                    return result
                }
                valid = self.mac(entry.body, key: nil) == mac
                if valid { result.unkeyed += 1 }
            case let id?:
                guard let number32 = UInt32(id), let key = keys?.key(number32) else {
                    result.problem = .unknownKey(line: number, key: id)
                    return result
                }
                keyed = true
                valid = self.mac(entry.body, key: key) == mac
            case nil:
                result.problem = .unreadable(line: number)
                return result
            }
            if !valid {
                // A run of bad entries is a re-computed chain only while each links to the last.
                if let start = failedFrom, !links {
                    result.problem = .forged(line: start)
                    return result
                }
                if failedFrom == nil { failedFrom = number }
            } else if let start = failedFrom {
                // A bad entry followed by a good one: that one entry was tampered with.
                result.problem = .forged(line: start)
                return result
            } else if !links || entry.seq != expectedSeq {
                result.problem = .removed(line: number)
                return result
            }
            macs[entry.seq ?? 0] = mac
            result.head = Head(seq: entry.seq ?? 0, mac: mac)
            previousMAC = mac
            previousLine = line
        }
        if let start = failedFrom {
            // Lines and entries number alike here (an empty line before the end is unreadable).
            result.problem = start == result.entries ? .forged(line: start) : .rewritten(fromLine: start)
            return result
        }
        for head in heads {
            let last = result.head?.seq ?? 0
            if head.seq > last {
                result.problem = .truncated(lastSeq: last, expected: head.seq)
                return result
            }
            if macs[head.seq] != head.mac {
                result.problem = .rewrittenAgainstAnchor(seq: head.seq)
                return result
            }
        }
        return result
    }
}

extension AuditChain.Problem: CustomStringConvertible {
    /// What happened, for people: which attack or accident the evidence points to.
    public var description: String {
        switch self {
        case .unreadable(let line): "line \(line) is not an audit entry (damaged, or written by something else)"
        case .forged(let line): "line \(line) is forged: its MAC does not verify while the chain goes on intact (edited, inserted, or written without the store key)"
        case .rewritten(let line): "the chain was rewritten from line \(line) on: every entry from there fails its MAC though each links to the one before (re-computed without the store key)"
        case .rewrittenAgainstAnchor(let seq): "the chain was rewritten: entry \(seq) differs from the chain head held outside the box (re-written with the store key)"
        case .removed(let line): "entries were removed before line \(line): it does not link to the entry before it"
        case .truncated(let last, let expected): "the log was truncated: it ends at entry \(last), but entry \(expected) was written (its tail was cut off)"
        case .unknownKey(let line, let key): "line \(line) names store key \(key), which the key file does not hold"
        case .downgraded(let line): "line \(line) is an unkeyed entry after keyed ones (forged)"
        case .headMissing: "the head record (audit/head) is missing: a cut-off tail cannot be ruled out on the box; check against the hospital's chain head (--anchor)"
        case .headForged: "the head record (audit/head) does not verify under the store key (forged)"
        }
    }
}
