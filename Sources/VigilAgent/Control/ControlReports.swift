import Foundation
import VigilFormats
import VigilProvisioning
import VigilScoring

/// What the control socket answers (`GET /v1/...`), as JSON with snake_case keys. The CLI decodes
/// the same types. Times are Unix milliseconds; absent facts are `null`, never guessed.
public struct SensorReport: Codable, Sendable, Equatable {
    public var device: String
    public var patient: String?
    public var kind: String?
    /// In the registry now (a removed device keeps its report until the agent restarts).
    public var provisioned: Bool
    /// From the device's STATUS: `true` after its birth message, `false` after its last will.
    public var online: Bool?
    public var lastSeen: Int64?
    public var firmware: String?
    public var battery: Int?
    public var rssi: Int?
    public var boot: UInt32?
    /// The settings version the device last reported, and the one the registry asks for.
    public var configApplied: UInt32?
    public var configWanted: UInt32?
    /// Readings stored in the last 60 seconds.
    public var readingsPerMinute: Int
    public var readingsStored: UInt64
    /// Stored against expected from the sequence numbers seen since the agent started (its last
    /// four boots); `nil` before the first reading.
    public var received: UInt64
    public var expected: UInt64
    public var rejects: [String: UInt64]
    /// The patient's clinical settings in force (version and summary), when any were entered.
    public var clinical: String?

    public var completeness: Double? { expected == 0 ? nil : Double(received) / Double(expected) }
    public var configPending: Bool { (configWanted ?? 0) > (configApplied ?? 0) }
}

/// One stored reading as `vigil sensor watch` shows it: values in their units, quality grade.
public struct WatchReading: Codable, Sendable, Equatable {
    public var index: UInt64
    public var time: Int64
    public var seq: UInt32
    public var values: [String: Double]
    public var quality: String
    public var abnormal: Bool
}

public struct WatchBatch: Codable, Sendable, Equatable {
    /// Pass as `after` to get only newer readings.
    public var next: UInt64
    public var readings: [WatchReading]
}

public struct StatusReport: Codable, Sendable, Equatable {
    public struct Agent: Codable, Sendable, Equatable {
        public var version: String
        public var gateway: String
        public var pid: Int32
        public var startedAt: Int64
        public var messagesProcessed: UInt64
    }

    public struct Broker: Codable, Sendable, Equatable {
        public var address: String
        public var connected: Bool
        /// The last disconnect's reason while not connected.
        public var problem: String?
    }

    public struct Uplink: Codable, Sendable, Equatable {
        /// `fhir`, `mqtt`, or `none` (everything stays in the log).
        public var kind: String
        public var target: String?
        /// Whether the last request succeeded; `nil` before the first.
        public var connected: Bool?
        public var lastSuccess: Int64?
        public var lastError: String?
        public var lastErrorAt: Int64?
        /// Records confirmed in the last minute, per second.
        public var recordsPerSecond: Double
    }

    public struct Backlog: Codable, Sendable, Equatable {
        public var priorityRecords: UInt64
        public var routineRecords: UInt64
        /// Bytes of the segments holding unsent records (an upper bound).
        public var bytes: Int
        /// When the oldest segment with unsent records was started (a lower bound of the age).
        public var oldest: Int64?
        /// At the last minute's upload rate; `nil` when nothing was uploaded in it.
        public var estimatedDrainSeconds: Double?
    }

    public struct Disk: Codable, Sendable, Equatable {
        public var path: String
        public var freeBytes: Int64
        public var totalBytes: Int64
        public var storeBytes: Int
        public var quotaBytes: Int64
        public var reserveBytes: Int64
    }

    public struct Keys: Codable, Sendable, Equatable {
        public var currentKey: UInt32
        /// Seconds since the key file last changed (created or rotated); `nil` for a credential.
        public var ageSeconds: Int64?
    }

    public struct Clock: Codable, Sendable, Equatable {
        /// The kernel's view (adjtimex): `false` when NTP has not synchronized the clock; `nil`
        /// when the agent may not ask (its sandbox) and nothing else tells.
        public var synchronized: Bool?
        public var maxErrorMicroseconds: Int64?
        /// Jumps of the wall clock the agent saw since it started, and the last one.
        public var jumps: Int?
        public var lastJumpAt: Int64?
        public var lastJumpMilliseconds: Int64?
        /// Readings stored while the clock was unsynchronised, as the uplink sent them since
        /// start: with corrected times, as of uncertain time; and those waiting for the sync now.
        public var retimedReadings: Int?
        public var uncertainReadings: Int?
        public var heldReadings: Int?

        public init(synchronized: Bool?, maxErrorMicroseconds: Int64?) {
            self.synchronized = synchronized
            self.maxErrorMicroseconds = maxErrorMicroseconds
        }
    }

    public var agent: Agent
    public var broker: Broker
    public var uplink: Uplink
    public var backlog: Backlog
    public var openAlerts: [OpenAlertReport]
    public var disk: Disk
    public var keys: Keys
    public var clock: Clock
    public var sensors: [SensorReport]
    /// What this caller's role may not see and was left out (`patients`, `open_alerts`).
    public var redacted: [String]?
}

/// `vigil audit verify`'s result as the agent answers it (`GET /v1/audit/verify`).
public struct AuditVerificationReport: Codable, Sendable, Equatable {
    public var entries: Int
    public var unkeyed: Int
    /// `<seq>:<mac>` of the last entry.
    public var head: String?
    public var problem: String?

    public init(_ verification: AuditChain.Verification) {
        entries = verification.entries
        unkeyed = verification.unkeyed
        head = verification.head.map(\.description)
        problem = verification.problem.map(\.description)
    }
}

/// The encoder and decoder both ends use.
public enum ControlJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
