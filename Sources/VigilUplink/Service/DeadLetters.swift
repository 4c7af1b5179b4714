import Crypto
import Foundation
import VigilStore

/// Entries the hospital's server rejected permanently (HTTP 400/404/422…), each with the server's
/// explanation, so a person can fix and replay them while the rest of the queue moves on.
/// `<state>/uplink/dead-letter.jsonl`, mode 0600, one JSON object per line: time, resource type,
/// identifier, status and OperationOutcome in the clear (what a technician needs), and the
/// resource itself sealed with ChaCha20-Poly1305 under a key derived from the store's current
/// master key (it holds readings: nothing with PHI is written in plaintext).
package final class DeadLetters: @unchecked Sendable {
    let path: String
    private let keyID: UInt32
    private let key: SymmetricKey
    private let lock = NSLock()
    /// Identifiers already dead-lettered (also those from earlier runs), never sent again.
    private var known: Set<String> = []

    private let fileSystem: any FileSystem

    package init(directory: String, keyring: Keyring, fileSystem: any FileSystem = PosixFileSystem()) throws {
        self.fileSystem = fileSystem
        try fileSystem.makeDirectory(directory)
        path = directory + "/dead-letter.jsonl"
        keyID = keyring.currentID
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: keyring.current, info: Array("vigil dead-letter v1".utf8), outputByteCount: 32)
        if let bytes = try? fileSystem.readFile(path) {
            for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                if let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                   let identifier = object["identifier"] as? String { known.insert(identifier) }
            }
        }
    }

    func contains(_ identifier: String) -> Bool { lock.withLock { known.contains(identifier) } }

    /// Appends and syncs one rejected entry.
    func record(_ resource: FHIRResource, status: Int, outcome: String, at time: Date = Date()) throws {
        let sealed = try ChaChaPoly.seal(resource.json, using: key, authenticating: Array(resource.identifier.utf8)).combined
        let line: [String: Any] = [
            "at": ISO8601DateFormatter().string(from: time), "type": resource.type, "identifier": resource.identifier,
            "status": status, "outcome": outcome, "key_id": keyID, "resource_sealed": sealed.base64EncodedString(),
        ]
        var data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        data.append(UInt8(ascii: "\n"))
        try lock.withLock {
            let handle = fileSystem.exists(path) ? try fileSystem.openAppend(path) : try fileSystem.createExclusive(path)
            defer { fileSystem.close(handle) }
            try fileSystem.writeAll(handle, Array(data), path: path)
            try fileSystem.dataSync(handle, path: path)
            known.insert(resource.identifier)
        }
    }
}
