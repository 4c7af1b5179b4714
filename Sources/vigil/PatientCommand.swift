import ArgumentParser
import Foundation
import Logging
import VigilAgent
import VigilProvisioning
import VigilScoring

/// `vigil patient`: a patient's clinical settings, which change how their readings are scored.
struct PatientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patient",
        abstract: "Show or change a patient's clinical settings (SpO2 scale, oxygen, consciousness, drift effects).",
        subcommands: [Set.self, Show.self])

    static func store(_ options: ConfigOption) throws -> PatientSettingsStore {
        let configuration = try SensorCommand.load(options)
        return PatientSettingsStore(stateDirectory: configuration.gateway.stateDirectory,
                                    auditKeys: AuditKeys.load(keyFile: configuration.store.keyFile), logger: Logger(label: "vigil"))
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a patient's clinical settings (the agent applies them within seconds).",
            discussion: """
                The change gets the next version, is written durably under \
                <state_directory>/patients/, recorded in the audit log (who and what, not why), \
                and applied by the running agent to the patient's next readings; the agent also \
                stores and uploads it. --spo2-scale 2 is for a prescribed 88-92 % target \
                (NEWS2 scale 2). Consciousness holds until changed; none: not assessed. \
                --drift sets a clinician's minimum drift effect in the vital's units \
                (hr.up=200: 20 /min; temp.up=80: 0.8 °C; spo2.down=40: 4 %).

                Exit status: 0 written; 64 a bad setting; 1 could not write; 78 bad configuration.
                """)

        @OptionGroup var options: ConfigOption
        @Argument(help: ArgumentHelp("The patient reference (as in the device registry).", valueName: "patient")) var patient: String
        @Option(help: ArgumentHelp("NEWS2 SpO2 scale.", valueName: "1|2")) var spo2Scale: Int?
        @Option(help: ArgumentHelp("On supplemental oxygen.", valueName: "yes|no|unknown")) var onOxygen: String?
        @Option(help: ArgumentHelp("Level of consciousness (ACVPU).", valueName: "A|C|V|P|U|none")) var consciousness: String?
        @Option(help: ArgumentHelp("Minimum drift effect.", valueName: "vital.up|down=value")) var drift: [String] = []
        @Option(help: ArgumentHelp("Who makes the change (name or staff id).", valueName: "name")) var by: String
        @Option(help: ArgumentHelp("Why (kept with the settings, not in logs or the audit line).", valueName: "text")) var reason: String?

        func run() throws {
            var change = ClinicalSettings.Change(by: by)
            change.reason = reason
            change.spo2Scale = spo2Scale
            if let onOxygen {
                switch onOxygen {
                case "yes": change.onOxygen = .some(true)
                case "no": change.onOxygen = .some(false)
                case "unknown": change.onOxygen = .some(nil)
                default: throw ValidationError("--on-oxygen: expected yes, no or unknown, got \(onOxygen)")
                }
            }
            if let consciousness { change.consciousness = .some(consciousness == "none" ? nil : consciousness) }
            if !drift.isEmpty {
                var effects: [String: ClinicalSettings.Effect] = [:]
                for item in drift {
                    let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                    let key = parts.first?.split(separator: ".").map(String.init) ?? []
                    guard parts.count == 2, key.count == 2, ["up", "down"].contains(key[1]), let value = Int(parts[1]) else {
                        throw ValidationError("--drift: expected <vital>.up=<n> or <vital>.down=<n>, got \(item)")
                    }
                    var effect = effects[key[0]] ?? ClinicalSettings.Effect()
                    if key[1] == "up" { effect.up = value } else { effect.down = value }
                    effects[key[0]] = effect
                }
                change.driftEffects = effects
            }
            guard change.spo2Scale != nil || change.onOxygen != nil || change.consciousness != nil || change.driftEffects != nil else {
                throw ValidationError("give at least one of --spo2-scale, --on-oxygen, --consciousness, --drift")
            }
            let store = try PatientCommand.store(options)
            do {
                let written = try store.change(patient, change, at: Int64(Date().timeIntervalSince1970 * 1_000))
                print("\(patient): clinical settings version \(written.version) written (\(written.summary))")
            } catch .invalid(let why) {
                printError("error: \(why)")
                throw ExitCode(64)
            } catch {
                printError("error: \(error)")
                throw ExitCode.failure
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a patient's clinical settings (every patient without one).")

        @OptionGroup var options: ConfigOption
        @Argument(help: ArgumentHelp("The patient reference.", valueName: "patient")) var patient: String?
        @Flag(help: "JSON instead of text.") var json = false

        func run() throws {
            let store = try PatientCommand.store(options)
            let all = store.readAll()
            let shown = patient.map { name in all[name].map { [$0] } ?? [] } ?? all.values.sorted { $0.patient < $1.patient }
            // Patient references and their settings are shown only once the view is on record.
            let configuration = try SensorCommand.load(options)
            do {
                try AuditLog(stateDirectory: configuration.gateway.stateDirectory, keyFile: configuration.store.keyFile)
                    .append(action: "phi.view", details: [("what", "patient.settings"), ("patient", patient ?? "*"), ("shown", "\(shown.count)")])
            } catch {
                printError("refusing to show patient settings: cannot write the audit log: \(error)")
                throw ExitCode.failure
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(shown), as: UTF8.self))
                return
            }
            if shown.isEmpty {
                print(patient.map { "\($0): no clinical settings entered (SpO2 scale 1, air, consciousness not assessed)" }
                    ?? "no patient has clinical settings")
                return
            }
            for settings in shown {
                let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(settings.updatedAt) / 1_000))
                print("\(settings.patient): v\(settings.version) \(settings.summary) (by \(settings.updatedBy), \(when))")
            }
        }
    }
}
