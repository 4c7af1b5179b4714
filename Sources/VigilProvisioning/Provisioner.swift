import Crypto
import Foundation
import VigilCore
import VigilStore

/// Provisioning on the gateway, as `vigil sensor add|remove|set` do it: the registry record, the
/// broker's password file and ACL (then SIGHUP to the broker), the device's boot file, and an
/// audit line for each change. Keys and passwords are generated here and leave only in the boot
/// file; the audit log names devices, never secrets.
public struct Provisioner: Sendable {
    /// What provisioning needs of the gateway's configuration.
    public struct Settings: Sendable, Equatable {
        public var broker: BrokerFiles
        public var stateDirectory: String
        public var topicPrefix: String
        /// The store's key file: audit entries are MAC'd with keys derived from it.
        public var keyFile: String?

        public init(broker: BrokerFiles, stateDirectory: String, topicPrefix: String, keyFile: String? = nil) {
            self.broker = broker
            self.stateDirectory = stateDirectory
            self.topicPrefix = topicPrefix
            self.keyFile = keyFile
        }
    }

    public let configuration: Settings

    public init(settings: Settings) {
        self.configuration = settings
    }

    public var devicesDirectory: String { configuration.stateDirectory + "/devices" }
    public var auditDirectory: String { configuration.stateDirectory + "/audit" }

    public struct NewSensor: Sendable {
        public var device: String
        public var patient: String
        public var kind: String
        public var channels: [String]?
        public var settings: [String: Int64]
        /// Where the firmware keeps its state (boot counter, ring buffer) on its own flash.
        public var deviceStateDirectory: String
        public var manufacturer: String?
        public var model: String?

        public init(device: String, patient: String, kind: String, channels: [String]?, settings: [String: Int64], deviceStateDirectory: String,
                    manufacturer: String? = nil, model: String? = nil) {
            self.manufacturer = manufacturer
            self.model = model
            self.device = device
            self.patient = patient
            self.kind = kind
            self.channels = channels
            self.settings = settings
            self.deviceStateDirectory = deviceStateDirectory
        }
    }

    public struct Outcome: Sendable {
        public var record: DeviceRecord
        /// The JSON the firmware reads at boot (holds the key and the broker password).
        public var bootFile: [UInt8]
        /// Whether the broker was told to re-read its files (no pid file configured: `false`).
        public var brokerReloaded: Bool
    }

    // MARK: add

