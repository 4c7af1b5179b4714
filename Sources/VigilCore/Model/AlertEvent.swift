/// One event in the life of an alert episode, as every model explains it: which model (and
/// version) said what, about which episode, why (the contributing parameters, their values and
/// units, the window they came from) and how far the signal could be trusted. Stored with the
/// alert, uploaded as the Communication's machine-readable attachment, and read back by the
/// uplink for the readable summary. Its JSON keys are the stored format (docs/STORE.md).
public struct AlertEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case raise, escalate, remind, clear, acknowledge
        /// A clinician changed the patient's clinical settings (not an alert: recorded and uploaded).
        case settings
    }

    /// Units of the values: one for a single-vital model, or per parameter.
    public enum Units: Sendable, Equatable, Codable {
        case one(String)
        case perParameter([String: String])

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) {
                self = .one(one)
            } else {
                self = .perParameter(try container.decode([String: String].self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .one(let unit): try container.encode(unit)
            case .perParameter(let units): try container.encode(units)
            }
        }
    }

    /// The reading's signal quality: grade, issues found, channels left out of the score.
    public struct Quality: Sendable, Equatable, Codable {
        public var grade: String
        public var issues: [String]
        public var excluded: [String]

        public init(grade: String, issues: [String], excluded: [String]) {
            self.grade = grade
            self.issues = issues
            self.excluded = excluded
        }
    }

    public var kind: Kind
    public var model: String
    public var version: String?
    /// The episode (``model`` or model/vital, and when it began), e.g. `news2@1795000000000`.
    public var alertID: String?
    /// Whether the care team is notified (a raise over the patient's budget is only recorded).
    public var notify: Bool?
    public var suppressedReason: String?
    public var device: String?
    /// ISO 8601 UTC, whole seconds.
    public var windowStart: String?
    public var windowEnd: String?
    /// The reading that caused the event, so its Observations can be referenced.
    public var boot: UInt32?
    public var seq: UInt32?
    /// The first sequence of the stored batch holding that reading: its frame's coincident time
    /// stamp Observation is named by it.
    public var frameSeq: UInt32?

    // NEWS2
    public var risk: String?
    public var score: Int?
    public var response: String?
    /// Subscore per NEWS2 parameter.
    public var parameters: [String: Int]?
    public var missing: [String]?
    /// 2 when SpO2 was scored on NEWS2 scale 2 (a prescribed 88–92 % target).
    public var spo2Scale: Int?

    /// The contributing values in their fixed-point units (per parameter or feature name).
    public var values: [String: Int]?
    public var units: Units?

    // Drift from the patient's baseline
    public var vital: String?
    public var direction: String?
    public var baseline: Int?
    public var value: Int?
    public var sigma: Int?
    /// The smallest change the drift model alerts on (the vital's units).
    public var minimumEffect: Int?

    // Quantized models
    public var output: Int?
    public var fractionBits: Int?
    public var threshold: Int?

    // Acknowledgements
    public var by: String?
    public var alreadyCleared: Bool?
    /// Clinical settings: what is now in force, in words (``settings`` events).
    public var summary: String?
    public var closed: Bool?

    // Technical conditions (model `technical`)
    /// Which condition (`no_data`, `not_worn`, `battery_low`, …).
    public var condition: String?
    /// What the team should do, in plain words.
    public var action: String?
    /// The sensor's last facts known: battery %, RSSI dBm, when it was last heard (ISO 8601 UTC),
    /// whether its last will arrived after it.
    public var battery: Int?
    public var rssi: Int?
    public var lastSeen: String?
    public var lastWill: Bool?

    public var signalQuality: Quality?

    public init(kind: Kind, model: String, version: String? = nil) {
        self.kind = kind
        self.model = model
        self.version = version
    }

    enum CodingKeys: String, CodingKey {
        case kind = "event"
        case model, version
        case alertID = "alert_id"
        case notify
        case suppressedReason = "suppressed_reason"
        case device
        case windowStart = "window_start"
        case windowEnd = "window_end"
        case frameSeq = "frame_seq"
        case boot, seq, risk, score, response, parameters, missing, values, units, vital, direction, baseline, value, sigma
        case minimumEffect = "minimum_effect"
        case spo2Scale = "spo2_scale"
        case output
        case fractionBits = "fraction_bits"
        case threshold, by
        case alreadyCleared = "already_cleared"
        case summary
        case closed
        case condition, action, battery, rssi
        case lastSeen = "last_seen"
        case lastWill = "last_will"
        case signalQuality = "signal_quality"
    }
}
