import ArgumentParser
import Foundation
import VigilAgent
import VigilProvisioning

struct SensorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sensor",
        abstract: "Provision sensors, change their settings and see how they are doing.",
        discussion: """
            add/remove/set change the registry, the broker's password file and ACL (run them as \
            root); list/show/watch ask the running agent over its control socket (members of the \
            service's group may).
            """,
        subcommands: [Add.self, Remove.self, SensorList.self, SensorShow.self, SensorSet.self, SensorWatch.self]
    )

    /// The configuration, or exit 78 with every problem.
    static func load(_ options: ConfigOption) throws -> VigilConfiguration {
        do {
            return try VigilConfiguration.load(path: options.path)
        } catch {
            printError("\(error)")
            throw ExitCode(ExitStatus.configuration)
        }
    }

    static func fail(_ error: ProvisioningError) -> ExitCode {
        printError("error: \(error)")
        return ExitCode(error.exitCode)
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Provision a sensor: key, broker credentials and ACL, registry entry, and its boot file.",
            discussion: """
                Generates the device's HMAC key and broker password, adds both to the broker's \
                password file (PBKDF2-SHA512) and ACL (its own topics only) and reloads the broker \
                (SIGHUP to broker.pid_file), registers the device for the patient, and writes the \
                file the firmware reads at boot: broker address, credentials, CA, key and settings. \
                Copy that file to the device's flash and delete it here; it is the only copy of \
                the broker password. The agent picks the device up within seconds, no restart.

                Kinds and the channels they send: spo2-ring (pr spo2 pi activity battery), \
                vitals-patch (hr rr skin_temp core_temp spo2 sbp pi activity battery), bp-cuff \
                (sbp dbp pr battery), thermometer (core_temp battery).

                Exit status: 0 done; 64 a bad argument; 1 already provisioned; 74 a file could not \
                be written; 69 the broker could not be reloaded (files updated); 78 bad configuration.
                """)

        @OptionGroup var options: ConfigOption
        @Argument(help: ArgumentHelp("The device id (1-32 of A-Z a-z 0-9 _ -), also its broker user name.", valueName: "id"))
        var device: String
        @Option(help: ArgumentHelp("The patient wearing it, as a FHIR reference.", valueName: "Patient/id"))
        var patient: String
        @Option(help: ArgumentHelp("What it is: spo2-ring, vitals-patch, bp-cuff or thermometer.", valueName: "kind"))
        var kind: String
        @Option(help: ArgumentHelp("Channels it sends, comma-separated (default: those of its kind).", valueName: "hr,spo2,..."))
        var channels: String?
        @Option(name: .customLong("set"), help: ArgumentHelp("Initial settings, as for `vigil sensor set` (repeatable).", valueName: "key=value"))
        var settings: [String] = []
        @Option(help: ArgumentHelp("Where to write the boot file (mode 0600).", valueName: "path"))
        var output: String?
        @Option(help: ArgumentHelp("The directory on the device's flash for its state (boot counter, buffer).", valueName: "dir"))
        var deviceStateDir = "vigil"
        @Option(help: ArgumentHelp("Who made the sensor (goes on its FHIR Device).", valueName: "name"))
        var manufacturer: String?
        @Option(help: ArgumentHelp("The sensor's model (goes on its FHIR Device).", valueName: "name"))
        var model: String?

        func run() throws {
            let configuration = try SensorCommand.load(options)
            let channelList = channels.map { $0.split(separator: ",").map(String.init) }
            let parsed: [String: Int64]
            do {
                parsed = try SensorSettings.parse(settings, allowed: Set(channelList ?? SensorKinds.channels[kind] ?? []))
            } catch {
                throw ValidationError("--set \(error)")
            }
            let target = output ?? "\(device).json"
            guard !FileManager.default.fileExists(atPath: target) else {
                throw ValidationError("--output: \(target) already exists; choose another path or remove it")
            }
            let provisioner = Provisioner(configuration: configuration)
            let outcome: Provisioner.Outcome
            do {
                outcome = try provisioner.add(.init(device: device, patient: patient, kind: kind, channels: channelList, settings: parsed,
                                                    deviceStateDirectory: deviceStateDir, manufacturer: manufacturer, model: model))
            } catch {
                throw SensorCommand.fail(error)
            }
            guard FileManager.default.createFile(atPath: target, contents: Data(outcome.bootFile), attributes: [.posixPermissions: 0o600]) else {
                printError("error: \(device) is provisioned but its boot file could not be written to \(target); remove and add it again")
                throw ExitCode(74)
            }
            print("provisioned \(device) for \(patient) (\(kind): \(outcome.record.channels?.joined(separator: " ") ?? "all channels"))")
            print("boot file: \(target) (holds the device's key and broker password: copy it to the device, then delete it)")
            if outcome.brokerReloaded {
                print("broker reloaded: \(device) may connect now")
            } else {
                print("broker.pid_file is off: reload the broker yourself (systemctl reload mosquitto)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a sensor: broker credentials, ACL rules and its key. Its stored readings stay.",
            discussion: """
                The broker drops the device on reload and refuses it from then on. The registry \
                record moves to devices/removed/ without the key, so the readings already in the \
                log keep their patient and are still uploaded.

                Exit status: 0 done; 1 not provisioned; 74 a file could not be written; 69 the \
                broker could not be reloaded (files updated); 78 bad configuration.
                """)
        @OptionGroup var options: ConfigOption
        @Argument(help: ArgumentHelp("The device id.", valueName: "id")) var device: String

        func run() throws {
            let configuration = try SensorCommand.load(options)
            do {
                let reloaded = try Provisioner(configuration: configuration).remove(device)
                print("removed \(device): credentials, ACL rules and key revoked; its stored readings stay in the log")
                if !reloaded { print("broker.pid_file is off: reload the broker yourself (systemctl reload mosquitto)") }
            } catch {
                throw SensorCommand.fail(error)
            }
        }
    }
}
