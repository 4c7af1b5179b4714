import Foundation
import Testing
import VigilStore
import VigilModels
@testable import VigilScoring

/// NEWS2 on live readings: the latest fresh value of each parameter, the alert lifecycle, and
/// alert entries that say why.
@Suite struct LiveScorerTests {
    let start: Int64 = 1_795_350_000_000

    /// One reading at `minute` with heart rate, respiratory rate, SpO2 and core temperature.
    func batch(minute: Int64, hr: Int16, rr: Int16, spo2: Int16, temp: Int16, seq: UInt32 = 0) -> ReadingBatch {
        ReadingBatch(device: "patch-1", patient: "Patient/p1", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
            StoredReading(seq: seq, time: start + minute * 60_000, deviceTime: 0, values: [
                .init(channel: .heartRate, raw: hr), .init(channel: .spo2, raw: spo2), .init(channel: .respiratoryRate, raw: rr), .init(channel: .coreTemperature, raw: temp),
            ]),
        ])
    }

    func fields(_ alert: ScoredAlert) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(alert.json)) as? [String: Any])
    }

    @Test func deteriorationRaisesThenEscalatesThenClearsWithHysteresis() throws {
        var scorer = LiveScorer(settings: .perReading)
        #expect(scorer.observe(batch(minute: 0, hr: 720, rr: 150, spo2: 970, temp: 3_700)).isEmpty, "normal vitals: no alert")
        // HR 112 (2), RR 22 (2), SpO2 95 (1), temp 38.2 (1): 6 → medium.
        let raised = scorer.observe(batch(minute: 10, hr: 1_120, rr: 220, spo2: 950, temp: 3_820))
        #expect(raised.count == 1)
        let raise = try fields(try #require(raised.first))
        #expect(raise["event"] as? String == "raise")
        #expect(raise["risk"] as? String == "medium")
        #expect(raise["score"] as? Int == 6)
        #expect(raise["model"] as? String == "news2" && raise["version"] as? String == "RCP-2017")
        #expect(raise["device"] as? String == "patch-1")
        #expect((raise["values"] as? [String: Int]) == ["hr": 1_120, "rr": 220, "spo2": 950, "temp": 3_820])
        #expect((raise["missing"] as? [String])?.contains("sbp") == true)
        #expect(raised.first?.time == start + 10 * 60_000)
        // Holding the same band: de-duplicated.
        #expect(scorer.observe(batch(minute: 11, hr: 1_120, rr: 220, spo2: 950, temp: 3_820)).isEmpty)
        // RR 25 (3), SpO2 91 (3): 2 + 3 + 3 + 1 = 9 → high.
        let escalated = try fields(try #require(scorer.observe(batch(minute: 20, hr: 1_120, rr: 250, spo2: 910, temp: 3_820)).first))
        #expect(escalated["event"] as? String == "escalate" && escalated["risk"] as? String == "high")
        // Back to normal: clears only on the second low score.
        #expect(scorer.observe(batch(minute: 30, hr: 720, rr: 150, spo2: 970, temp: 3_700)).isEmpty)
        let cleared = try fields(try #require(scorer.observe(batch(minute: 31, hr: 720, rr: 150, spo2: 970, temp: 3_700)).first))
        #expect(cleared["event"] as? String == "clear")
    }

    @Test func replayedOlderReadingsAreNotRescored() {
        var scorer = LiveScorer(settings: .perReading)
        _ = scorer.observe(batch(minute: 30, hr: 720, rr: 150, spo2: 970, temp: 3_700))
        // An abnormal reading from before the last scored one (a replay after an outage).
        #expect(scorer.observe(batch(minute: 5, hr: 1_400, rr: 300, spo2: 880, temp: 3_950)).isEmpty)
    }

    @Test func staleParametersAreLeftOutOfTheScore() throws {
        var scorer = LiveScorer(settings: .perReading(freshness: 15))
        #expect(scorer.observe(batch(minute: 0, hr: 720, rr: 220, spo2: 970, temp: 3_700)).isEmpty, "RR 22 alone scores 2: low")
        // Two hours later only SpO2 arrives (91 %: 3 points on its own → low-medium).
        let reading = ReadingBatch(device: "patch-1", patient: "Patient/p1", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
            StoredReading(seq: 1, time: start + 120 * 60_000, deviceTime: 0, values: [.init(channel: .spo2, raw: 910)]),
        ])
        let alert = try fields(try #require(scorer.observe(reading).first))
        #expect((alert["values"] as? [String: Int]) == ["spo2": 910], "the old RR (2 more points: medium) must not count")
        #expect(alert["risk"] as? String == "low-medium")
    }
}

@Suite struct LiveScorerQualityTests {
    let start: Int64 = 1_795_350_000_000

    func reading(_ minute: Int64, _ values: [(UInt8, Int16)]) -> ReadingBatch {
        ReadingBatch(device: "ring-1", patient: "Patient/q", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
            StoredReading(seq: UInt32(minute), time: start + minute * 60_000, deviceTime: 0, values: values.map { .init(channel: Channel(rawValue: $0.0)!, raw: $0.1) }),
        ])
    }

    @Test func valuesExcludedForQualityDoNotRaiseAlertsAndAlertsSaySo() throws {
        var scorer = LiveScorer(settings: .perReading)
        var quality = SignalQuality()
        func observe(_ batch: ReadingBatch) -> [ScoredAlert] {
            let assessments = batch.readings.map { r in quality.assess(time: r.time, values: r.values.map { ($0.channel.rawValue, $0.raw) }) }
            return scorer.observe(batch, quality: assessments)
        }
        // SpO2 85 % while the wearer moves (activity 2.4 g): motion artefact, not desaturation.
        #expect(observe(reading(0, [(2, 1_250), (3, 850), (10, 2_400)])).isEmpty)
        // The same SpO2 at rest is believed: an alert, which carries the quality it was judged on.
        let alert = try #require(observe(reading(1, [(2, 1_250), (3, 850), (10, 40)])).first)
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(alert.json)) as? [String: Any])
        let signal = try #require(fields["signal_quality"] as? [String: Any])
        #expect(signal["grade"] as? String == "good")
        #expect((fields["values"] as? [String: Int])?["spo2"] == 850)
        // Low perfusion: SpO2 and pulse left out, said in the alert the remaining values raise.
        var lowPerfusion = LiveScorer(settings: .perReading)
        var q2 = SignalQuality()
        let batch = reading(0, [(2, 1_350), (3, 880), (4, 260), (9, 10)])
        let assessments = batch.readings.map { r in q2.assess(time: r.time, values: r.values.map { ($0.channel.rawValue, $0.raw) }) }
        let raised = try #require(lowPerfusion.observe(batch, quality: assessments).first)
        let raisedFields = try #require(try JSONSerialization.jsonObject(with: Data(raised.json)) as? [String: Any])
        #expect((raisedFields["values"] as? [String: Int]) == ["rr": 260], "only respiration was trusted")
        let raisedSignal = try #require(raisedFields["signal_quality"] as? [String: Any])
        #expect(raisedSignal["grade"] as? String == "poor")
        #expect(raisedSignal["issues"] as? [String] == ["low_perfusion"])
        #expect(raisedSignal["excluded"] as? [String] == ["hr", "pr", "spo2"])
    }
}

