import Foundation
import VigilCore
import VigilProtocol
import VigilValidation

/// One provisioned device as stored in `<state>/devices/<id>.json` (mode 0600).
public struct DeviceRecord: Codable, Sendable, Equatable {
    public var device: String
    /// FHIR reference of the patient wearing it, e.g. `Patient/123`.
    public var patient: String
    public var kind: String
    /// 32-byte HMAC key, hex.
    public var key: String
    /// JSON keys of the channels it may send (`hr`, `spo2`, …); absent: all.
    public var channels: [String]?
    public var jsonDebug: Bool?
    /// Who made it and which model it is, as the technician provisioned it (on its FHIR Device).
    public var manufacturer: String?
    public var model: String?
    /// Settings pushed to the device as a signed, retained CONFIG frame.
    public var config: Settings?

    /// A versioned set of device settings (names and ranges: PROTOCOL.md, "CONFIG").
    public struct Settings: Codable, Sendable, Equatable {
        /// Strictly increasing per device; the device applies only a newer version.
        public var version: UInt32
        public var settings: [String: Int64]

        public init(version: UInt32, settings: [String: Int64]) {
            self.version = version
            self.settings = settings
        }

        /// The CONFIG entries, keys ascending, or why the settings are unusable.
        public func entries(device: String) throws(RegistryError) -> [ConfigFrame.Entry] {
            guard version >= 1 else { throw .invalid(device, "config version must be at least 1") }
            var entries: [ConfigFrame.Entry] = []
            for (name, value) in settings {
                guard let key = ConfigKey(name: name) else {
                    throw .invalid(device, "unknown setting \"\(name)\" (known: \(ConfigKey.allCases.map(\.name).joined(separator: ", ")))")
                }
                guard key.range.contains(value) else {
                    throw .invalid(device, "\(name) must be within \(key.range.lowerBound)...\(key.range.upperBound), got \(value)")
                }
                entries.append(ConfigFrame.Entry(key: key.rawValue, value: Int32(value)))
            }
            return entries.sorted { $0.key < $1.key }
        }
    }

    enum CodingKeys: String, CodingKey {
        case device, patient, kind, key, channels, config, manufacturer, model
        case jsonDebug = "json_debug"
    }

    public init(device: String, patient: String, kind: String, key: String, channels: [String]? = nil, jsonDebug: Bool? = nil,
                config: Settings? = nil, manufacturer: String? = nil, model: String? = nil) {
        self.device = device
        self.manufacturer = manufacturer
        self.model = model
        self.patient = patient
        self.kind = kind
        self.key = key
        self.channels = channels
        self.jsonDebug = jsonDebug
        self.config = config
    }

    /// The validated profile, or why the record is unusable.
    public func profile() throws(RegistryError) -> DeviceProfile {
        guard let id = DeviceID(device) else { throw .invalid(device, "device id must be 1-32 of A-Z a-z 0-9 _ -") }
        guard let bytes = hexDecoded(key), bytes.count == DeviceKey.length, let deviceKey = DeviceKey(device: id, bytes: bytes) else {
            throw .invalid(device, "key must be 64 hex digits")
        }
        guard !patient.isEmpty else { throw .invalid(device, "patient reference is empty") }
        var allowed: Set<Channel>?
        if let channels {
            allowed = []
            for name in channels {
                guard let channel = Channel(key: name) else { throw .invalid(device, "unknown channel \"\(name)\"") }
                allowed?.insert(channel)
            }
        }
        return DeviceProfile(key: deviceKey, patient: patient, channels: allowed, jsonDebug: jsonDebug ?? false)
    }
}

public enum RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalid(String, String)
    case io(String)

    public var description: String {
        switch self {
        case .invalid(let device, let problem): "device \(device): \(problem)"
        case .io(let problem): problem
        }
    }
}
