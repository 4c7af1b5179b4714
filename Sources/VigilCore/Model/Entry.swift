/// What the gateway records, independent of how the wire carried it and of how the store lays
/// it out: every module speaks these types (the store stores them, the uplink maps them).
public enum Entry: Sendable, Equatable {
    /// The fresh readings of one accepted frame.
    case readings(ReadingBatch)
    /// An alert event of one of the models.
    case alert(AlertEntry)
    /// Readings known to be missing: evicted for space, or never delivered.
    case gap(DataGap)
    /// A patient's monitoring coverage for a day that is over.
    case coverage(CoverageDay)
}

public struct StoredReading: Sendable, Equatable {
    public static let abnormal: UInt8 = 1 << 0
    /// Bits 1–2: the signal-quality grade (0 good, 1 fair, 2 poor, 3 unusable).
    public static let qualityShift: UInt8 = 1

    public var seq: UInt32
    /// Unix milliseconds (gateway-mapped).
    public var time: Int64
    /// Milliseconds as the device reported them (`t0 + dt`: Unix time or uptime).
    public var deviceTime: UInt64
    public var flags: UInt8
    /// (channel, encoded fixed-point value) in ascending channel order.
    public var values: [Value]

    public struct Value: Sendable, Equatable {
        public var channel: Channel
        /// The fixed-point value as the wire carried it (``Channel/divisor`` units per unit).
        public var raw: Int16

        public init(channel: Channel, raw: Int16) {
            self.channel = channel
            self.raw = raw
        }
    }

    public var isAbnormal: Bool { flags & Self.abnormal != 0 }
    /// The signal-quality grade (0 good … 3 unusable).
    public var qualityGrade: UInt8 { (flags >> Self.qualityShift) & 0b11 }

    public init(seq: UInt32, time: Int64, deviceTime: UInt64, flags: UInt8 = 0, values: [Value]) {
        self.seq = seq
        self.time = time
        self.deviceTime = deviceTime
        self.flags = flags
        self.values = values
    }
}

public struct ReadingBatch: Sendable, Equatable {
    public var device: String
    public var patient: String
    public var boot: UInt32
    public var timeQuality: TimeQuality
    /// Unix milliseconds when the gateway received the frame.
    public var receivedAt: Int64
    public var readings: [StoredReading]

    public init(device: String, patient: String, boot: UInt32, timeQuality: TimeQuality, receivedAt: Int64, readings: [StoredReading]) {
        self.device = device
        self.patient = patient
        self.boot = boot
        self.timeQuality = timeQuality
        self.receivedAt = receivedAt
        self.readings = readings
    }
}

/// An alert event as recorded: who, when, and the event itself (``AlertEvent``).
public struct AlertEntry: Sendable, Equatable {
    /// The sensor whose reading caused it (empty for an acknowledgement of a forgotten episode).
    public var device: String
    public var patient: String
    /// Unix milliseconds of the reading (or acknowledgement) that caused the event.
    public var time: Int64
    public var event: AlertEvent

    public init(device: String, patient: String, time: Int64, event: AlertEvent) {
        self.device = device
        self.patient = patient
        self.time = time
        self.event = event
    }
}

public struct DataGap: Sendable, Equatable {
    public enum Reason: String, Sendable, CaseIterable {
        /// Routine readings removed (downsampled) to stay within the quota.
        case thinned
        /// Readings deleted outright because the quota was still exceeded.
        case evicted
        /// A range the device never delivered, given up after resend requests.
        case undelivered
        /// Readings in a damaged segment that could not be recovered.
        case damaged
        /// The start of a boot the gateway first saw mid-sequence (the sensor ran before the
        /// gateway knew it), given up after resend requests.
        case beforeFirstSeen = "before_first_seen"
    }

    public var device: String
    public var patient: String
    public var reason: Reason
    /// The time span (Unix ms) the missing readings fell in.
    public var from: Int64
    public var to: Int64
    public var count: UInt32

    public init(device: String, patient: String, reason: Reason, from: Int64, to: Int64, count: UInt32) {
        self.device = device
        self.patient = patient
        self.reason = reason
        self.from = from
        self.to = to
        self.count = count
    }
}
