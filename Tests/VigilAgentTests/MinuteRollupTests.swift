import Foundation
import Testing
import VigilCore
import VigilStore
@testable import VigilScoring
@testable import VigilUplink

/// Minute granularity: which readings are rolled up, when a rollup is finished, that nothing
/// is lost or counted twice (late readings, checkpoints), how the store keeps it and how it
/// becomes one Observation per vital and minute.
@Suite struct MinuteRollupTests {
    static let t0: Int64 = 1_795_350_000_000  // a whole minute

    /// One 1 Hz reading; SpO2 84 % at the seqs given (outside the normal band), a cuff reading at 77.
    static func batch(_ seq: UInt32, low: Set<UInt32> = [], time: Int64? = nil) -> ReadingBatch {
        var values: [StoredReading.Value] = [.init(channel: .pulseRate, raw: 720 + Int16(seq % 5)),
                                             .init(channel: .spo2, raw: low.contains(seq) ? 840 : 970)]
        if seq == 77 { values += [.init(channel: .systolicBP, raw: 124), .init(channel: .diastolicBP, raw: 80)] }
        return ReadingBatch(device: "d1", patient: "Patient/p1", boot: 1, timeQuality: .device, receivedAt: (time ?? t0 + Int64(seq) * 1_000) + 40,
                            readings: [StoredReading(seq: seq, time: time ?? t0 + Int64(seq) * 1_000, deviceTime: UInt64(t0) + UInt64(seq) * 1_000, values: values)])
    }

    @Test func ordinaryReadingsAreRolledUpByMinuteAndTheRestStayOnTheirOwn() {
        var rollups = MinuteRollups()
        var finished: [MinuteRollup] = []
        var alone: [UInt32] = []
        for seq in UInt32(0)..<150 {
            var batch = Self.batch(seq, low: [100])
            rollups.add(&batch)
            if !batch.readings[0].isRolledUp { alone.append(seq) }
            finished += rollups.take()
        }
        #expect(alone == [100], "one outside the band goes one by one")
        #expect(finished.map(\.start) == [Self.t0, Self.t0 + 60_000], "a minute is finished when the next one begins")
        #expect(finished.map { $0.series.map(\.channel) } == [[.pulseRate, .spo2], [.pulseRate, .spo2, .systolicBP, .diastolicBP]])
        #expect(finished.map(\.readingCount) == [60, 59])
        #expect(finished[1].firstSeq == 60 && finished[1].lastSeq == 119)
        rollups.close(now: Self.t0 + 180_000 + MinuteRollups.settle - 1)
        rollups.close(now: Self.t0 + 180_000 + MinuteRollups.settle - 1)
        #expect(rollups.take().isEmpty, "the last minute waits until it has settled")
        rollups.close(now: Self.t0 + 180_000 + MinuteRollups.settle)
        let last = rollups.take()
        #expect(last.map(\.readingCount) == [30] && last.first?.series.first?.samples.first?.offset == 0)
    }

    /// A box whose clock is not synchronised still rolls up, but never mixes readings of
    /// uncertain time with others, and the rollup says so (its Observations are tagged).
    @Test func readingsOfUncertainTimeAreRolledUpApartAndSaySo() throws {
        var rollups = MinuteRollups()
        for seq in UInt32(0)..<20 {
            var batch = Self.batch(seq)
            if seq < 10 {
                batch.readings[0].flags |= StoredReading.gatewayUnsynced
                batch.receipt = ClockReceipt(gatewayBoot: 7, wallOffset: 1_000_000)
            }
            rollups.add(&batch)
            #expect(batch.readings[0].isRolledUp)
        }
        rollups.close(now: .max)
        rollups.close(now: .max)
        let both = rollups.take()
        #expect(both.map(\.gatewayUnsynced) == [true, false] && both.map(\.readingCount) == [10, 10])
        #expect(both.map(\.receipt) == [ClockReceipt(gatewayBoot: 7, wallOffset: 1_000_000), nil], "the receipt kept for the correction")
        let tagged = FHIRMapper(gateway: "gw", options: .init(granularity: .minute)).resources(for: .rollup(both[0]))[1]
        let meta = try #require((try JSONSerialization.jsonObject(with: Data(tagged.json)) as? [String: Any])?["meta"] as? [String: Any])
        #expect((meta["tag"] as? [[String: Any]])?.compactMap { $0["code"] as? String } == ["gateway-clock-unsynchronised"])
        #expect(try Entry.decode(type: .rollup, Entry.rollup(both[0]).encoded) == .rollup(both[0]))
    }

