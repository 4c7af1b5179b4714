import Crypto
import Foundation
import VigilCore
import VigilStore

/// An append-only, hash-chained record of break-glass access to stored data (`vigil store
/// export`). Each line is JSON with `prev`, the SHA-256 of the previous line, so removing or
/// editing a line breaks the chain from there on (``verify(path:)``). Lines name who, when and
/// what was exported, never the data.
public enum AuditLog {
    public static func append(directory: String, action: String, details: [(String, String)]) throws {
        let fileSystem = PosixFileSystem()
        try fileSystem.makeDirectory(directory)
        let path = directory + "/audit.log"
        let previous = (try? fileSystem.readFile(path)).flatMap { bytes in
            bytes.split(separator: UInt8(ascii: "\n")).last.map { Array($0) }
        } ?? []
        let prev = hexEncoded(SHA256.hash(data: previous))
        let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.userName
        var fields = [("time", ISO8601DateFormatter().string(from: Date())), ("action", action), ("uid", "\(getuid())"), ("user", user)]
        fields += details
        fields.append(("prev", prev))
        let line = "{" + fields.map { "\"\($0.0)\":\"\(JSONText.escaped($0.1))\"" }.joined(separator: ",") + "}\n"
        let handle: FileHandleID
        if fileSystem.exists(path) {
            handle = try fileSystem.openAppend(path)
        } else {
            handle = try fileSystem.createExclusive(path)
        }
        defer { fileSystem.close(handle) }
        try fileSystem.writeAll(handle, Array(line.utf8), path: path)
        try fileSystem.dataSync(handle, path: path)
        try fileSystem.syncDirectory(directory)
        StateOwner.adopt([directory, path], like: (directory as NSString).deletingLastPathComponent)
    }

    public enum Verification: Equatable, Sendable {
        case intact(lines: Int)
        case broken(atLine: Int)
    }

    /// Whether every line's `prev` matches the line before it.
    public static func verify(path: String) throws -> Verification {
        let bytes = try PosixFileSystem().readFile(path)
        var previous: [UInt8] = []
        var count = 0
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            count += 1
            let expected = hexEncoded(SHA256.hash(data: previous))
            guard String(decoding: line, as: UTF8.self).contains("\"prev\":\"\(expected)\"") else { return .broken(atLine: count) }
            previous = Array(line)
        }
        return .intact(lines: count)
    }
}
