import Crypto

/// The gateway's durable state beside the log (`<log>/checkpoint`): one opaque payload sealed
/// with ChaCha20-Poly1305 under a key derived from a store master key, replaced atomically and
/// durably (temp file, fdatasync, rename, directory fsync), so a crash leaves the old checkpoint
/// or the new one, never a mixture. docs/STORE.md describes the layout and when it is written.
///
/// Layout: `VGCK` · version u8 (1) · key id u32 LE · nonce (12) · ciphertext · tag (16); the
/// first nine bytes are authenticated too.
public struct CheckpointFile: Sendable {
    public static let name = "checkpoint"
    static let magic: [UInt8] = Array("VGCK".utf8)
    static let version: UInt8 = 1

    public let path: String
    let keyring: Keyring
    let fileSystem: any FileSystem

    public init(directory: String, keyring: Keyring, fileSystem: any FileSystem = PosixFileSystem()) {
        path = directory + "/" + Self.name
        self.keyring = keyring
        self.fileSystem = fileSystem
    }

    public enum ReadError: Error, Sendable, Equatable, CustomStringConvertible {
        case unreadable(FileSystemError)
        /// Not a checkpoint of this version, or its key is not in the keyring.
        case format(String)
        /// The tag does not verify: damaged or tampered with.
        case authentication

        public var description: String {
            switch self {
            case .unreadable(let error): "\(error)"
            case .format(let reason): reason
            case .authentication: "the checkpoint does not authenticate (damaged or tampered with)"
            }
        }
    }

    static func key(_ master: SymmetricKey) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: master, info: Array("vigil checkpoint v1".utf8), outputByteCount: 32)
    }

    static func header(keyID: UInt32) -> [UInt8] {
        magic + [version] + withUnsafeBytes(of: keyID.littleEndian) { Array($0) }
    }

    /// Seals `payload` under the current key and replaces the checkpoint durably.
    public func write(_ payload: [UInt8]) throws(FileSystemError) {
        let header = Self.header(keyID: keyring.currentID)
        // Sealing in memory cannot fail for a valid key and fresh nonce.
        let sealed = try! ChaChaPoly.seal(payload, using: Self.key(keyring.current), authenticating: header)
        try fileSystem.replaceDurably(path, with: header + Array(sealed.combined))
    }

    /// The payload, or `nil` when there is no checkpoint (a new gateway, or one from before
    /// checkpoints existed).
    public func read() throws(ReadError) -> [UInt8]? {
        let bytes: [UInt8]
        do {
            bytes = try fileSystem.readFile(path)
        } catch where error.code == 2 {
            return nil
        } catch {
            throw .unreadable(error)
        }
        guard bytes.count >= 9 + 12 + 16, Array(bytes[0..<4]) == Self.magic else { throw .format("not a checkpoint file") }
        guard bytes[4] == Self.version else { throw .format("checkpoint version \(bytes[4]) is not supported") }
        let keyID = bytes[5..<9].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard let master = keyring.key(keyID) else { throw .format("checkpoint key \(keyID) is not in the keyring") }
        do {
            let box = try ChaChaPoly.SealedBox(combined: bytes[9...])
            return Array(try ChaChaPoly.open(box, using: Self.key(master), authenticating: Array(bytes[0..<9])))
        } catch {
            throw .authentication
        }
    }

    /// The key id the checkpoint is sealed with (so pruning keys keeps it), if there is one.
    public func keyID() -> UInt32? {
        guard let bytes = try? fileSystem.readFile(path), bytes.count >= 9, Array(bytes[0..<4]) == Self.magic else { return nil }
        return bytes[5..<9].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }
}
