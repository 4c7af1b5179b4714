import Foundation
import Testing
import VigilCore
import VigilStore
@testable import VigilScoring
@testable import VigilUplink

/// Coverage per patient-day, in simulated time: minutes usable, not worn and silent, readings
/// against those numbered, days reported once, the 30-day count, local days, restarts.
@Suite struct CoverageTests {
    /// 2026-11-22T00:00:00Z.
    let midnight: Int64 = 1_795_305_600_000

    func at(day: Int = 0, hour: Int, minute: Int = 0, second: Int = 0) -> Int64 {
        midnight + Int64(day) * 86_400_000 + Int64(hour) * 3_600_000 + Int64(minute) * 60_000 + Int64(second) * 1_000
    }

    /// One reading: pulse and SpO2 that vary (worn) or zeros (detached).
    func batch(_ time: Int64, seq: UInt32, worn: Bool = true, device: String = "ring-1", patient: String = "Patient/p1",
               receivedAt: Int64? = nil) -> ReadingBatch {
        let wobble = Int16(seq % 9)
        let values: [StoredReading.Value] = [
            .init(channel: .pulseRate, raw: worn ? 700 + wobble : 0), .init(channel: .spo2, raw: worn ? 965 + wobble % 3 : 0),
        ]
        return ReadingBatch(device: device, patient: patient, boot: 1, timeQuality: .device, receivedAt: receivedAt ?? time,
                            readings: [StoredReading(seq: seq, time: time, deviceTime: 0, values: values)])
    }

    /// Readings every 30 s over `minutes` from `from`, numbered from `seq`; `skipEvery` leaves out
    /// every n-th (lost in transit: numbered but not received).
    func feed(_ scorer: inout ReadingScorer, from: Int64, minutes: Int, seq: inout UInt32, worn: Bool = true, skipEvery: Int = 0) -> Int {
        var received = 0
        for index in 0..<(minutes * 2) {
            defer { seq += 1 }
            if skipEvery > 0, index % skipEvery == skipEvery - 1 { continue }
            var b = batch(from + Int64(index) * 30_000, seq: seq, worn: worn)
            _ = scorer.score(&b)
            received += 1
        }
        return received
    }

    func scorer(utcOffsetMinutes: Int = 0) -> ReadingScorer {
        var settings = ScoringSettings.perReading
        settings.utcOffsetMinutes = utcOffsetMinutes
        settings.technical.enabled = false
        return ReadingScorer(models: [], settings: settings)
    }

    @Test func everyMinuteIsUsableNotWornOrSilentAndReadingsCountAgainstThoseNumbered() throws {
        var scorer = scorer()
        var seq: UInt32 = 0
        // 08:00–10:00 worn (every 10th reading lost), 10:00–11:00 detached (zeros), then nothing.
        let worn = feed(&scorer, from: at(hour: 8), minutes: 120, seq: &seq, skipEvery: 10)
        let detached = feed(&scorer, from: at(hour: 10), minutes: 60, seq: &seq, worn: false)
        #expect(scorer.closeCoverageDays(now: at(hour: 23), assigned: ["Patient/p1"]).isEmpty, "the day is not over")
        let days = scorer.closeCoverageDays(now: at(day: 1, hour: 0, minute: 0, second: 10), assigned: ["Patient/p1"])
        let day = try #require(days.first)
        #expect(days.count == 1 && day.day == "2026-11-22" && day.patient == "Patient/p1")
        // Coverage began with the first reading, at 08:00: the minutes before are not counted.
        #expect(day.start == at(hour: 8) && day.end == at(day: 1, hour: 0))
        #expect(day.usableMinutes == 120 && day.notWornMinutes == 60 && day.silentMinutes == 16 * 60 - 180)
        #expect(day.received == UInt64(worn + detached) && day.expected == 360, "\(day.received)/\(day.expected)")
        #expect(day.daysWithReadings30 == 1 && day.devices == ["ring-1"])
        #expect(day.hourlyUsable.count == 24 && day.hourlyUsable[8] == 60 && day.hourlyUsable[10] == 0 && day.hourlyUsable[7] == 0)
        #expect(scorer.closeCoverageDays(now: at(day: 1, hour: 1), assigned: ["Patient/p1"]).isEmpty, "reported once")
    }

