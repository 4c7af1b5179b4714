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
    /// A device's ordinary readings of one minute (written only with minute granularity).
    case rollup(MinuteRollup)
}

public struct StoredReading: Sendable, Equatable {
    public static let abnormal: UInt8 = 1 << 0
    /// Bits 1–2: the signal-quality grade (0 good, 1 fair, 2 poor, 3 unusable).
    public static let qualityShift: UInt8 = 1
    /// Bit 3: the reading is in a ``MinuteRollup`` (minute granularity sends it only there).
    public static let rolledUp: UInt8 = 1 << 3
    /// Bit 4: the gateway's own clock was not synchronised when the reading arrived, so its time
    /// (mapped from the gateway's clock, or checked against it) is uncertain.
    public static let gatewayUnsynced: UInt8 = 1 << 4
    /// Bit 5 (set by the uplink, never stored): the time was corrected after the gateway's clock
    /// synchronised (``Retimer``); bit 4 is then clear.
    public static let retimed: UInt8 = 1 << 5
    /// Bit 6 (set by the uplink, never stored, with bit 4): the reading arrived in an earlier
    /// gateway boot whose clock never synchronised, so its time could not be corrected.
    public static let neverSynchronised: UInt8 = 1 << 6

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
    public var isRolledUp: Bool { flags & Self.rolledUp != 0 }
    public var gatewayClockUnsynced: Bool { flags & Self.gatewayUnsynced != 0 }
    /// How the gateway's clock stood for this reading's time, as the uplink sends it.
    public var gatewayClock: GatewayClockMark {
        if flags & Self.retimed != 0 { return .corrected }
        if flags & Self.neverSynchronised != 0 { return .neverSynchronised }
        return gatewayClockUnsynced ? .unsynchronised : .trusted
    }
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
    /// Recorded while the gateway's clock is unsynchronised: the receipt against a clock that
    /// does not jump, so the times can be corrected once it syncs.
    public var receipt: ClockReceipt?

    public init(device: String, patient: String, boot: UInt32, timeQuality: TimeQuality, receivedAt: Int64,
                readings: [StoredReading], receipt: ClockReceipt? = nil) {
        self.device = device
        self.patient = patient
        self.boot = boot
        self.timeQuality = timeQuality
        self.receivedAt = receivedAt
        self.readings = readings
        self.receipt = receipt
    }
}

/// When the gateway received something, against its boot-time clock (CLOCK_BOOTTIME: it does
/// not jump and runs on across agent restarts, but starts again at each gateway boot). The wall
/// clock at receipt was `wallOffset` plus that clock; once the wall clock is synchronised in the
/// same gateway boot, `(wall − boot-time clock now) − wallOffset` is how wrong it was.
public struct ClockReceipt: Sendable, Equatable, Hashable, Codable {
    /// The gateway boot (the first 8 bytes of the kernel's `boot_id`).
    public var gatewayBoot: UInt64
    /// Wall clock minus boot-time clock (ms) at receipt.
    public var wallOffset: Int64

    public init(gatewayBoot: UInt64, wallOffset: Int64) {
        self.gatewayBoot = gatewayBoot
        self.wallOffset = wallOffset
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
