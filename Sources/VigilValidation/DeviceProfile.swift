import VigilCore
import VigilProtocol

/// What validation needs to know about a provisioned device (from the registry).
public struct DeviceProfile: Sendable {
    public let key: DeviceKey
    /// The patient the device is worn by (a FHIR reference such as `Patient/123`).
    public let patient: String
    /// Channels the device may send; `nil` allows every channel of the protocol.
    public let channels: Set<Channel>?
    /// Whether the device may send the JSON debug form (off unless its registry entry says so).
    public let jsonDebug: Bool

    public var device: DeviceID { key.device }

    public init(key: DeviceKey, patient: String, channels: Set<Channel>? = nil, jsonDebug: Bool = false) {
        self.key = key
        self.patient = patient
        self.channels = channels
        self.jsonDebug = jsonDebug
    }
}
