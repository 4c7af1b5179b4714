import ArgumentParser
import Foundation
import VigilAgent
import VigilStore
import VigilProvisioning

struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create and rotate the store's master keys (never printed).",
        subcommands: [Initialize.self, Rotate.self]
    )

    static func keyFile(_ options: ConfigOption, override: String?) throws -> (VigilConfiguration?, String) {
        let configuration = try? VigilConfiguration.load(path: options.path)
        if let override { return (configuration, override) }
        guard let configuration else {
            printError("no usable configuration at \(options.path): pass --key-file")
            throw ExitCode(ExitStatus.configuration)
        }
        return (configuration, configuration.store.keyFile)
    }

    /// Key changes go to the audit log (ids only, never key material) when the configuration
    /// names a state directory.
    static func audit(_ configuration: VigilConfiguration?, keyring: Keyring, action: String, details: [(String, String)]) throws {
        guard let configuration else { return }
        try AuditLog(directory: configuration.gateway.stateDirectory + "/audit", keys: AuditKeys(keyring: keyring))
            .append(action: action, details: details)
    }

    struct Initialize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init", abstract: "Create the key file with one new random key (mode 0600); refuses to overwrite.")
        @OptionGroup var options: ConfigOption
        @Option(help: "Key file (default: store.key_file from the configuration).") var keyFile: String?

        func run() throws {
            let (configuration, path) = try KeysCommand.keyFile(options, override: keyFile)
            guard !FileManager.default.fileExists(atPath: path) else {
                printError("\(path) already exists; use `vigil keys rotate` to add a key")
                throw ExitCode.failure
            }
            let keyring = Keyring.generate()
            try keyring.writeNewFile(at: path)
            try KeysCommand.audit(configuration, keyring: keyring, action: "keys.init", details: [("key_file", path), ("current_key", "1")])
            print("created \(path) with key 1")
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a new key that encrypts new segments; drop keys no segment uses any more.",
            discussion: """
                Old keys stay in the file, decrypt-only, while any segment (quarantined ones \
                included) was written with them. The agent reads keys at start: restart it \
                (systemctl restart vigil) for new segments to use the new key. With a systemd \
                credential, re-encrypt the updated file into it (see systemd/README.md).
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "Key file (default: store.key_file from the configuration).") var keyFile: String?

        func run() throws {
            let (configuration, path) = try KeysCommand.keyFile(options, override: keyFile)
            let current: Keyring
            do {
                current = try Keyring.load(path: path)
            } catch {
                printError("\(error)")
                throw ExitCode(ExitStatus.configuration)
            }
            var used: Set<UInt32> = Set(current.keys.keys)
            if let configuration {
                let inspector = StoreInspector(directory: configuration.gateway.stateDirectory + "/log", keyring: current)
                used = (try? inspector.keyIDsInUse()) ?? used
                // Audit entries stay verifiable: the store keys they were MAC'd under are kept.
                used.formUnion(AuditLog(directory: configuration.gateway.stateDirectory + "/audit", keys: nil).keyIDsInUse())
            }
            let rotated = current.rotated().pruned(keeping: used)
            try StateOwner.keeping(ownerOf: path) { try PosixFileSystem().replaceDurably(path, with: Array(rotated.fileContents.utf8)) }
            try KeysCommand.audit(configuration, keyring: rotated, action: "keys.rotate", details: [
                ("key_file", path), ("current_key", "\(rotated.currentID)"),
                ("dropped_keys", Set(current.keys.keys).subtracting(rotated.keys.keys).sorted().map(String.init).joined(separator: " ")),
            ])
            let kept = rotated.keys.keys.sorted().filter { $0 != rotated.currentID }.map(String.init).joined(separator: ", ")
            let dropped = Set(current.keys.keys).subtracting(rotated.keys.keys).sorted().map(String.init).joined(separator: ", ")
            print("key \(rotated.currentID) is now current in \(path)")
            print("kept for existing segments: \(kept.isEmpty ? "none" : kept); dropped (unused): \(dropped.isEmpty ? "none" : dropped)")
            print("restart the agent for new segments to use key \(rotated.currentID)")
        }
    }
}