    public func add(_ sensor: NewSensor) throws(ProvisioningError) -> Outcome {
        guard DeviceID.isValid(sensor.device.utf8), !sensor.device.hasPrefix("_"), !sensor.device.hasPrefix("vigil-") else {
            throw .invalid("device id: expected 1 to 32 of A-Z a-z 0-9 _ - (not starting with _ or vigil-), got \"\(sensor.device)\"")
        }
        guard Self.isPatientReference(sensor.patient) else {
            throw .invalid("--patient: expected a FHIR reference such as Patient/123, got \"\(sensor.patient)\"")
        }
        let channels = sensor.channels ?? SensorKinds.channels[sensor.kind]
        guard let channels else {
            throw .invalid("--kind: expected one of \(SensorKinds.names) (or give --channels), got \"\(sensor.kind)\"")
        }
        let recordPath = devicesDirectory + "/\(sensor.device).json"
        guard !FileManager.default.fileExists(atPath: recordPath) else {
            throw .conflict("\(sensor.device) is already provisioned: use `vigil sensor set` to change it, or remove it first")
        }
        let key = Self.randomBytes(32)
        let password = Data(Self.randomBytes(24)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        var settings: DeviceRecord.Settings?
        if !sensor.settings.isEmpty { settings = .init(version: 1, settings: sensor.settings) }
        let record = DeviceRecord(device: sensor.device, patient: sensor.patient, kind: sensor.kind, key: hexEncoded(key),
                                  channels: channels, config: settings, manufacturer: sensor.manufacturer, model: sensor.model)
        do {
            _ = try record.profile()
            _ = try settings?.entries(device: sensor.device)
        } catch {
            throw .invalid("\(error)")
        }
        let caPEM = try deviceCA()
        try updateBrokerFiles { passwords, acl throws(ProvisioningError) in
            do {
                try passwords.set(user: sensor.device, password: password, salt: Self.randomBytes(MosquittoPasswordFile.saltLength))
            } catch {
                throw .io("cannot hash the broker password: \(error)")
            }
            acl.add(sensor.device)
        }
        do {
            try DeviceRegistry.write(record, to: URL(fileURLWithPath: devicesDirectory))
        } catch {
            throw .io("cannot write the registry record \(recordPath): \(error)")
        }
        try audit("sensor.add", [("device", sensor.device), ("patient", sensor.patient), ("kind", sensor.kind),
                                 ("settings", SensorSettings.describe(sensor.settings))])
        let boot = BootFile(
            device: sensor.device, key: record.key,
            broker: .init(host: configuration.broker.deviceHost, port: configuration.broker.devicePort, username: sensor.device,
                          password: password, ca: caPEM),
            topicPrefix: configuration.topicPrefix, channels: channels, settings: sensor.settings,
            stateDir: sensor.deviceStateDirectory)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes: [UInt8]
        do {
            bytes = Array(try encoder.encode(boot)) + [UInt8(ascii: "\n")]
        } catch {
            throw .io("cannot encode the boot file: \(error)")
        }
        return Outcome(record: record, bootFile: bytes, brokerReloaded: try reloadBroker())
    }

    /// What the firmware reads at boot (firmware-protocol/micropython/device.py).
    struct BootFile: Encodable {
        struct Broker: Encodable {
            var host: String
            var port: Int
            var username: String
            var password: String
            /// The CA certificate (PEM) the device verifies the broker with; absent: plain MQTT.
            var ca: String?
        }

        var device: String
        var key: String
        var broker: Broker
        var topicPrefix: String
        var channels: [String]
        var settings: [String: Int64]
        var stateDir: String

        enum CodingKeys: String, CodingKey {
            case device, key, broker, channels, settings
            case topicPrefix = "topic_prefix"
            case stateDir = "state_dir"
        }
    }

    // MARK: remove

    /// Revokes the device: broker credentials and ACL rules (the broker disconnects it on reload)
    /// and its key (the registry record is moved to `devices/removed/` without it). Readings it
    /// already sent stay in the log and are uploaded as before.
    public func remove(_ device: String) throws(ProvisioningError) -> Bool {
        let path = devicesDirectory + "/\(device).json"
        var record = try load(device)
        try updateBrokerFiles { passwords, acl in
            passwords.remove(user: device)
            acl.remove(device)
        }
        record.key = ""
        let archive = devicesDirectory + "/removed"
        do {
            try DeviceRegistry.write(record, to: URL(fileURLWithPath: archive))
            try PosixFileSystem().remove(path)
            try PosixFileSystem().syncDirectory(devicesDirectory)
        } catch {
            throw .io("cannot remove the registry record \(path): \(error)")
        }
        try audit("sensor.remove", [("device", device), ("patient", record.patient)])
        return try reloadBroker()
    }

    // MARK: set

    /// Merges `changes` into the device's settings under the next version; returns it.
    public func set(_ device: String, changes: [String: Int64]) throws(ProvisioningError) -> DeviceRecord.Settings {
        var record = try load(device)
        let before = record.config?.settings ?? [:]
        let settings = DeviceRecord.Settings(version: (record.config?.version ?? 0) + 1, settings: before.merging(changes) { $1 })
        do {
            _ = try settings.entries(device: device)
        } catch {
            throw .invalid("\(error)")
        }
        record.config = settings
        do {
            try DeviceRegistry.write(record, to: URL(fileURLWithPath: devicesDirectory))
        } catch {
            throw .io("cannot write the registry record: \(error)")
        }
        try audit("sensor.set", [("device", device), ("config_version", "\(settings.version)"),
                                 ("before", SensorSettings.describe(before)), ("after", SensorSettings.describe(settings.settings))])
        return settings
    }

    public func load(_ device: String) throws(ProvisioningError) -> DeviceRecord {
        let path = devicesDirectory + "/\(device).json"
        guard DeviceID.isValid(device.utf8), let data = FileManager.default.contents(atPath: path) else {
            if !FileManager.default.isReadableFile(atPath: devicesDirectory) && FileManager.default.fileExists(atPath: devicesDirectory) {
                throw .io("cannot read \(devicesDirectory): permission denied (run as root or the vigil user)")
            }
            throw .conflict("\(device) is not provisioned (see `vigil sensor list`)")
        }
        do {
            return try JSONDecoder().decode(DeviceRecord.self, from: data)
        } catch {
            throw .io("\(path) is damaged: \(error)")
        }
    }

    /// Every provisioned device's record (for `sensor list` when the agent is not running).
    public func records() -> [DeviceRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: devicesDirectory)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().compactMap { name in
            FileManager.default.contents(atPath: devicesDirectory + "/" + name).flatMap { try? JSONDecoder().decode(DeviceRecord.self, from: $0) }
        }
    }

