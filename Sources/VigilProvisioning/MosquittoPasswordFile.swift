import Crypto
import _CryptoExtras
import Foundation

/// mosquitto's password file (2.0 format): one `user:$7$<iterations>$<salt>$<hash>` line per user,
/// the hash PBKDF2-HMAC-SHA512 of the password, 64 bytes, salt 12 bytes, both base64. Pure: the
/// caller reads and writes the file. Lines it does not manage (other users, comments) are kept.
public struct MosquittoPasswordFile: Sendable, Equatable {
    /// mosquitto_passwd's default. The passwords Vigil generates are 192 random bits, so the
    /// stretching is not what protects them, and a high count would slow every broker connect.
    public static let iterations = 101
    public static let saltLength = 12

    public private(set) var lines: [String]

    public init(text: String) {
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
    }

    public var text: String { lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n" }

    public var users: [String] {
        lines.compactMap { line in
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { return nil }
            return String(line[..<colon])
        }
    }

    /// Sets (adds or replaces) the user's entry.
    public mutating func set(user: String, password: String, salt: [UInt8]) throws {
        let entry = "\(user):" + (try Self.hash(password: password, salt: salt))
        if let index = lines.firstIndex(where: { $0.hasPrefix(user + ":") }) {
            lines[index] = entry
        } else {
            lines.append(entry)
        }
    }

    /// Removes the user's entry; `false` if there was none.
    @discardableResult
    public mutating func remove(user: String) -> Bool {
        let before = lines.count
        lines.removeAll { $0.hasPrefix(user + ":") }
        return lines.count != before
    }

    /// The `$7$…` hash mosquitto stores for `password`.
    public static func hash(password: String, salt: [UInt8], iterations: Int = iterations) throws -> String {
        let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha512, outputByteCount: 64,
                                                    unsafeUncheckedRounds: iterations)
        let hash = key.withUnsafeBytes { Data($0).base64EncodedString() }
        return "$7$\(iterations)$\(Data(salt).base64EncodedString())$\(hash)"
    }

    /// Whether `password` matches the user's entry (for `vigil doctor` and tests).
    public func verify(user: String, password: String) -> Bool {
        guard let line = lines.first(where: { $0.hasPrefix(user + ":") }) else { return false }
        let fields = line.dropFirst(user.count + 1).split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count == 5, fields[1] == "7", let iterations = Int(fields[2]),
              let salt = Data(base64Encoded: String(fields[3])) else { return false }
        return (try? Self.hash(password: password, salt: Array(salt), iterations: iterations)) == String(line.dropFirst(user.count + 1))
    }
}