    /// One rollup is corrected by one receipt: a clock jump (its offset changing) mid-minute
    /// starts a new one.
    @Test func aJumpOfTheUnsynchronisedClockMidMinuteSplitsTheRollup() {
        var rollups = MinuteRollups()
        for seq in UInt32(0)..<10 {
            var batch = Self.batch(seq)
            batch.readings[0].flags |= StoredReading.gatewayUnsynced
            batch.receipt = ClockReceipt(gatewayBoot: 7, wallOffset: seq < 5 ? 1_000_000 : 1_000_400 + (seq == 9 ? 5_000 : 0))
            rollups.add(&batch)
        }
        rollups.close(now: .max)
        rollups.close(now: .max)
        #expect(rollups.take().map(\.readingCount) == [9, 1], "a drift within 1 s is no jump")
    }

    /// A sensor sending a backlog of past minutes in frames: a tick between two frames does not
    /// split the minute, a tick after a quiet interval finishes it.
    @Test func aMinuteStillGainingReadingsIsNotFinishedByATick() {
        var rollups = MinuteRollups()
        for seq in UInt32(0)..<30 { var batch = Self.batch(seq); rollups.add(&batch) }
        rollups.close(now: .max)
        for seq in UInt32(30)..<50 { var batch = Self.batch(seq); rollups.add(&batch) }
        #expect(rollups.take().isEmpty, "still gaining readings at the tick")
        rollups.close(now: .max)
        #expect(rollups.take().isEmpty)
        rollups.close(now: .max)
        #expect(rollups.take().map(\.readingCount) == [50], "finished by the first tick after a quiet interval")
    }

    @Test func aLateReadingForAFinishedMinuteIsARollupOfItsOwn() {
        var rollups = MinuteRollups()
        for seq in UInt32(0)..<61 { var batch = Self.batch(seq); rollups.add(&batch) }
        var late = Self.batch(200, time: Self.t0 + 30_500)
        rollups.add(&late)
        rollups.close(now: Self.t0 + 1_000_000)
        rollups.close(now: Self.t0 + 1_000_000)
        let all = rollups.take()
        #expect(all.map(\.start) == [Self.t0, Self.t0 + 60_000, Self.t0])
        #expect(all.map(\.firstSeq) == [0, 60, 200], "named by its first reading: a different Observation")
        #expect(all.map(\.readingCount).reduce(0, +) == 62)
    }

    /// A checkpoint mid-minute and the replay of what followed give the same rollups as no restart.
    @Test func aCheckpointMidMinuteRebuildsTheSameRollups() throws {
        var straight = MinuteRollups()
        var restarted = MinuteRollups()
        var expected: [MinuteRollup] = []
        var got: [MinuteRollup] = []
        for seq in UInt32(0)..<130 {
            var a = Self.batch(seq)
            straight.add(&a)
            expected += straight.take()
            if seq == 95 {
                let saved = try JSONEncoder().encode(restarted)
                restarted = try JSONDecoder().decode(MinuteRollups.self, from: saved)
            }
            var b = Self.batch(seq)
            restarted.add(&b)
            got += restarted.take()
        }
        #expect(got == expected && got.count == 2)
    }