    // MARK: broker files

    private func updateBrokerFiles(_ change: (inout MosquittoPasswordFile, inout BrokerACL) throws(ProvisioningError) -> Void) throws(ProvisioningError) {
        let broker = configuration.broker
        let passwordText = (try? String(contentsOfFile: broker.passwordFile, encoding: .utf8)) ?? ""
        guard let aclText = try? String(contentsOfFile: broker.aclFile, encoding: .utf8) else {
            throw .io("cannot read the broker ACL \(broker.aclFile) (broker.acl_file)")
        }
        var passwords = MosquittoPasswordFile(text: passwordText)
        var acl: BrokerACL
        do {
            acl = try BrokerACL(text: aclText, topicPrefix: configuration.topicPrefix)
        } catch {
            throw .io("\(broker.aclFile): \(error)")
        }
        try change(&passwords, &acl)
        try Self.replacePreservingOwner(broker.passwordFile, with: passwords.text)
        try Self.replacePreservingOwner(broker.aclFile, with: acl.text)
    }

    /// Replaces a file durably, keeping its owner, group and mode (the broker must still read it).
    static func replacePreservingOwner(_ path: String, with text: String) throws(ProvisioningError) {
        var info = stat()
        let existed = stat(path, &info) == 0
        do {
            try PosixFileSystem().replaceDurably(path, with: Array(text.utf8))
        } catch {
            throw .io("cannot write \(path): \(error)")
        }
        if existed {
            chmod(path, info.st_mode & 0o7777)
            if chown(path, info.st_uid, info.st_gid) != 0 && getuid() == 0 {
                throw .io("cannot restore the owner of \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// SIGHUP to the broker named by `broker.pid_file`, after checking it is mosquitto.
    public func reloadBroker() throws(ProvisioningError) -> Bool {
        guard let pidFile = configuration.broker.pidFile else { return false }
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1 else {
            throw .brokerNotReloaded("cannot read a pid from \(pidFile) (broker.pid_file); is the broker running?")
        }
        let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard command == "mosquitto" else {
            throw .brokerNotReloaded("process \(pid) from \(pidFile) is not mosquitto (\(command ?? "not running"))")
        }
        guard kill(pid, SIGHUP) == 0 else {
            throw .brokerNotReloaded("cannot signal the broker (pid \(pid)): \(String(cString: strerror(errno)))")
        }
        return true
    }

    private func deviceCA() throws(ProvisioningError) -> String? {
        guard let path = configuration.broker.deviceCAFile else { return nil }
        guard let pem = try? String(contentsOfFile: path, encoding: .utf8), pem.contains("-----BEGIN CERTIFICATE-----") else {
            throw .io("cannot read the CA certificate devices verify the broker with: \(path) (broker.device_ca_file; off for plain MQTT)")
        }
        return pem
    }

    private func audit(_ action: String, _ details: [(String, String)]) throws(ProvisioningError) {
        do {
            let keys = configuration.keyFile.flatMap { AuditKeys.load(keyFile: $0) }
            try AuditLog(directory: auditDirectory, keys: keys).append(action: action, details: details)
        } catch {
            throw .io("cannot write the audit log in \(auditDirectory): \(error)")
        }
    }

    static func isPatientReference(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "Patient", (1...64).contains(parts[1].count) else { return false }
        return parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

public enum ProvisioningError: Error, Sendable, CustomStringConvertible {
    /// A bad argument (exit 64).
    case invalid(String)
    /// The device exists when it should not, or not when it should (exit 1).
    case conflict(String)
    /// A file could not be read or written (exit 74).
    case io(String)
    /// The files changed but the broker was not told (exit 69).
    case brokerNotReloaded(String)

    public var description: String {
        switch self {
        case .invalid(let text), .conflict(let text), .io(let text): text
        case .brokerNotReloaded(let text): "the broker's files are updated but it was not reloaded: \(text); run `systemctl reload mosquitto`"
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .invalid: 64
        case .conflict: 1
        case .io: 74
        case .brokerNotReloaded: 69
        }
    }
}
