import ArgumentParser
import Foundation
import VigilAgent
import VigilStore
import VigilProvisioning

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Inspect, check and export the encrypted log (read-only; safe while the agent runs).",
        subcommands: [Stats.self, Verify.self, Export.self]
    )

    /// The configuration and keys every store command needs.
    struct Context {
        let configuration: VigilConfiguration
        let keyring: Keyring
        var directory: String { configuration.gateway.stateDirectory + "/log" }
        var inspector: StoreInspector { StoreInspector(directory: directory, keyring: keyring) }

        init(_ option: ConfigOption) throws {
            do {
                configuration = try VigilConfiguration.load(path: option.path)
            } catch let error as ConfigurationError {
                printError("\(error)")
                throw ExitCode(ExitStatus.configuration)
            }
            let keyFile = Keyring.locate(keyFile: configuration.store.keyFile, environment: ProcessInfo.processInfo.environment)
            do {
                keyring = try Keyring.load(path: keyFile)
            } catch {
                printError("\(error)")
                throw ExitCode(ExitStatus.configuration)
            }
        }
    }

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sizes, record counts, upload cursors and keys in use.")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let context = try Context(options)
            let segments = try context.inspector.segments()
            print("store \(context.directory)")
            for lane in Lane.allCases {
                let mine = segments.filter { $0.lane == lane }
                let bytes = mine.reduce(0) { $0 + $1.bytes }
                let records = mine.reduce(0) { $0 + $1.records }
                let thinned = mine.filter { $0.thinning > 0 }.count
                print("  \(lane): \(mine.count) segments, \(bytes) bytes, \(records) records, \(thinned) thinned")
            }
            if let oldest = segments.compactMap(\.created).min() {
                print("  oldest segment: \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(oldest) / 1_000)))")
            }
            print("  quarantined: \(context.inspector.quarantined().count)")
            let used = Set(segments.compactMap(\.keyID)).sorted().map(String.init).joined(separator: ", ")
            print("  keys: current \(context.keyring.currentID), used by segments: \(used.isEmpty ? "none" : used)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every segment's framing, checksums, authentication and seal, and the audit chain.",
            discussion: "Exit status: 0 if everything is intact, 65 (EX_DATAERR) if anything is damaged.")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let context = try Context(options)
            let segments = try context.inspector.segments()
            var damaged = 0
            for segment in segments where !segment.healthy {
                damaged += 1
                print("DAMAGED \(segment.lane)/\(segment.name): \(segment.state)")
            }
            let quarantined = context.inspector.quarantined()
            for name in quarantined { print("quarantined (kept for inspection): \(name)") }
            let audit = AuditLog(directory: context.configuration.gateway.stateDirectory + "/audit", keys: AuditKeys(keyring: context.keyring))
            if FileManager.default.fileExists(atPath: audit.path), let problem = try audit.verify().problem {
                damaged += 1
                print("DAMAGED audit log: \(problem)")
            }
            let records = segments.reduce(0) { $0 + $1.records }
            print("\(damaged == 0 ? "ok" : "FAILED"): \(segments.count) segments, \(records) records verified, \(damaged) problems")
            if damaged > 0 { throw ExitCode(65) }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt stored entries as JSON Lines (a break-glass access, written to the audit log).",
            discussion: """
                Each reading, alert and data gap becomes one JSON object per line. The export is \
                recorded (who, when, filters) in <state_directory>/audit/audit.log before any data \
                is written; if that fails, nothing is exported. --deidentify replaces device and \
                patient ids with keyed pseudonyms and shifts each patient's times by a whole number \
                of days, for research extracts.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: ArgumentHelp("Only entries at or after this time.", valueName: "ISO-8601 time or Unix ms")) var since: String?
        @Option(help: "Only this device's entries.") var device: String?
        @Option(help: "Output format (jsonl).") var format: String = "jsonl"
        @Flag(help: "Pseudonymous ids and shifted dates.") var deidentify = false
        @Option(help: "Write to this file (mode 0600) instead of standard output.") var output: String?

        func validate() throws {
            guard format == "jsonl" else { throw ValidationError("--format: only jsonl is supported, got \(format)") }
            if let since, parseTime(since) == nil { throw ValidationError("--since: expected an ISO-8601 time or Unix milliseconds, got \(since)") }
        }

        func run() throws {
            let context = try Context(options)
            let filter = StoreExport.Filter(since: since.flatMap(parseTime), device: device)
            do {
                try AuditLog(directory: context.configuration.gateway.stateDirectory + "/audit", keys: AuditKeys(keyring: context.keyring))
                    .append(action: "store.export", details: [
                    ("since", since ?? ""), ("device", device ?? ""), ("deidentify", "\(deidentify)"), ("output", output ?? "stdout"),
                ])
            } catch {
                printError("refusing to export: cannot write the audit log: \(error)")
                throw ExitCode.failure
            }
            let export = StoreExport(filter: filter, deidentifier: deidentify ? .init(keyring: context.keyring) : nil)
            var text = ""
            for (_, entry) in try context.inspector.entries() {
                for line in export.lines(entry) { text += line + "\n" }
            }
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                    printError("cannot write \(output)")
                    throw ExitCode.failure
                }
            } else {
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }
    }
}

func parseTime(_ text: String) -> Int64? {
    if let milliseconds = Int64(text) { return milliseconds }
    let formatter = ISO8601DateFormatter()
    if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1_000) }
    formatter.formatOptions = [.withFullDate]
    return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1_000) }
}
