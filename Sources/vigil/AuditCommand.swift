import ArgumentParser
import Foundation
import VigilAgent
import VigilProvisioning

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The hash-chained audit log of exports and key changes.",
        discussion: "The log is <gateway.state_directory>/audit/audit.log; each line holds the SHA-256 of the line before.",
        subcommands: [Verify.self, Show.self]
    )

    static func path(_ options: ConfigOption) throws -> String {
        do {
            return try VigilConfiguration.load(path: options.path).gateway.stateDirectory + "/audit/audit.log"
        } catch {
            printError("\(error)")
            throw ExitCode(ExitStatus.configuration)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the audit log's hash chain.",
            discussion: "Exit status: 0 if intact (or empty), 65 (EX_DATAERR) if a line was changed, removed or inserted.")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let path = try AuditCommand.path(options)
            guard FileManager.default.fileExists(atPath: path) else {
                print("ok: no audit log yet (\(path))")
                return
            }
            switch try AuditLog.verify(path: path) {
            case .intact(let lines):
                print("ok: \(lines) entries, hash chain intact (\(path))")
            case .broken(let line):
                print("FAILED: the hash chain breaks at line \(line) of \(path): that line or the one before was changed, removed or inserted")
                throw ExitCode(65)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the audit log's entries (JSON Lines).")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let path = try AuditCommand.path(options)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return }
            print(text, terminator: "")
        }
    }
}