@Suite struct ModelScorerTests {
    let start: Int64 = 1_795_350_000_000

    /// pr, spo2, rr, core temperature, sbp, perfusion index, activity at `minute`.
    func reading(_ minute: Int64, _ v: [Int16]) -> ReadingBatch {
        let channels: [UInt8] = [2, 3, 4, 6, 7, 9, 10]
        return ReadingBatch(device: "patch-1", patient: "Patient/m", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
            StoredReading(seq: UInt32(minute), time: start + minute * 60_000, deviceTime: 0,
                          values: zip(channels, v).map { .init(channel: Channel(rawValue: $0)!, raw: $1) }),
        ])
    }

    @Test func theShippedModelRaisesOnASepsisPatternAndClearsWithHysteresis() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try QuantizedModel(json: Data(contentsOf: root.appendingPathComponent("config/models/deterioration-lr.json")))
        var scorer = ModelScorer(models: [model], settings: .perReading)
        let good = [SignalQuality.Assessment()]
        let sepsis: [Int16] = [1_200, 910, 280, 3_920, 88, 300, 20]
        let normal: [Int16] = [730, 970, 150, 3_680, 124, 320, 20]
        #expect(scorer.observe(reading(0, normal), quality: good, atRest: [true]).isEmpty)
        #expect(scorer.observe(reading(1, sepsis), quality: good, atRest: [true]).isEmpty, "one positive result is not enough")
        let raised = try #require(scorer.observe(reading(2, sepsis), quality: good, atRest: [true]).first)
        #expect(raised.model == "deterioration-lr")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(raised.alert.json)) as? [String: Any])
        #expect(fields["event"] as? String == "raise" && fields["version"] as? String == model.version)
        #expect((fields["values"] as? [String: Int])?["spo2"] == 910)
        #expect((fields["output"] as? Int ?? .min) >= Int(model.threshold))
        for minute in 3...4 { #expect(scorer.observe(reading(Int64(minute), normal), quality: good, atRest: [true]).isEmpty) }
        let cleared = try #require(scorer.observe(reading(5, normal), quality: good, atRest: [true]).first)
        let clearFields = try #require(try JSONSerialization.jsonObject(with: Data(cleared.alert.json)) as? [String: Any])
        #expect(clearFields["event"] as? String == "clear")
    }
}

