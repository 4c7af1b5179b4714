import ArgumentParser
import Foundation
import VigilAgent
import VigilFormats
import VigilProvisioning

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The keyed, hash-chained audit log: exports, key and configuration changes, provisioning, views of patient data, refused requests.",
        discussion: """
            The log is <gateway.state_directory>/audit/audit.log (format: docs/STORE.md "Audit \
            log"). Each entry is MAC'd with a key derived from the store key and names the MAC of \
            the one before; the uplink sends each entry to the hospital as an AuditEvent, so the \
            hospital holds the chain head.
            """,
        subcommands: [Verify.self, Show.self]
    )

    static func log(_ options: ConfigOption) throws -> AuditLog {
        do {
            let configuration = try VigilConfiguration.load(path: options.path)
            return AuditLog(stateDirectory: configuration.gateway.stateDirectory, keyFile: configuration.store.keyFile)
        } catch {
            printError("\(error)")
            throw ExitCode(ExitStatus.configuration)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every entry's MAC and link, the head record, and optionally the hospital's chain head.",
            discussion: """
                Says which of these it found: a forged line (one entry edited, inserted or written \
                without the key), a rewritten chain (re-computed from some entry on), removed \
                entries, a truncated tail (the log ends before the head record or --anchor). \
                Needs the store key (run as root); other users get the agent's answer through the \
                control socket (the auditor and operator roles). Exit status: 0 intact (or no log \
                yet), 65 (EX_DATAERR) tampered or damaged, 69 neither the key nor the agent.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: ArgumentHelp("The chain head the hospital holds (its newest AuditEvent from this gateway).", valueName: "seq:mac"))
        var anchor: String?

        func validate() throws {
            if let anchor, AuditChain.Head(anchor) == nil { throw ValidationError("--anchor: expected <seq>:<64 hex digits>, got \(anchor)") }
        }

        func run() async throws {
            let log = try AuditCommand.log(options)
            let result: AuditVerificationReport
            if log.keys != nil {
                guard FileManager.default.fileExists(atPath: log.path) else {
                    print("ok: no audit log yet (\(log.path))")
                    return
                }
                do {
                    result = AuditVerificationReport(try log.verify(anchor: anchor.flatMap(AuditChain.Head.init)))
                } catch {
                    printError("\(error)")
                    throw ExitCode(ExitStatus.unavailable)
                }
            } else {
                let client = ControlClient(configuration: try? VigilConfiguration.load(path: options.path))
                do {
                    result = try await client.get("/v1/audit/verify" + (anchor.map { "?anchor=\($0)" } ?? ""), as: AuditVerificationReport.self)
                } catch {
                    printError("cannot read the store key, and the agent did not answer: \(error)")
                    throw ExitCode(ExitStatus.unavailable)
                }
            }
            if let problem = result.problem {
                print("FAILED: \(problem) (\(log.path))")
                throw ExitCode(65)
            }
            let head = result.head.map { "; head \($0)" } ?? ""
            let unkeyed = result.unkeyed > 0 ? " (\(result.unkeyed) unkeyed, from before the store key)" : ""
            print("ok: \(result.entries) entries\(unkeyed), MACs and chain intact\(head) (\(log.path))")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the audit log's entries (JSON Lines).")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let log = try AuditCommand.log(options)
            guard let text = try? String(contentsOfFile: log.path, encoding: .utf8) else { return }
            print(text, terminator: "")
        }
    }
}
