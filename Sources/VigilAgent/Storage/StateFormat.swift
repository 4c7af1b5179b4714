import Logging
import VigilFormats
import VigilStore

/// The format of the gateway's state directory as a whole (the log and its checkpoint, the
/// registry, the audit log, clock bases), recorded in `<state>/FORMAT` so that a binary never
/// misreads a directory a newer one wrote, and an older one is migrated before anything of the
/// new format is written to it. docs/STORE.md "State format" lists the formats.
package struct StateFormat: Equatable, Sendable {
    /// The format this binary writes and the newest it reads.
    package static let current = 3
    package static let fileName = "FORMAT"

    package var format: Int
    package var writtenBy: String

    /// Format n's migration to n + 1, in order. Each must be safe to run again: a crash before
    /// FORMAT is replaced runs it once more at the next start.
    static let migrations: [Int: @Sendable (_ stateDirectory: String, _ fileSystem: any FileSystem) throws -> Void] = [
        // 1 → 2: every format-1 record is a valid format-2 one (the clock receipt trailer is
        // optional, rollups and clock-bases.json are new files or entries), so nothing is
        // rewritten: the marker itself is what keeps vigil 0.1.0's successors from misreading.
        1: { _, _ in },
        // 2 → 3: the audit log's new entries are keyed and numbered; the old ones stay as they
        // are and verify as unkeyed entries before the first keyed one (AuditChain).
        2: { _, _ in },
    ]

    package enum Outcome: Equatable, Sendable {
        case created
        case current
        case migrated(from: Int)
    }

    /// What a directory without FORMAT holds: nothing (a first start) or vigil 0.1.0's state.
    static let dataEntries = ["log", "devices", "audit", "uplink", "patients"]

    /// Checks the directory's format and migrates it to ``current``; throws a ``StartupError``
    /// (exit 78: systemd does not restart) for one a newer version wrote, leaving it untouched.
    @discardableResult
    package static func prepare(stateDirectory: String, version: String, logger: Logger,
                                fileSystem: any FileSystem = PosixFileSystem()) throws -> Outcome {
        let path = stateDirectory + "/" + fileName
        let found: StateFormat?
        if fileSystem.exists(path) {
            let bytes: [UInt8]
            do { bytes = try fileSystem.readFile(path) } catch {
                throw StartupError(description: "state format: cannot read \(path): \(error)")
            }
            guard let parsed = StateFormat(text: String(decoding: bytes, as: UTF8.self)) else {
                throw StartupError(description: "state format: \(path) is not a Vigil state format file; refusing to guess what wrote \(stateDirectory)")
            }
            found = parsed
        } else {
            let entries = (try? fileSystem.list(stateDirectory)) ?? []
            found = entries.contains(where: dataEntries.contains) ? StateFormat(format: 1, writtenBy: "0.1.0") : nil
        }
        guard let found else {
            try write(StateFormat(format: current, writtenBy: version), to: path, stateDirectory: stateDirectory, fileSystem: fileSystem)
            return .created
        }
        if found.format > current {
            throw StartupError(description: """
                state format: \(stateDirectory) was written by vigil \(found.writtenBy) (state format \(found.format)); \
                this is vigil \(version), which reads formats up to \(current). Refusing to start rather than misread \
                patient data: install vigil \(found.writtenBy) or later again (nothing has been changed)
                """)
        }
        if found.format == current { return .current }
        for step in found.format..<current {
            guard let migration = migrations[step] else {
                throw StartupError(description: "state format: no migration from format \(step) (\(stateDirectory))")
            }
            try migration(stateDirectory, fileSystem)
            try write(StateFormat(format: step + 1, writtenBy: version), to: path, stateDirectory: stateDirectory, fileSystem: fileSystem)
            logger.notice("state directory migrated", metadata: ["from_format": "\(step)", "to_format": "\(step + 1)"])
        }
        return .migrated(from: found.format)
    }

    package init(format: Int, writtenBy: String) {
        self.format = format
        self.writtenBy = writtenBy
    }

    /// `vigil state format <n>` then `written by vigil <version>`.
    package init?(text: String) {
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count >= 2, lines[0].hasPrefix("vigil state format "), lines[1].hasPrefix("written by vigil "),
              let format = Int(lines[0].dropFirst("vigil state format ".count)), format >= 1 else { return nil }
        self.init(format: format, writtenBy: String(lines[1].dropFirst("written by vigil ".count)))
    }

    package var text: String { "vigil state format \(format)\nwritten by vigil \(writtenBy)\n" }

    static func write(_ format: StateFormat, to path: String, stateDirectory: String, fileSystem: any FileSystem) throws {
        do {
            try fileSystem.makeDirectory(stateDirectory)
            try fileSystem.replaceDurably(path, with: Array(format.text.utf8))
        } catch {
            throw StartupError(description: "state format: cannot write \(path): \(error)")
        }
    }
}