    @Test func anAssignedPatientWithoutReadingsHasSilentDaysAndThe30DayCountFollowsDaysWithReadings() throws {
        var scorer = scorer()
        var seq: UInt32 = 0
        _ = scorer.closeCoverageDays(now: at(hour: 7), assigned: ["Patient/p1"])
        // Readings on days 0, 1 and 3; nothing on day 2.
        for day in [0, 1, 3] { _ = feed(&scorer, from: at(day: day, hour: 9), minutes: 10, seq: &seq) }
        var reported: [CoverageDay] = []
        for day in 1...4 { reported += scorer.closeCoverageDays(now: at(day: day, hour: 0, minute: 1), assigned: ["Patient/p1"]) }
        #expect(reported.map(\.day) == ["2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25"])
        #expect(reported[0].start == at(hour: 7) && reported[0].minutes == 17 * 60, "from the assignment at 07:00")
        #expect(reported[2].silentMinutes == 1_440 && reported[2].received == 0)
        #expect(reported.map(\.daysWithReadings30) == [1, 2, 2, 3])
    }

    @Test func aPatientNoLongerAssignedIsReportedOnlyForDaysWithReadings() {
        var scorer = scorer()
        var seq: UInt32 = 0
        _ = feed(&scorer, from: at(hour: 9), minutes: 5, seq: &seq)
        var reported: [CoverageDay] = []
        for day in 1...3 { reported += scorer.closeCoverageDays(now: at(day: day, hour: 0, minute: 1), assigned: []) }
        #expect(reported.map(\.day) == ["2026-11-22"])
    }

    @Test func daysAreTheGatewaysLocalDays() throws {
        // UTC+1: a reading at 23:30 UTC is 00:30 the next local day.
        var scorer = scorer(utcOffsetMinutes: 60)
        var b = batch(at(hour: 23, minute: 30), seq: 0)
        _ = scorer.score(&b)
        let days = scorer.closeCoverageDays(now: at(day: 2, hour: 0), assigned: [])
        let day = try #require(days.first)
        #expect(days.count == 1 && day.day == "2026-11-23" && day.start == at(hour: 23, minute: 30) && day.usableMinutes == 1)
        #expect(day.minutes == 1_410, "from 00:30 local to the end of the day")
    }

    @Test func aWrongClockCountsNowhereAndTodaySoFarIsReported() throws {
        var scorer = scorer()
        var future = batch(at(day: 3, hour: 9), seq: 0, receivedAt: at(hour: 9))
        var ancient = batch(at(day: -40, hour: 9), seq: 1, receivedAt: at(hour: 9))
        _ = scorer.score(&future)
        _ = scorer.score(&ancient)
        var seq: UInt32 = 2
        _ = feed(&scorer, from: at(hour: 9), minutes: 30, seq: &seq)
        let today = try #require(scorer.coverageLedger.report(days: 7, now: at(hour: 9, minute: 59, second: 30)).last)
        #expect(today.day == "2026-11-22" && today.end == at(hour: 9, minute: 59, second: 30))
        #expect(today.minutes == 60 && today.usableMinutes == 30 && today.silentMinutes == 30 && today.received == 60)
    }

    @Test func aRestartFromTheCheckpointReportsNothingTwice() throws {
        var scorer = scorer()
        var seq: UInt32 = 0
        _ = feed(&scorer, from: at(hour: 9), minutes: 10, seq: &seq)
        #expect(scorer.closeCoverageDays(now: at(day: 1, hour: 0, minute: 1), assigned: ["Patient/p1"]).count == 1)
        let saved = try JSONDecoder().decode(ReadingScorer.State.self, from: JSONEncoder().encode(scorer.state))
        var restarted = self.scorer()
        restarted.state = saved
        #expect(restarted.closeCoverageDays(now: at(day: 1, hour: 0, minute: 2), assigned: ["Patient/p1"]).isEmpty)
        let next = restarted.closeCoverageDays(now: at(day: 2, hour: 0, minute: 1), assigned: ["Patient/p1"])
        #expect(next.map(\.day) == ["2026-11-23"] && next.first?.daysWithReadings30 == 1)
    }

