import Foundation
import Logging
import Synchronization
import VigilCore
import VigilProtocol
import VigilStore
import VigilValidation

/// The file-backed device registry: one JSON file per device in `<state>/devices/`.
///
/// Read at start, and re-read when a message arrives from a device it does not know and the
/// directory changed since (one `stat`), so `vigil sensor add` takes effect at once without a
/// restart, and a flood from unknown ids costs no rescans. A damaged file is skipped with a log
/// line naming it; it never stops the agent.
public final class DeviceRegistry: Sendable {
    public let directory: URL
    private let logger: Logger
    private let fileSystem: any FileSystem
    private struct State {
        var profiles: [DeviceID: DeviceProfile] = [:]
        var configs: [DeviceID: PendingConfig] = [:]
        var summaries: [String: Summary] = [:]
        var loadedVersion: timespec?
    }

    /// What the control socket may tell about a device (never its key).
    package struct Summary: Sendable, Equatable {
        package var patient: String
        package var kind: String
        package var configVersion: UInt32?
        package var manufacturer: String?
        package var model: String?

        package init(patient: String, kind: String, configVersion: UInt32?, manufacturer: String? = nil, model: String? = nil) {
            self.patient = patient
            self.kind = kind
            self.configVersion = configVersion
            self.manufacturer = manufacturer
            self.model = model
        }
    }

    /// A device's settings as the CONFIG frame will carry them.
    public struct PendingConfig: Sendable, Equatable {
        public let version: UInt32
        public let entries: [ConfigFrame.Entry]
    }
    private let state = Mutex(State())

    public init(directory: URL, logger: Logger, fileSystem: any FileSystem = PosixFileSystem()) {
        self.directory = directory
        self.logger = logger
        self.fileSystem = fileSystem
    }

    public var count: Int { state.withLock { $0.profiles.count } }

    /// The settings of every device that has some.
    public var configs: [DeviceID: PendingConfig] { state.withLock { $0.configs } }

    /// Every usable device record, by device id.
    package var summaries: [String: Summary] { state.withLock { $0.summaries } }

    /// Re-reads the directory if it changed since the last read (one `stat`); `true` if it did.
    @discardableResult
    public func reloadIfChanged() -> Bool {
        let current = directoryVersion()
        let changed = state.withLock { state in
            state.loadedVersion.map { $0.tv_sec != current?.tv_sec || $0.tv_nsec != current?.tv_nsec } ?? true
        }
        if changed { reload() }
        return changed
    }

    /// The device's profile; if it is unknown and the directory changed, reloads first.
    public func profile(for device: DeviceID) -> DeviceProfile? {
        if let known = state.withLock({ $0.profiles[device] }) { return known }
        guard reloadIfChanged() else { return nil }
        return state.withLock { $0.profiles[device] }
    }

    /// The directory's modification time: it changes whenever a record is added, replaced
    /// (rename) or removed.
    private func directoryVersion() -> timespec? {
        var info = stat()
        return stat(directory.path, &info) == 0 ? info.st_mtim : nil
    }

    /// Reads every `*.json` in the directory.
    public func reload() {
        let version = directoryVersion()
        var profiles: [DeviceID: DeviceProfile] = [:]
        var configs: [DeviceID: PendingConfig] = [:]
        var summaries: [String: Summary] = [:]
        var names: [String] = []
        do {
            names = try fileSystem.list(directory.path)
        } catch where error.code == ENOENT {
            // No directory yet: no device provisioned yet.
        } catch {
            // Unreadable is not empty: keep the devices known so far rather than refuse them all.
            logger.error("cannot read the device registry; keeping the devices already loaded", metadata: [
                "directory": "\(directory.path)", "error": "\(error)",
            ])
            return
        }
        for name in names.sorted() where name.hasSuffix(".json") {
            do {
                let record = try JSONDecoder().decode(DeviceRecord.self, from: Data(fileSystem.readFile(directory.path + "/" + name)))
                let profile = try record.profile()
                guard String(name.dropLast(5)) == profile.device.rawValue else {
                    throw RegistryError.invalid(record.device, "file name does not match the device id")
                }
                if let settings = record.config {
                    configs[profile.device] = PendingConfig(version: settings.version, entries: try settings.entries(device: record.device))
                }
                profiles[profile.device] = profile
                summaries[record.device] = Summary(patient: record.patient, kind: record.kind, configVersion: record.config?.version,
                                                 manufacturer: record.manufacturer, model: record.model)
            } catch {
                logger.error("skipping an unusable device registry file", metadata: ["file": "\(name)", "error": "\(error)"])
            }
        }
        state.withLock {
            $0.profiles = profiles
            $0.configs = configs
            $0.summaries = summaries
            $0.loadedVersion = version
        }
    }

    /// Writes a record atomically and durably with mode 0600 (used by provisioning and tests):
    /// temporary file, fdatasync, rename, directory sync, so a power cut leaves the old record or
    /// the new one, never an empty file.
    public static func write(_ record: DeviceRecord, to directory: URL, fileSystem: any FileSystem = PosixFileSystem()) throws {
        try fileSystem.makeDirectory(directory.path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(record)
        let file = directory.appendingPathComponent("\(record.device).json").path
        try fileSystem.replaceDurably(file, with: Array(data))
        StateOwner.adopt([directory.path, file], like: directory.deletingLastPathComponent().path)
    }
}