/// The lifecycle across models: episode ids, reminders while unacknowledged, acknowledgement
/// (and for drift, acceptance of the new level), drift alerts that explain themselves.
@Suite struct ReadingScorerLifecycleTests {
    let start: Int64 = 1_795_350_000_000

    /// A reading at `minute`; each value wobbles by up to ±1 unit so signal quality does not
    /// take it for a flat line.
    func batch(_ minute: Int, hr: Int16, spo2: Int16 = 970) -> ReadingBatch {
        let wobble = Int16(minute % 3) - 1
        return ReadingBatch(device: "patch-1", patient: "Patient/r", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
            StoredReading(seq: UInt32(minute), time: start + Int64(minute) * 60_000, deviceTime: 0, values: [
                .init(channel: .pulseRate, raw: hr + wobble), .init(channel: .spo2, raw: spo2 + wobble), .init(channel: .respiratoryRate, raw: 150 + wobble),
                .init(channel: .coreTemperature, raw: 3_700 + wobble),
            ]),
        ])
    }

    func events(_ alerts: [(model: String, alert: AlertEntry)]) throws -> [[String: Any]] {
        try alerts.map { try #require(try JSONSerialization.jsonObject(with: Data($0.alert.json)) as? [String: Any]) }
    }

    @Test func driftAlertsExplainThemselvesAndAcknowledgementAcceptsTheNewLevel() throws {
        var scorer = ReadingScorer(models: [], settings: .perReading)
        // Three days at 72 /min: the daily profile is learnt (warm after a day).
        let learnt = 3 * 1_440
        for minute in 0..<learnt {
            var b = batch(minute, hr: 720)
            #expect(scorer.score(&b).isEmpty)
        }
        // Heart rate 88 /min: no NEWS2 points (51–90), but 16 /min above this patient's usual
        // level at this hour, for longer than the 30 minutes drift needs.
        var raise: [String: Any]?
        var raisedAt = learnt
        while raise == nil, raisedAt < learnt + 180 {
            var b = batch(raisedAt, hr: 880)
            raise = try events(scorer.score(&b)).first
            raisedAt += 1
        }
        let fields = try #require(raise)
        // The smoothed residual passes the effect after some 40 minutes, then 30 in a row.
        #expect(raisedAt > learnt + 30 && raisedAt < learnt + 120)
        #expect(fields["model"] as? String == "drift" && fields["version"] as? String == "circadian-2")
        #expect(fields["event"] as? String == "raise" && fields["vital"] as? String == "hr" && fields["direction"] as? String == "up")
        #expect(fields["baseline"] as? Int == 720 && abs((fields["value"] as? Int ?? 0) - 880) <= 15)
        #expect(fields["minimum_effect"] as? Int == 150)
        #expect(fields["notify"] as? Bool == true)
        let id = try #require(fields["alert_id"] as? String)
        #expect(id.hasPrefix("drift/hr@"))
        #expect(scorer.openAlerts(patient: "Patient/r") == [id])
        // Unacknowledged for 30 minutes: a reminder repeating the explanation.
        var reminders: [[String: Any]] = []
        for minute in raisedAt..<(raisedAt + 35) {
            var b = batch(minute, hr: 880)
            reminders += try events(scorer.score(&b))
        }
        #expect(reminders.count == 1)
        #expect(reminders.first?["event"] as? String == "remind" && reminders.first?["alert_id"] as? String == id)
        #expect(reminders.first?["value"] as? Int == fields["value"] as? Int)
        // Acknowledged: stored as an event, the new level accepted, no more reminders or alerts.
        let unknown = scorer.acknowledge(patient: "Patient/r", alertID: "drift/hr@1", by: "nurse-7", at: start)
        #expect(unknown == nil, "unknown id")
        let acknowledged = scorer.acknowledge(patient: "Patient/r", alertID: id, by: "nurse-7",
                                             at: start + Int64(raisedAt + 35) * 60_000)
        let ack = try #require(acknowledged)
        let ackFields = try #require(try JSONSerialization.jsonObject(with: Data(ack.alert.json)) as? [String: Any])
        #expect(ackFields["event"] as? String == "acknowledge" && ackFields["by"] as? String == "nurse-7")
        #expect(ackFields["closed"] as? Bool == true && ackFields["alert_id"] as? String == id)
        #expect(scorer.openAlerts(patient: "Patient/r").isEmpty)
        for minute in (raisedAt + 35)..<(raisedAt + 35 + 1_440) {
            var b = batch(minute, hr: 880)
            #expect(try events(scorer.score(&b)).isEmpty, "minute \(minute)")
        }
    }

    @Test func anAcknowledgedNEWS2AlertIsNotRemindedButAnEscalationIs() throws {
        var scorer = ReadingScorer(models: [], settings: .perReading(drift: false))
        // SpO2 91 % (3 points): low-medium.
        var first = batch(0, hr: 720, spo2: 910)
        let raised = try events(scorer.score(&first))
        let id = try #require(raised.first?["alert_id"] as? String)
        #expect(id == "news2@\(start)")
        let acknowledged = scorer.acknowledge(patient: "Patient/r", alertID: id, by: "nurse-7", at: start + 60_000)
        #expect(acknowledged != nil)
        for minute in 1..<60 {
            var b = batch(minute, hr: 720, spo2: 910)
            #expect(try events(scorer.score(&b)).isEmpty)
        }
        // SpO2 91 % and HR 135 (3 + 3 = 6): escalates to medium, and now needs its own acknowledgement.
        var worse = batch(60, hr: 1_350, spo2: 910)
        #expect(try events(scorer.score(&worse)).first?["event"] as? String == "escalate")
        var later = batch(90, hr: 1_350, spo2: 910)
        #expect(try events(scorer.score(&later)).map { $0["event"] as? String } == ["remind"])
    }
}

