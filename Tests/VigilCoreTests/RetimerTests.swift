import Testing
import VigilCore

/// The correction of times stored while the gateway's clock was unsynchronised, case by case.
@Suite struct RetimerTests {
    static let boot: UInt64 = 0xB0_07
    /// At receipt the wall clock was two years behind: wall − boot-time was this.
    static let wrongOffset: Int64 = 1_732_000_000_000
    static let rightOffset: Int64 = wrongOffset + 730 * 86_400_000
    let retimer = Retimer(holdLimit: 900_000)

    func batch(_ quality: TimeQuality = .estimated, boot: UInt64 = boot, bootTimeAtReceipt: Int64 = 60_000) -> Entry {
        let receivedAt = Self.wrongOffset + bootTimeAtReceipt
        let readings = (0..<3).map {
            StoredReading(seq: UInt32($0), time: receivedAt - 2_000 + Int64($0) * 1_000, deviceTime: 5_000,
                          flags: StoredReading.gatewayUnsynced, values: [.init(channel: .pulseRate, raw: 700)])
        }
        return .readings(ReadingBatch(device: "d", patient: "p", boot: 1, timeQuality: quality, receivedAt: receivedAt,
                                      readings: readings, receipt: ClockReceipt(gatewayBoot: boot, wallOffset: Self.wrongOffset)))
    }

    func readings(_ outcome: Retimer.Outcome?) -> ReadingBatch? {
        if case .readings(let batch)? = outcome?.entry { batch } else { nil }
    }

    @Test func afterTheSyncInTheSameBootEveryMappedTimeMovesByHowWrongTheClockWas() throws {
        let base = GatewayTimeBase(boot: Self.boot, bootTime: 120_000, wallOffset: Self.rightOffset, synchronized: true)
        let outcome = retimer.prepare(batch(), base: base)
        let moved = try #require(readings(outcome))
        guard case .readings(let stored) = batch() else { return }
        #expect(outcome?.retimed == 3 && outcome?.uncertain == 0)
        #expect(moved.receivedAt == stored.receivedAt + 730 * 86_400_000)
        for (after, before) in zip(moved.readings, stored.readings) {
            #expect(after.time == before.time + 730 * 86_400_000)
            #expect(after.gatewayClock == .corrected)
        }
    }

    @Test func aDeviceClocksTimesAreLeftAloneOnlyTheReceiptMoves() throws {
        let base = GatewayTimeBase(boot: Self.boot, bootTime: 120_000, wallOffset: Self.rightOffset, synchronized: true)
        let outcome = retimer.prepare(batch(.device), base: base)
        let moved = try #require(readings(outcome))
        guard case .readings(let stored) = batch(.device) else { return }
        #expect(moved.readings.map(\.time) == stored.readings.map(\.time))
        #expect(moved.readings.allSatisfy { $0.gatewayClock == .trusted })
        #expect(moved.receivedAt != stored.receivedAt && outcome?.retimed == 0)
    }

    @Test func unsynchronisedInTheSameBootItWaitsForTheHoldThenGoesUncertain() throws {
        let young = GatewayTimeBase(boot: Self.boot, bootTime: 60_000 + 899_999, wallOffset: Self.wrongOffset, synchronized: false)
        #expect(retimer.prepare(batch(), base: young) == nil)
        let old = GatewayTimeBase(boot: Self.boot, bootTime: 60_000 + 900_000, wallOffset: Self.wrongOffset, synchronized: false)
        let outcome = retimer.prepare(batch(), base: old)
        guard case .readings(let stored) = batch() else { return }
        #expect(readings(outcome) == stored, "sent as stored")
        #expect(outcome?.uncertain == 3)
        #expect(readings(outcome)?.readings.allSatisfy { $0.gatewayClock == .unsynchronised } == true)
    }

    @Test func anEarlierBootIsCorrectedWithItsRememberedOffsetOrMarkedNeverSynchronised() throws {
        let remembered = GatewayTimeBase(boot: 2, bootTime: 10, wallOffset: 5, synchronized: false, earlier: [Self.boot: Self.rightOffset])
        #expect(readings(retimer.prepare(batch(), base: remembered))?.readings.allSatisfy { $0.gatewayClock == .corrected } == true)
        let forgotten = GatewayTimeBase(boot: 2, bootTime: 10, wallOffset: Self.rightOffset, synchronized: true)
        let outcome = retimer.prepare(batch(), base: forgotten)
        #expect(readings(outcome)?.readings.allSatisfy { $0.gatewayClock == .neverSynchronised } == true, "not held: it can never be corrected")
        #expect(outcome?.uncertain == 3)
    }

    /// Without a readable boot id every boot looks alike: a receipt later in its boot than now
    /// in this one cannot be of this boot, and is not corrected with this boot's offset.
    @Test func aReceiptFromLaterInItsBootThanNowIsAnEarlierBootEvenUnderTheSameID() throws {
        let rebooted = GatewayTimeBase(boot: Self.boot, bootTime: 30_000, wallOffset: Self.rightOffset, synchronized: true)
        let outcome = retimer.prepare(batch(bootTimeAtReceipt: 60_000), base: rebooted)
        #expect(readings(outcome)?.readings.allSatisfy { $0.gatewayClock == .neverSynchronised } == true)
    }

    @Test func aCorrectedRollupKeepsTheMinuteItIsNamedBy() throws {
        let rollup = MinuteRollup(device: "d", patient: "p", boot: 1, timeQuality: .estimated, start: 1_732_000_020_000, firstSeq: 0,
                                  lastSeq: 2, receivedAt: Self.wrongOffset + 60_000, deviceTime: 5_000, gatewayUnsynced: true,
                                  receipt: ClockReceipt(gatewayBoot: Self.boot, wallOffset: Self.wrongOffset),
                                  series: [.init(channel: .pulseRate, samples: [.init(offset: 0, raw: 700, grade: 0)])])
        let base = GatewayTimeBase(boot: Self.boot, bootTime: 120_000, wallOffset: Self.rightOffset, synchronized: true)
        guard case .rollup(let moved)? = retimer.prepare(.rollup(rollup), base: base)?.entry else { Issue.record("not a rollup"); return }
        #expect(moved.start == rollup.start + 730 * 86_400_000)
        #expect(moved.storedStart == rollup.start)
        #expect(moved.gatewayClock == .corrected)
    }

    @Test func whatWasStoredWithATrustedClockGoesAsItIs() {
        guard case .readings(var batch) = batch() else { return }
        batch.receipt = nil
        for index in batch.readings.indices { batch.readings[index].flags = 0 }
        let base = GatewayTimeBase(boot: Self.boot, bootTime: 0, wallOffset: 0, synchronized: false)
        let outcome = retimer.prepare(.readings(batch), base: base)
        #expect(outcome?.entry == .readings(batch) && outcome?.retimed == 0 && outcome?.uncertain == 0)
    }
}
