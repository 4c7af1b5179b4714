import VigilCore

/// A technical alarm condition (IEC 60601-1-8's term): the patient is not being monitored, or
/// soon will not be, whatever their vitals. Each is an alert episode of model `technical`, key
/// `technical/<condition>/<device>` (`gateway` for the gateway's own), with the same lifecycle
/// as a physiological alert.
package enum TechnicalCondition: String, Sendable, Codable, CaseIterable {
    /// An assigned sensor sent nothing (readings or status) for its kind's `silent_after`.
    case noData = "no_data"
    /// Readings arrive without a usable vital sign (detached, flat line, off the body).
    case notWorn = "not_worn"
    case batteryLow = "battery_low"
    /// The sensor's synchronised clock keeps disagreeing with the gateway's.
    case sensorClock = "sensor_clock"
    /// Repeated frames from one device id that failed authentication.
    case authFailures = "auth_failures"
    /// The gateway cannot reach the local broker the sensors publish to.
    case brokerDown = "broker_down"
    /// The hospital uplink could not deliver for `uplink_down_after` (told when it gets through).
    case uplinkDown = "uplink_down"
    case gatewayClock = "gateway_clock"
    /// The store is deleting undelivered data to make room (data is being lost locally).
    case storeEvicting = "store_evicting"
    case diskLow = "disk_low"

    package static let model = "technical"
    package static let gatewayDevice = "gateway"

    package var isGatewaySide: Bool {
        switch self {
        case .brokerDown, .uplinkDown, .gatewayClock, .storeEvicting, .diskLow: true
        default: false
        }
    }

    /// The episode key for this condition of `device`.
    package func key(device: String) -> String { "\(Self.model)/\(rawValue)/\(device)" }

    /// What the team should do about it, in plain words.
    package var action: String {
        switch self {
        case .noData: "check the sensor: charge or replace it, or bring it within range of the gateway"
        case .notWorn: "ask the patient to put the sensor back on"
        case .batteryLow: "charge the sensor or replace its battery"
        case .sensorClock: "restart the sensor; if it persists, have a technician check its time source"
        case .authFailures: "have a technician re-provision the sensor (a key mismatch) or check for tampering"
        case .brokerDown: "restart the gateway; if it persists, send a technician"
        case .uplinkDown: "check the home's internet connection; data was buffered and is being sent"
        case .gatewayClock: "check the gateway's network time; reading times may be estimates"
        case .storeEvicting: "restore the gateway's connection or disk space: stored data is being deleted"
        case .diskLow: "free disk space on the gateway or replace its storage"
        }
    }
}

/// What the gateway knows of itself at a tick (the gateway-side conditions).
package struct GatewayFacts: Sendable, Equatable {
    /// Connected to the local broker now; when the connection was last lost (or the agent started
    /// without one), Unix ms.
    package var brokerConnected = true
    package var brokerDownSince: Int64?
    /// When the uplink's current run of failures began (`nil` while it delivers).
    package var uplinkFailingSince: Int64?
    /// Whether the uplink has reported at all since start: until it has, an outage open before a
    /// restart is neither cleared nor raised again.
    package var uplinkKnown = true
    /// When the kernel clock was first seen unsynchronised, while it is (`nil`: synchronised or unknown).
    package var clockUnsyncedSince: Int64?
    /// Readings the store has evicted since start (undelivered data deleted to make room).
    package var evictedReadings: UInt64 = 0
    /// Free disk above the store's reserve, MiB (`nil`: unknown).
    package var diskFreeMiB: Int?

    package init() {}
}