    @Test func theStoreKeepsARollupExactly() throws {
        var rollups = MinuteRollups()
        for seq in UInt32(0)..<61 { var batch = Self.batch(seq); rollups.add(&batch) }
        let rollup = try #require(rollups.take().first)
        let entry = Entry.rollup(rollup)
        #expect(entry.lane == .routine)
        #expect(try Entry.decode(type: entry.type, entry.encoded) == entry)
    }

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func aRollupIsOneObservationPerVitalWithMedianExtremesAndEveryValue() throws {
        var rollups = MinuteRollups()
        var batches: [ReadingBatch] = []
        for seq in UInt32(0)..<61 {
            var batch = Self.batch(seq, low: [10])
            rollups.add(&batch)
            batches.append(batch)
        }
        let rollup = try #require(rollups.take().first)
        let minute = FHIRMapper(gateway: "gw", options: .init(granularity: .minute))
        let resources = minute.resources(for: .rollup(rollup))
        #expect(resources.map(\.identifier) == ["urn:vigil:gw:min:d1:1:\(Self.t0):0:cts", "urn:vigil:gw:min:d1:1:\(Self.t0):0:pr",
                                                "urn:vigil:gw:min:d1:1:\(Self.t0):0:spo2"])
        let pulse = try object(resources[1].json)
        #expect((pulse["effectivePeriod"] as? [String: Any])?["end"] as? String == "2026-11-22T12:20:59.000Z")
        #expect(((pulse["valueQuantity"] as? [String: Any])?["value"] as? NSNumber)?.stringValue == "72.2", "the median of 72.0–72.4")
        let components = try #require(pulse["component"] as? [[String: Any]])
        func code(_ component: [String: Any]) -> String? { ((component["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String }
        #expect(components.map(code) == ["minimum", "maximum", "count", "samples"])
        #expect(components[2]["valueInteger"] as? Int == 59, "59 of the 60 readings: reading 10 went on its own")
        let sampled = try #require(components[3]["valueSampledData"] as? [String: Any])
        #expect(sampled["period"] as? Int == 1_000 && (sampled["factor"] as? NSNumber)?.stringValue == "0.1")
        let data = (sampled["data"] as? String ?? "").split(separator: " ")
        #expect(data.count == 60 && data[10] == "E" && data[0] == "720" && data[59] == "724", "every value at its second")
        // Minute granularity leaves out of the readings what the rollup carries; per reading, a
        // rollup is nothing and every reading goes.
        var cuff = Self.batch(77)
        rollups.add(&cuff)
        #expect(cuff.readings[0].isRolledUp)
        batches.append(cuff)
        let readings = batches.flatMap { minute.resources(for: .readings($0)) }.map(\.identifier)
        #expect(readings == ["urn:vigil:gw:obs:d1:1:10:cts", "urn:vigil:gw:obs:d1:1:10:pr", "urn:vigil:gw:obs:d1:1:10:spo2"])
        // A minute with pressure: one panel of medians (systolic, diastolic, mean) and each value.
        rollups.close(now: .max)
        rollups.close(now: .max)
        let withPressure = try #require(rollups.take().first)
        let panel = try object(try #require(minute.resources(for: .rollup(withPressure)).first { $0.identifier.hasSuffix(":bp") }).json)
        let parts = (panel["component"] as? [[String: Any]] ?? []).map(code)
        #expect(parts == ["150021", "150022", "150023", "systolic-samples", "diastolic-samples"], "MDC codes first, LOINC beside them")
        #expect((panel["meta"] as? [String: Any])?["profile"] as? [String] == ["http://hl7.org/fhir/StructureDefinition/bp"])
        let perReading = FHIRMapper(gateway: "gw")
        #expect(perReading.resources(for: .rollup(rollup)).isEmpty)
        #expect(batches.flatMap { perReading.resources(for: .readings($0)) }.count == 61 * 3 + 4, "a time stamp, pulse and SpO2 per reading")
    }

    @Test(arguments: [([0, 1_000, 2_010, 2_990], 1_000, [0, 1, 2, 3]), ([0, 500, 1_000, 1_400], 500, [0, 1, 2, 3]), ([0, 1_000, 1_200, 2_000], 250, [0, 4, 5, 8]),
                      ([0, 1_000, 1_000], 1, [0, 1_000, 1_001])] as [([UInt16], Int, [Int])])
    func everyReadingGetsASlotOfItsOwn(offsets: [UInt16], period: Int, slots: [Int]) {
        let (found, placed) = FHIRMapper.slots(offsets)
        #expect(found == period && placed == slots)
    }
}