@Suite struct LateAcknowledgementTests {
    @Test func anAcknowledgementAfterTheAlertClearedIsRecordedAsSuch() throws {
        var scorer = ReadingScorer(models: [], settings: .perReading(drift: false))
        let start: Int64 = 1_795_350_000_000
        func reading(_ minute: Int64, spo2: Int16) -> ReadingBatch {
            ReadingBatch(device: "patch-1", patient: "Patient/l", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
                StoredReading(seq: UInt32(minute), time: start + minute * 60_000, deviceTime: 0,
                              values: [.init(channel: .pulseRate, raw: 720 + Int16(minute % 3)), .init(channel: .spo2, raw: spo2)]),
            ])
        }
        for (minute, spo2) in [(0, 910), (1, 970), (2, 971)] as [(Int64, Int16)] {
            var batch = reading(minute, spo2: spo2)
            _ = scorer.score(&batch)
        }
        #expect(scorer.openAlerts(patient: "Patient/l").isEmpty, "raised and cleared")
        let late = scorer.acknowledge(patient: "Patient/l", alertID: "news2@\(start)", by: "nurse-2", at: start + 600_000)
        let entry = try #require(late)
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(entry.alert.json)) as? [String: Any])
        #expect(fields["event"] as? String == "acknowledge" && fields["already_cleared"] as? Bool == true)
        let unknown = scorer.acknowledge(patient: "Patient/l", alertID: "news2@1", by: "nurse-2", at: start + 600_000)
        #expect(unknown == nil)
    }
}

/// NEWS2 on a wearable stream (the defaults): 5-minute medians of readings at rest, three
/// windows in a row to raise, six low ones to clear, exertion not scored.
@Suite struct WearableNEWS2Tests {
    let start: Int64 = 1_795_046_400_000

