import VigilCore
import VigilProtocol

/// Turns raw `up` payloads into accepted readings, or a reason. Pure: the caller passes the
/// device profile (from the registry) and the receive time; nothing here does I/O.
///
/// Two steps, because "accepted" must mean "stored": `validate` decides and changes nothing
/// about sequence state; `commit` records the readings once the store has them durably, and
/// returns what the device's ack may cover. A frame validated but never committed (a full disk)
/// is therefore accepted again when the device resends it.
public struct Validator: Sendable {
    public struct Limits: Sendable {
        /// Frames a device may send in a burst, and the sustained interval per frame.
        public var burst: Int
        public var interval: Duration

        public init(burst: Int = 64, interval: Duration = .milliseconds(50)) {
            self.burst = burst
            self.interval = interval
        }
    }

    /// A frame that passed every check, with its readings' times mapped.
    public struct Accepted: Sendable {
        public let device: DeviceID
        public let patient: String
        public let frame: ReadingsFrame
        /// Sequence numbers of records not seen before (all of them unless a resend overlapped).
        public let fresh: [UInt32]
        public let timeQuality: TimeQuality
        /// Unix milliseconds of the frame's `t0` after clock mapping.
        public let mappedT0: Int64

        /// Unix milliseconds of a record.
        public func time(of record: Record) -> Int64 { mappedT0 + Int64(record.dt) }
    }

    public enum Outcome: Sendable {
        case accepted(Accepted)
        /// Already stored: acknowledge again (`ackThrough`), store nothing.
        case duplicate(device: DeviceID, boot: UInt32, ackThrough: UInt32?)
        case rejected(ValidationReason)
    }

    /// What the validator knows of one device: the part of the gateway's durable state
    /// (``Checkpoint``) that must survive a restart.
    public struct DeviceState: Sendable, Equatable, Codable {
        public var sequences = SequenceTracker()
        public var clock = ClockMapper()
    }

    /// Every device's sequence and clock state, to checkpoint and restore.
    public typealias Checkpoint = [String: DeviceState]

    private var devices: [DeviceID: DeviceState] = [:]
    private var rateLimiter: RateLimiter<DeviceID>

    public init(limits: Limits = Limits()) {
        rateLimiter = RateLimiter(burst: limits.burst, interval: limits.interval, maxKeys: 4_096)
    }

    /// - Parameters:
    ///   - now: monotonic time, for rate limiting.
    ///   - receivedAt: Unix milliseconds when the message arrived, for clock mapping.
    ///   - gatewayClockTrusted: whether the gateway's clock is synchronised (``ClockMapper/map(boot:deviceTime:synced:receivedAt:gatewayTrusted:)``).
    public mutating func validate(
        _ payload: [UInt8], from device: DeviceID, profile: DeviceProfile?, now: Duration, receivedAt: Int64,
        gatewayClockTrusted: Bool = true
    ) -> Outcome {
        guard let profile else { return .rejected(.unprovisioned) }
        guard case .emit = rateLimiter.check(device, now: now) else { return .rejected(.rateLimited) }
        let decoded: Frame
        do {
            if JSONFrame.isJSON(payload) {
                guard profile.jsonDebug else { return .rejected(.jsonDisabled) }
                decoded = try JSONFrame.decode(payload, key: profile.key)
            } else {
                decoded = try FrameDecoder.decode(payload, key: profile.key)
            }
        } catch {
            return .rejected(.frame(error))
        }
        guard case .readings(let frame) = decoded else { return .rejected(.wrongTopic) }
        if let allowed = profile.channels {
            for record in frame.records where record.channels.contains(where: { !allowed.contains($0.channel) }) {
                return .rejected(.channelNotAllowed)
            }
        }
        var state = devices[device] ?? DeviceState()
        let admission = state.sequences.classify(boot: frame.boot, first: frame.seq, last: frame.lastSeq)
        let fresh: [UInt32]
        switch admission {
        case .replayed:
            return .rejected(.replayed)
        case .duplicate:
            return .duplicate(device: device, boot: frame.boot,
                              ackThrough: state.sequences.state(boot: frame.boot)?.contiguousThrough)
        case .new:
            fresh = Array(frame.seq...frame.lastSeq)
        case .partial(let subset):
            fresh = subset
        }
        let synced = frame.flags.contains(.clockSynced)
        state.clock.observe(boot: frame.boot, deviceTime: frame.t0, synced: synced,
                            replay: frame.flags.contains(.replay), receivedAt: receivedAt)
        let (mapped, quality) = state.clock.map(boot: frame.boot, deviceTime: frame.t0, synced: synced, receivedAt: receivedAt,
                                                gatewayTrusted: gatewayClockTrusted)
        devices[device] = state
        return .accepted(Accepted(device: device, patient: profile.patient, frame: frame, fresh: fresh,
                                  timeQuality: quality, mappedT0: mapped))
    }