    @Test func readingsThatArriveLateReviseTheDayOnceTheySettle() throws {
        var scorer = scorer()
        var seq: UInt32 = 0
        _ = feed(&scorer, from: at(hour: 9), minutes: 10, seq: &seq)
        let first = scorer.closeCoverageDays(now: at(day: 1, hour: 8), assigned: ["Patient/p1"])
        #expect(first.map(\.usableMinutes) == [10] && first.first?.revision == 0)
        // The sensor's backlog for yesterday afternoon arrives this morning, frame by frame.
        var late = batch(at(hour: 15), seq: 500, receivedAt: at(day: 1, hour: 9))
        _ = scorer.score(&late)
        #expect(scorer.closeCoverageDays(now: at(day: 1, hour: 9, second: 10), assigned: ["Patient/p1"]).isEmpty,
                "not while readings for the day are still arriving")
        let revised = scorer.closeCoverageDays(now: at(day: 1, hour: 9, minute: 1), assigned: ["Patient/p1"])
        #expect(revised.map(\.usableMinutes) == [11] && revised.first?.revision == 1 && revised.first?.day == "2026-11-22")
        #expect(scorer.closeCoverageDays(now: at(day: 1, hour: 10), assigned: ["Patient/p1"]).isEmpty)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(FHIRMapper(gateway: "g").resources(for: .coverage(revised[0]))[0].json))
            as? [String: Any])
        #expect(json["status"] as? String == "amended")
    }

    @Test func aLateFirstReadingOfAnEarlierDayRevisesTheLaterDaysThirtyDayCount() throws {
        var scorer = scorer()
        var seq: UInt32 = 0
        _ = scorer.closeCoverageDays(now: at(hour: 1), assigned: ["Patient/p1"])
        _ = feed(&scorer, from: at(day: 1, hour: 9), minutes: 5, seq: &seq)
        let before = scorer.closeCoverageDays(now: at(day: 2, hour: 1), assigned: ["Patient/p1"])
        #expect(before.map(\.daysWithReadings30) == [0, 1])
        // Day 0's readings arrive late: day 0 is revised, and so is day 1's count.
        var late = batch(at(hour: 20), seq: 900, receivedAt: at(day: 2, hour: 2))
        _ = scorer.score(&late)
        let after = scorer.closeCoverageDays(now: at(day: 2, hour: 3), assigned: ["Patient/p1"])
        #expect(after.map(\.day) == ["2026-11-22", "2026-11-23"] && after.map(\.daysWithReadings30) == [1, 2])
    }

    @Test func aDayIsAnObservationOnThePatientWithItsMinutesAndReadings() throws {
        let day = CoverageDay(patient: "Patient/p1", day: "2026-11-22", start: midnight, end: at(day: 1, hour: 0),
                              usableMinutes: 1_022, notWornMinutes: 58, silentMinutes: 360, received: 61_000, expected: 61_320,
                              daysWithReadings30: 17, devices: ["ring-1"])
        let resource = FHIRMapper(gateway: "gw-1").resources(for: .coverage(day))
        #expect(resource.count == 1 && resource[0].identifier == "urn:vigil:gw-1:coverage:Patient/p1:2026-11-22")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(resource[0].json)) as? [String: Any])
        #expect((json["subject"] as? [String: Any])?["reference"] as? String == "Patient/p1")
        #expect((json["effectivePeriod"] as? [String: Any])?["start"] as? String == "2026-11-22T00:00:00.000Z")
        #expect((json["valueQuantity"] as? [String: Any])?["value"] as? Double == 71.0)
        let components = try #require(json["component"] as? [[String: Any]])
        let values = Dictionary(uniqueKeysWithValues: components.compactMap { component -> (String, Double)? in
            guard let code = ((component["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String,
                  let value = (component["valueQuantity"] as? [String: Any])?["value"] as? Double else { return nil }
            return (code, value)
        })
        #expect(values == ["usable-minutes": 1_022, "not-worn-minutes": 58, "silent-minutes": 360, "readings-received": 61_000,
                           "readings-expected": 61_320, "days-with-readings-30": 17])
        let note = try #require((json["note"] as? [[String: Any]])?.first?["text"] as? String)
        #expect(note == "2026-11-22: usable 71.0 % (1022 min), not worn 58 min, silent 360 min; 61000 of 61320 readings received; readings on 17 of the last 30 days")
    }

    @Test func aDayIsStoredAndReadBack() throws {
        var day = CoverageDay(patient: "Patient/p1", day: "2026-11-22", start: midnight, end: at(day: 1, hour: 0), usableMinutes: 1,
                              notWornMinutes: 2, silentMinutes: 1_437, received: 4, expected: 5, daysWithReadings30: 1, devices: ["ring-1"])
        day.hourlyUsable = Array(repeating: 0, count: 24)
        let entry = Entry.coverage(day)
        #expect(entry.lane == .priority)
        #expect(try Entry.decode(type: entry.type, entry.encoded) == entry)
    }
}