    /// One reading a minute: pulse 72 (wobbling), RR 15, temperature 36.8, the given SpO2 and
    /// wrist activity.
    func minute(_ m: Int, spo2: Int16, activity: Int16 = 20) -> ReadingBatch {
        ReadingBatch(device: "ring", patient: "Patient/w", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
            StoredReading(seq: UInt32(m), time: start + Int64(m) * 60_000, deviceTime: 0, values: [
                .init(channel: .pulseRate, raw: 720 + Int16(m % 3)), .init(channel: .spo2, raw: spo2),
                .init(channel: .respiratoryRate, raw: 150), .init(channel: .coreTemperature, raw: 3_680),
                .init(channel: .activity, raw: activity),
            ]),
        ])
    }

    /// The NEWS2 events over `minutes` minutes of `spo2(m)` (and `activity(m)`), with the minute each came in.
    func run(minutes: Int, clinical: ClinicalSettings? = nil, spo2: (Int) -> Int16,
             activity: (Int) -> Int16 = { _ in 20 }) -> [(minute: Int, kind: AlertEvent.Kind)] {
        var scorer = ReadingScorer(models: [], settings: {
            var settings = ScoringSettings()
            settings.drift = false
            return settings
        }())
        if let clinical { scorer.apply(clinical) }
        var events: [(Int, AlertEvent.Kind)] = []
        for m in 0..<minutes {
            var batch = minute(m, spo2: spo2(m), activity: activity(m))
            // Reminders of the open episode are not new events.
            events += scorer.score(&batch).filter { $0.model == "news2" && $0.alert.event.kind != .remind }.map { (m, $0.alert.event.kind) }
        }
        return events
    }

    @Test func aOneMinuteDipDoesNotMoveTheWindowsMedian() {
        // A nocturnal dip to 89 % for two minutes of a five-minute window, twice an hour.
        #expect(run(minutes: 240, spo2: { [7, 8, 37, 38].contains($0 % 60) ? 890 : 960 }).isEmpty)
    }

    @Test func aSustainedValueRaisesAfterThreeWindowsAndClearsAfterSix() throws {
        let events = run(minutes: 120) { $0 >= 30 && $0 < 60 ? 900 : 960 }
        #expect(events.map(\.kind) == [.raise, .clear])
        // Windows 30–34, 35–39 and 40–44 hold 90 %; the third is scored when minute 45 arrives.
        #expect(events.first?.minute == 45)
        // Six low windows from minute 60: scored when minute 90 arrives.
        #expect(events.last?.minute == 90)
    }

    @Test func aValueHoveringAtABandEdgeRaisesOnceAtMost() {
        // SpO2 alternating between 91 % (3 points) and 92 % (2) window by window for four hours.
        let hovering = run(minutes: 240) { ($0 / 5) % 2 == 0 ? 910 : 920 }
        #expect(hovering.isEmpty, "never three windows in a row at low-medium")
        // Two windows of 91 % then one of 92 %, repeated: one episode, held, not re-raised.
        let mostly = run(minutes: 240) { ($0 / 5) % 3 == 2 ? 920 : 910 }
        #expect(mostly.isEmpty)
        let held = run(minutes: 240) { $0 < 15 ? 910 : (($0 / 5) % 2 == 0 ? 910 : 920) }
        #expect(held.map(\.kind) == [.raise], "raised once; one low window between abnormal ones never clears it")
    }

    @Test func exertionAndItsRecoveryAreNotScored() {
        // A 40-minute walk (activity 350 mg) with SpO2 read at 90 %, then ten minutes of recovery.
        let walk = run(minutes: 120, spo2: { $0 >= 20 && $0 < 70 ? 900 : 960 }, activity: { $0 >= 20 && $0 < 60 ? 350 : 20 })
        #expect(walk.isEmpty)
        // The same values at rest raise.
        #expect(!run(minutes: 120, spo2: { $0 >= 20 && $0 < 70 ? 900 : 960 }).isEmpty)
    }

    @Test func scale2ScoresAPrescribedTargetAsNormal() {
        var copd = ClinicalSettings(patient: "Patient/w")
        copd.spo2Scale = 2
        copd.spo2Target = "88-92"
        copd.version = 1
        #expect(run(minutes: 240, clinical: copd) { _ in 890 }.isEmpty)
        #expect(run(minutes: 240) { _ in 890 }.map(\.kind) == [.raise])
        // Scale 2 still alerts below the target: 83 % is 3 points.
        #expect(run(minutes: 60, clinical: copd) { _ in 830 }.map(\.kind) == [.raise])
    }
}
