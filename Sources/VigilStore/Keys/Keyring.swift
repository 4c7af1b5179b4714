import Crypto
import Foundation
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// The store's master keys by id. New segments use the newest (``currentID``); older keys stay to
/// decrypt segments written under them until those are uploaded and deleted.
///
/// Key file format (text, mode 0600 or stricter): one key per line, `<id> <64 hex digits>`;
/// blank lines and `#` comments are ignored. Key material is never logged, and errors name the
/// file and line, never the content.
public struct Keyring: Sendable {
    public private(set) var keys: [UInt32: SymmetricKey]
    public var currentID: UInt32 { keys.keys.max() ?? 0 }

    public init(keys: [UInt32: SymmetricKey]) {
        precondition(!keys.isEmpty, "a keyring needs at least one key")
        self.keys = keys
    }

    public var current: SymmetricKey { keys[currentID]! }
    public func key(_ id: UInt32) -> SymmetricKey? { keys[id] }

    /// A keyring with one fresh random key, id 1.
    public static func generate() -> Keyring { Keyring(keys: [1: SymmetricKey(size: .bits256)]) }

    /// The same keys plus a new random one with the next id, which becomes current.
    public func rotated() -> Keyring {
        var keys = keys
        keys[currentID + 1] = SymmetricKey(size: .bits256)
        return Keyring(keys: keys)
    }

    /// Without the keys that no segment uses any more (the current key always stays).
    public func pruned(keeping used: Set<UInt32>) -> Keyring {
        Keyring(keys: keys.filter { used.contains($0.key) || $0.key == currentID })
    }

    public var fileContents: String {
        var text = "# Vigil store master keys: <id> <hex>. The highest id encrypts new segments.\n"
        for id in keys.keys.sorted() {
            let hex = keys[id]!.withUnsafeBytes { hexEncoded($0) }
            text += "\(id) \(hex)\n"
        }
        return text
    }

    /// Creates `path` (`O_EXCL`, mode 0600) holding these keys, durably: the file is synced, then
    /// its directory. Fails if the file exists: keys are never overwritten by accident.
    public func writeNewFile(at path: String, fileSystem: any FileSystem = PosixFileSystem()) throws(FileSystemError) {
        let handle = try fileSystem.createExclusive(path)
        defer { fileSystem.close(handle) }
        try fileSystem.writeAll(handle, Array(fileContents.utf8), path: path)
        try fileSystem.dataSync(handle, path: path)
        try fileSystem.syncDirectory(directory(of: path))
    }

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Parses a key file's text. `source` names it in errors.
    public static func parse(_ text: String, source: String) throws(LoadError) -> Keyring {
        var keys: [UInt32: SymmetricKey] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count == 2, let id = UInt32(fields[0]), id > 0, let bytes = hexDecoded(fields[1]), bytes.count == 32 else {
                throw LoadError(description: "\(source):\(number + 1): expected \"<id> <64 hex digits>\" with id ≥ 1")
            }
            guard keys[id] == nil else { throw LoadError(description: "\(source):\(number + 1): key id \(id) appears twice") }
            keys[id] = SymmetricKey(data: bytes)
        }
        guard !keys.isEmpty else { throw LoadError(description: "\(source): contains no key") }
        return Keyring(keys: keys)
    }

    /// Reads a key file, refusing one that its group or others may read or write: a key that
    /// other accounts can read protects nothing.
    public static func load(path: String, fileSystem: any FileSystem = PosixFileSystem()) throws(LoadError) -> Keyring {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw LoadError(description: "\(path): \(String(cString: strerror(errno)))")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw LoadError(description: "\(path): mode \(String(mode, radix: 8)) lets others read it; run chmod 600 \(path)")
        }
        let bytes: [UInt8]
        do {
            bytes = try fileSystem.readFile(path)
        } catch {
            throw LoadError(description: "\(error)")
        }
        return try parse(String(decoding: bytes, as: UTF8.self), source: path)
    }

    /// Where the agent finds its keys: the systemd credential `vigil-store-keys` when
    /// `$CREDENTIALS_DIRECTORY` holds it (`LoadCredentialEncrypted=`), else `keyFile`.
    public static func locate(keyFile: String, environment: [String: String]) -> String {
        if let directory = environment["CREDENTIALS_DIRECTORY"] {
            let credential = directory + "/" + credentialName
            if access(credential, F_OK) == 0 { return credential }
        }
        return keyFile
    }

    public static let credentialName = "vigil-store-keys"
}
