import Crypto
import Foundation
import Logging
import VigilCore
import VigilStore

/// Records configuration changes in the audit log: at each start the agent hashes its
/// configuration file and, when the hash differs from the one it last recorded, appends a
/// `config.changed` entry (file, new and previous SHA-256; never the content, which may name
/// hosts and files worth keeping private). A failure is logged, never fatal: the audit log must
/// not keep a gateway from monitoring.
public enum ConfigurationAudit {
    public static func record(configurationPath: String, audit: AuditLog, logger: Logger) {
        let marker = audit.directory + "/config.sha256"
        do {
            let fileSystem = PosixFileSystem()
            let hash = hexEncoded(SHA256.hash(data: try fileSystem.readFile(configurationPath)))
            let previous = (try? fileSystem.readFile(marker)).map { String(decoding: $0, as: UTF8.self) }
            guard previous != hash else { return }
            try audit.append(action: "config.changed", details: [
                ("file", configurationPath), ("sha256", hash), ("previous", previous ?? "none"),
            ])
            try fileSystem.replaceDurably(marker, with: Array(hash.utf8))
            logger.notice("configuration change recorded in the audit log", metadata: ["sha256": "\(hash.prefix(16))"])
        } catch {
            logger.warning("could not record the configuration in the audit log", metadata: ["error": "\(error)"])
        }
    }
}
