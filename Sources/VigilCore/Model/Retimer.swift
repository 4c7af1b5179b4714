/// How the gateway's clock stood for a reading's time, as sent upstream (FHIR `meta.tag`).
public enum GatewayClockMark: Sendable, Equatable {
    /// Synchronised at receipt (or the system could not tell, and it was trusted).
    case trusted
    /// Unsynchronised at receipt and not corrected: the time may be off by any amount.
    case unsynchronised
    /// Unsynchronised at receipt, corrected once the clock synchronised in the same gateway boot.
    case corrected
    /// Received in an earlier gateway boot whose clock never synchronised: it cannot be corrected.
    case neverSynchronised
}

/// The gateway's clock when the uplink is about to send: the boot it runs in, its boot-time clock
/// (CLOCK_BOOTTIME, ms), wall minus boot-time now, whether the wall clock is synchronised, and the
/// synchronised offsets remembered from earlier boots.
public struct GatewayTimeBase: Sendable, Equatable {
    public var boot: UInt64
    public var bootTime: Int64
    public var wallOffset: Int64
    public var synchronized: Bool
    /// Wall minus boot-time once synchronised, per earlier gateway boot.
    public var earlier: [UInt64: Int64]

    public init(boot: UInt64, bootTime: Int64, wallOffset: Int64, synchronized: Bool, earlier: [UInt64: Int64] = [:]) {
        self.boot = boot
        self.bootTime = bootTime
        self.wallOffset = wallOffset
        self.synchronized = synchronized
        self.earlier = earlier
    }

    /// The synchronised offset that applies to a receipt, if one is known.
    func synchronisedOffset(for boot: UInt64) -> Int64? {
        boot == self.boot ? (synchronized ? wallOffset : nil) : earlier[boot]
    }
}

/// Corrects, just before upload, the times of what was stored while the gateway's clock was
/// unsynchronised (entries with a ``ClockReceipt``). The wall clock at receipt was the receipt's
/// offset plus the boot-time clock, which does not jump; once the wall clock is synchronised in
/// the same boot, the difference of the two offsets is exactly how wrong it was, for every time
/// that came from it (mapped uptimes, receive times), whatever the jumps in between. Times from a
/// device's own synchronised clock are left alone. Pure.
public struct Retimer: Sendable {
    /// How long (ms of boot-time) an uncorrectable entry of the current boot waits for the sync
    /// before it is sent as of uncertain time.
    public var holdLimit: Int64

    public init(holdLimit: Int64) { self.holdLimit = holdLimit }

    public struct Outcome: Sendable, Equatable {
        public var entry: Entry
        /// Readings whose time was corrected, and readings sent as of uncertain time.
        public var retimed = 0
        public var uncertain = 0
    }

    /// The entry to send (corrected or marked), or `nil` to hold it for now.
    public func prepare(_ entry: Entry, base: GatewayTimeBase) -> Outcome? {
        switch entry {
        case .readings(var batch):
            guard let receipt = batch.receipt else { return Outcome(entry: entry) }
            switch decide(receipt, receivedAt: batch.receivedAt, base: base) {
            case .hold: return nil
            case .uncertain(let never):
                var outcome = Outcome(entry: entry)
                for index in batch.readings.indices where batch.readings[index].gatewayClockUnsynced {
                    if never { batch.readings[index].flags |= StoredReading.neverSynchronised }
                    outcome.uncertain += 1
                }
                outcome.entry = .readings(batch)
                return outcome
            case .shift(let delta):
                let moves = !batch.timeQuality.isDeviceClock
                batch.receivedAt += delta
                var outcome = Outcome(entry: entry)
                for index in batch.readings.indices where batch.readings[index].gatewayClockUnsynced {
                    batch.readings[index].flags &= ~StoredReading.gatewayUnsynced
                    // A device's own clock was right all along: nothing to correct but the receipt.
                    guard moves else { continue }
                    batch.readings[index].time += delta
                    batch.readings[index].flags |= StoredReading.retimed
                    outcome.retimed += 1
                }
                outcome.entry = .readings(batch)
                return outcome
            }
        case .rollup(var rollup):
            guard let receipt = rollup.receipt, rollup.gatewayUnsynced else { return Outcome(entry: entry) }
            switch decide(receipt, receivedAt: rollup.receivedAt, base: base) {
            case .hold: return nil
            case .uncertain(let never):
                if never { rollup.correction = .neverSynchronised }
                return Outcome(entry: .rollup(rollup), uncertain: rollup.readingCount)
            case .shift(let delta):
                rollup.gatewayUnsynced = false
                rollup.receivedAt += delta
                guard !rollup.timeQuality.isDeviceClock else { return Outcome(entry: .rollup(rollup)) }
                rollup.start += delta
                rollup.correction = .retimed(by: delta)
                return Outcome(entry: .rollup(rollup), retimed: rollup.readingCount)
            }
        case .alert, .gap, .coverage:
            return Outcome(entry: entry)
        }
    }

    /// Receive times and the boot-time clock are read a moment apart.
    static let bootTimeSlack: Int64 = 1_000

    private enum Decision {
        case shift(Int64)
        /// Sent as stored; `true`: of an earlier boot that never synchronised.
        case uncertain(never: Bool)
        case hold
    }

    private func decide(_ receipt: ClockReceipt, receivedAt: Int64, base: GatewayTimeBase) -> Decision {
        // Boot-time at receipt: the wall clock then minus the offset then.
        let age = base.bootTime - (receivedAt - receipt.wallOffset)
        // Received later in its boot than it is now in this one: an earlier boot whose id could
        // not be told apart (no boot id readable), never one to correct with this boot's offset.
        if receipt.gatewayBoot == base.boot, age < -Self.bootTimeSlack { return .uncertain(never: true) }
        if let offset = base.synchronisedOffset(for: receipt.gatewayBoot) { return .shift(offset - receipt.wallOffset) }
        guard receipt.gatewayBoot == base.boot else { return .uncertain(never: true) }
        return age < holdLimit ? .hold : .uncertain(never: false)
    }
}
