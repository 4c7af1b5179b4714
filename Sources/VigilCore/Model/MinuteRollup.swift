/// One device's readings of one minute, per channel, for the uplink's minute granularity
/// (`uplink.fhir.granularity: minute`): one Observation per vital and minute instead of one per
/// reading. Only ordinary readings are rolled up (``StoredReading/rolledUp``); abnormal ones
/// and blood pressure still go one by one.
public struct MinuteRollup: Sendable, Equatable, Codable {
    public var device: String
    public var patient: String
    public var boot: UInt32
    public var timeQuality: TimeQuality
    /// The minute's start (Unix ms, a multiple of 60,000).
    public var start: Int64
    /// Sequence numbers of the first and last reading rolled up (they name the rollup).
    public var firstSeq: UInt32
    public var lastSeq: UInt32
    /// When the gateway received the newest frame, and that reading's device time (for the
    /// coincident time stamp).
    public var receivedAt: Int64
    public var deviceTime: UInt64
    /// The gateway's clock was unsynchronised when these readings arrived (their times uncertain).
    public var gatewayUnsynced: Bool
    /// The newest frame's receipt while the gateway's clock was unsynchronised (``ClockReceipt``).
    public var receipt: ClockReceipt?
    /// Set by the uplink, never stored (``Retimer``): how the times were corrected after the
    /// gateway's clock synchronised, or that its boot never synchronised.
    public var correction: Correction?
    public var series: [Series]

    public struct Series: Sendable, Equatable, Codable {
        public var channel: Channel
        public var samples: [Sample]

        public init(channel: Channel, samples: [Sample]) {
            self.channel = channel
            self.samples = samples
        }
    }

    public struct Sample: Sendable, Equatable, Codable {
        /// Milliseconds after ``MinuteRollup/start``.
        public var offset: UInt16
        public var raw: Int16
        /// Signal-quality grade (0 good … 3 unusable).
        public var grade: UInt8

        public init(offset: UInt16, raw: Int16, grade: UInt8) {
            self.offset = offset
            self.raw = raw
            self.grade = grade
        }
    }

    public init(device: String, patient: String, boot: UInt32, timeQuality: TimeQuality, start: Int64, firstSeq: UInt32,
                lastSeq: UInt32, receivedAt: Int64, deviceTime: UInt64, gatewayUnsynced: Bool = false,
                receipt: ClockReceipt? = nil, series: [Series]) {
        self.device = device
        self.patient = patient
        self.boot = boot
        self.timeQuality = timeQuality
        self.start = start
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.receivedAt = receivedAt
        self.deviceTime = deviceTime
        self.gatewayUnsynced = gatewayUnsynced
        self.receipt = receipt
        self.series = series
    }

    public var readingCount: Int { series.map(\.samples.count).max() ?? 0 }

    public enum Correction: Sendable, Equatable, Codable {
        /// Times moved by this much (ms); ``start`` minus it is the minute as stored (its name).
        case retimed(by: Int64)
        case neverSynchronised
    }

    /// The minute as stored: what names the rollup upstream, corrected or not.
    public var storedStart: Int64 {
        if case .retimed(let by) = correction { start - by } else { start }
    }

    public var gatewayClock: GatewayClockMark {
        switch correction {
        case .retimed?: .corrected
        case .neverSynchronised?: .neverSynchronised
        case nil: gatewayUnsynced ? .unsynchronised : .trusted
        }
    }
}

/// As its wire id (checkpoints hold open rollups).
extension Channel: Codable {}
