import Foundation
import Logging
import VigilStore

/// A problem that stops the agent before it starts, which a restart cannot fix (exit 78).
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
}

/// Finds the store's master keys: the systemd credential, else the key file; on the very first
/// start (no key file, empty log) generates the key file. Never re-keys a log that has data: a
/// missing key file then is an error, not a reason to start over.
enum StoreKeys {
    static func load(keyFile: String, storeDirectory: String, environment: [String: String], logger: Logger,
                     fileSystem: any FileSystem = PosixFileSystem()) throws -> Keyring {
        let path = Keyring.locate(keyFile: keyFile, environment: environment)
        if !fileSystem.exists(path) {
            guard path == keyFile else { throw StartupError(description: "store keys: \(path) does not exist") }
            guard !logHasSegments(storeDirectory, fileSystem: fileSystem) else {
                throw StartupError(description: """
                    store keys: \(keyFile) is missing but \(storeDirectory) holds encrypted segments; \
                    restore the key file (a new key could not read them)
                    """)
            }
            let keyring = Keyring.generate()
            try write(keyring, to: keyFile, fileSystem: fileSystem)
            logger.notice("generated the store's master key (first start)", metadata: ["key_file": "\(keyFile)"])
            return keyring
        }
        do {
            return try Keyring.load(path: path, fileSystem: fileSystem)
        } catch {
            throw StartupError(description: "store keys: \(error)")
        }
    }

    /// Creates the key file (mode 0600, `O_EXCL`) durably.
    static func write(_ keyring: Keyring, to path: String, fileSystem: any FileSystem = PosixFileSystem()) throws {
        do {
            try fileSystem.makeDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
            try keyring.writeNewFile(at: path, fileSystem: fileSystem)
        } catch {
            throw StartupError(description: "store keys: cannot create \(path): \(error)")
        }
    }

    static func logHasSegments(_ directory: String, fileSystem: any FileSystem = PosixFileSystem()) -> Bool {
        for sub in ["priority", "routine", "quarantine"] {
            let names = (try? fileSystem.list(directory + "/" + sub)) ?? []
            if names.contains(where: { $0.hasSuffix(".seg") }) { return true }
        }
        return false
    }
}
