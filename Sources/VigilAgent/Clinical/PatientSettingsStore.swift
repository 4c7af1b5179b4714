import Crypto
import Foundation
import Logging
import Synchronization
import VigilCore
import VigilProvisioning
import VigilScoring
import VigilStore

/// Patients' clinical settings on disk (`<state_directory>/patients/`, one JSON file per patient,
/// replaced durably), shared by the CLI (`vigil patient set`) and the agent (changes from
/// upstream). Every change is validated, gets the next version and an audit-log line (who, what,
/// never why); the agent picks up files written by the CLI within seconds (``reloadIfChanged()``)
/// and scores the patient's next readings with them.
package final class PatientSettingsStore: Sendable {
    package let directory: String
    private let audit: AuditLog
    private let fileSystem: any FileSystem
    private let logger: Logger
    private struct Loaded {
        var settings: [String: ClinicalSettings] = [:]
        var generation = 0
    }

    private let loaded = Mutex(Loaded())

    package init(stateDirectory: String, auditKeys: AuditKeys?, fileSystem: any FileSystem = PosixFileSystem(), logger: Logger) {
        directory = stateDirectory + "/patients"
        audit = AuditLog(directory: stateDirectory + "/audit", keys: auditKeys)
        self.fileSystem = fileSystem
        self.logger = logger
    }

    /// The file of a patient reference (any characters): a digest, so references never make paths.
    static func fileName(_ patient: String) -> String {
        hexEncoded(Array(SHA256.hash(data: Array(patient.utf8))).prefix(16)) + ".json"
    }

    /// Every patient's settings as on disk now; unreadable or invalid files are skipped with a
    /// logged reason (the patient keeps whatever was in force).
    package func readAll() -> [String: ClinicalSettings] {
        let names = (try? fileSystem.list(directory)) ?? []
        var all: [String: ClinicalSettings] = [:]
        for name in names where name.hasSuffix(".json") {
            do {
                let settings = try JSONDecoder().decode(ClinicalSettings.self, from: Data(fileSystem.readFile(directory + "/" + name)))
                try settings.validate()
                guard Self.fileName(settings.patient) == name else { throw ClinicalSettings.Invalid(description: "file name does not match the patient") }
                all[settings.patient] = settings
            } catch {
                logger.error("ignoring an unreadable patient settings file", metadata: ["file": "\(name)", "error": "\(error)"])
            }
        }
        return all
    }

    /// The settings in force, as of the last reload.
    package var current: [String: ClinicalSettings] { loaded.withLock { $0.settings } }
    /// Increases whenever ``current`` changes.
    package var generation: Int { loaded.withLock { $0.generation } }

    /// Reads the directory again; returns whether anything changed.
    @discardableResult
    package func reloadIfChanged() -> Bool {
        let fresh = readAll()
        return loaded.withLock { state in
            guard state.settings != fresh else { return false }
            state.settings = fresh
            state.generation += 1
            return true
        }
    }

    package func settings(of patient: String) -> ClinicalSettings? {
        (try? fileSystem.readFile(directory + "/" + Self.fileName(patient)))
            .flatMap { try? JSONDecoder().decode(ClinicalSettings.self, from: Data($0)) }
    }

    package enum Failure: Error, CustomStringConvertible {
        case invalid(ClinicalSettings.Invalid)
        case io(String)

        package var description: String {
            switch self {
            case .invalid(let why): why.description
            case .io(let why): why
            }
        }
    }

    /// Applies `change` to the patient's settings, writes them durably and audits the change.
    package func change(_ patient: String, _ change: ClinicalSettings.Change, at time: Int64) throws(Failure) -> ClinicalSettings {
        let next: ClinicalSettings
        do {
            next = try (settings(of: patient) ?? ClinicalSettings(patient: patient)).applying(change, at: time)
        } catch {
            throw .invalid(error)
        }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try fileSystem.makeDirectory(directory)
            try fileSystem.replaceDurably(directory + "/" + Self.fileName(patient), with: Array(encoder.encode(next)))
            StateOwner.adopt([directory, directory + "/" + Self.fileName(patient)], like: (directory as NSString).deletingLastPathComponent)
            try audit.append(action: "patient.settings", details: [
                ("patient", patient), ("version", "\(next.version)"), ("by", next.updatedBy), ("settings", next.summary),
            ])
        } catch {
            throw .io("cannot write the patient settings: \(error)")
        }
        loaded.withLock { state in
            state.settings[patient] = next
            state.generation += 1
        }
        return next
    }
}