    public struct Commit: Sendable, Equatable {
        /// The sequence an ACK may carry for this boot (every reading ≤ it is stored).
        public let ackThrough: UInt32?
        /// Missing ranges in this boot, to request with RESEND.
        public let gaps: [ClosedRange<UInt32>]
        /// A range given up because too much was missing for too long (record a data gap).
        public let abandoned: ClosedRange<UInt32>?
    }

    /// Records an accepted frame's fresh readings as stored.
    public mutating func commit(_ accepted: Accepted) -> Commit { commit(accepted, only: accepted.fresh) }

    /// Records `seqs` (a subset of the frame's fresh readings) as stored.
    public mutating func commit(_ accepted: Accepted, only seqs: [UInt32]) -> Commit {
        var state = devices[accepted.device] ?? DeviceState()
        var abandoned: ClosedRange<UInt32>?
        for seq in seqs {
            if let skipped = state.sequences.accept(boot: accepted.frame.boot, first: seq, last: seq) { abandoned = skipped }
        }
        devices[accepted.device] = state
        let boot = state.sequences.state(boot: accepted.frame.boot)
        return Commit(ackThrough: boot?.contiguousThrough, gaps: boot?.gaps ?? [], abandoned: abandoned)
    }

    /// Gives up the device's readings of `boot` missing up to `range.upperBound` (the resend
    /// scheduler abandoned the gap); returns what the ACK may now cover.
    public mutating func abandon(device: DeviceID, boot: UInt32, range: ClosedRange<UInt32>) -> UInt32? {
        devices[device]?.sequences.skip(boot: boot, through: range.upperBound)
        return devices[device]?.sequences.state(boot: boot)?.contiguousThrough
    }

    /// The gateway's wall clock jumped by `delta` ms (``GatewayClock``): every device's uptime
    /// mapping follows it.
    public mutating func gatewayClockJumped(by delta: Int64) {
        for device in devices.keys { devices[device]!.clock.shift(by: delta) }
    }

    /// The state to checkpoint: every device's sequences and clock offsets.
    public var checkpoint: Checkpoint {
        var result: Checkpoint = [:]
        for (device, state) in devices { result[device.rawValue] = state }
        return result
    }

    /// Starts from a checkpoint (before the log's entries are restored on top of it).
    public mutating func restore(_ checkpoint: Checkpoint) {
        for (id, state) in checkpoint {
            guard let device = DeviceID(id) else { continue }
            devices[device] = state
        }
    }

    /// Whether the reading is already accounted for (checkpointed or restored as stored, or of
    /// a boot older than every one tracked).
    public func isKnown(device: DeviceID, boot: UInt32, seq: UInt32) -> Bool {
        (devices[device]?.sequences ?? SequenceTracker()).classify(boot: boot, first: seq, last: seq) != .new
    }

    /// Marks readings found in the store at start as already stored, so a device resending them
    /// (it never got the ack) is answered with an ack, not stored twice.
    public mutating func restore(device: DeviceID, boot: UInt32, seqs: some Sequence<UInt32>) {
        var state = devices[device] ?? DeviceState()
        for seq in seqs { _ = state.sequences.accept(boot: boot, first: seq, last: seq) }
        devices[device] = state
    }

    /// The tracker of one device (for status reports and tests).
    public func sequences(of device: DeviceID) -> SequenceTracker? { devices[device]?.sequences }
}
