import Crypto
import Foundation
import VigilFormats
import VigilStore

/// The audit log's MAC keys: one per store key, derived with HKDF-SHA256 (salt `vigil audit`,
/// info `audit chain v1`), so the audit log needs no key of its own and a key rotation moves new
/// entries to a new MAC key. Store keys an audit entry names stay in the key file
/// (`vigil keys rotate` keeps them).
public struct AuditKeys: AuditKeyring {
    private let keys: [UInt32: SymmetricKey]
    public let currentID: UInt32

    public init(keyring: Keyring) {
        var keys: [UInt32: SymmetricKey] = [:]
        for (id, key) in keyring.keys {
            keys[id] = HKDF<SHA256>.deriveKey(inputKeyMaterial: key, salt: Array("vigil audit".utf8),
                                               info: Array("audit chain v1".utf8), outputByteCount: 32)
        }
        self.keys = keys
        currentID = keyring.currentID
    }

    public func key(_ id: UInt32) -> SymmetricKey? { keys[id] }
    public var current: (id: UInt32, key: SymmetricKey) { (currentID, keys[currentID]!) }

    /// Loads the store's keyring from where the agent finds it (a systemd credential or the key
    /// file); `nil` when it is not there or not readable by this user.
    public static func load(keyFile: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> AuditKeys? {
        (try? Keyring.load(path: Keyring.locate(keyFile: keyFile, environment: environment))).map(AuditKeys.init)
    }
}
