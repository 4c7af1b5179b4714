import Foundation
import Testing
import VigilCore
import VigilStore
import VigilModels
import VigilProvisioning
@testable import VigilScoring
@testable import VigilUplink

/// Technical alerts through the scorer's lifecycle, in simulated time: silence, a deaf gateway,
/// a sensor taken off or on its charger, the battery, forged frames, restarts, acknowledgements.
@Suite struct TechnicalAlertTests {
    let start: Int64 = 1_795_350_000_000
    let assigned: [String: (patient: String, kind: String?)] = ["ring-1": ("Patient/p1", "ring")]

    func minute(_ minutes: Double) -> Int64 { start + Int64(minutes * 60_000) }

    /// One reading at `minutes`, received then: pulse and SpO2 that vary (worn) or zeros (off).
    func batch(_ minutes: Double, worn: Bool = true, battery: Int16? = 80, rssi: Int16? = -60, seq: UInt32 = 0,
               vitals: Bool = true) -> ReadingBatch {
        var values: [StoredReading.Value] = []
        if vitals {
            let wobble = Int16(Int(minutes * 7) % 9)
            values += [.init(channel: .pulseRate, raw: worn ? 700 + wobble : 0), .init(channel: .spo2, raw: worn ? 965 + wobble % 3 : 0),
                       .init(channel: .perfusionIndex, raw: worn ? 250 + wobble : 0)]
        }
        if let battery { values.append(.init(channel: .battery, raw: battery)) }
        if let rssi { values.append(.init(channel: .rssi, raw: rssi)) }
        return ReadingBatch(device: "ring-1", patient: "Patient/p1", boot: 1, timeQuality: .device, receivedAt: minute(minutes),
                            readings: [StoredReading(seq: seq, time: minute(minutes), deviceTime: 0, values: values)])
    }

    func score(_ scorer: inout ReadingScorer, _ batch: ReadingBatch) -> [AlertEntry] {
        var batch = batch
        return scorer.score(&batch).map(\.alert).filter { $0.event.condition != nil }
    }

    func tick(_ scorer: inout ReadingScorer, _ minutes: Double, facts: GatewayFacts = GatewayFacts(), since: Int64? = nil)
        -> [AlertEntry] {
        scorer.tick(now: minute(minutes), assigned: assigned, facts: facts, listeningSince: since ?? start).map(\.alert)
    }

    func scorer() -> ReadingScorer { ReadingScorer(models: [], settings: .perReading) }

    @Test func aSilentSensorIsRaisedAtFiveMinutesEscalatedAtFifteenAndClearedWhenHeard() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0, battery: 4, rssi: -91))
        #expect(tick(&scorer, 4.9).isEmpty, "under silent_after: nothing")
        let raised = tick(&scorer, 5.2)
        let raise = try #require(raised.first)
        #expect(raised.count == 1 && raise.event.kind == .raise && raise.event.condition == "no_data")
        // Dated by the silence, not by the tick that noticed it: the same identifiers after a restart.
        #expect(raise.time == minute(5) && raise.event.alertID == "technical/no_data/ring-1@\(minute(0))")
        #expect(raise.event.notify == true && raise.patient == "Patient/p1" && raise.device == "ring-1")
        let summary = try #require(raise.event.summary)
        #expect(summary.contains("battery was 4 %, likely flat") && summary.contains("RSSI -91 dBm, likely out of range"))
        #expect(summary.contains("did not announce going offline"))
        #expect(raise.event.action?.contains("charge or replace") == true)
        #expect(tick(&scorer, 10).isEmpty, "de-duplicated while it lasts")
        let escalated = tick(&scorer, 15.5)
        #expect(escalated.map(\.event.kind) == [.escalate] && escalated.first?.time == minute(15))
        #expect(tick(&scorer, 16).isEmpty)
        let cleared = score(&scorer, batch(20)).filter { $0.event.condition == "no_data" }
        #expect(cleared.map(\.event.kind) == [.clear] && cleared.first?.event.alertID == raise.event.alertID)
        #expect(cleared.first?.event.summary?.contains("after 20 min without data") == true)
        #expect(scorer.technicalConditions(device: "ring-1").isEmpty)
    }

    @Test func aLastWillIsReportedAsTheLikelyCause() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0))
        _ = scorer.status(device: "ring-1", patient: "Patient/p1", online: false, battery: nil, rssi: nil, at: minute(0.5))
        let raise = try #require(tick(&scorer, 6).first)
        #expect(raise.event.summary?.contains("its connection dropped at") == true && raise.event.lastWill == true)
        // A birth after it is hearing from the sensor.
        let cleared = scorer.status(device: "ring-1", patient: "Patient/p1", online: true, battery: 70, rssi: -50, at: minute(7))
        #expect(cleared.map(\.alert.event.kind) == [.clear])
    }

    @Test func aGatewayThatCannotReachTheBrokerBlamesItselfNotTheSensors() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0))
        var down = GatewayFacts()
        down.brokerConnected = false
        down.brokerDownSince = minute(1)
        let alerts = tick(&scorer, 7, facts: down)
        #expect(alerts.map(\.event.condition) == ["broker_down"], "not no_data: the gateway is deaf")
        #expect(alerts.first?.patient == "" && alerts.first?.time == minute(6))
        // Back: broker_down clears, and the sensor's silence counts from the reconnection.
        let back = tick(&scorer, 8, since: minute(8))
        #expect(back.map(\.event.kind) == [.clear])
        #expect(tick(&scorer, 12.9, since: minute(8)).isEmpty)
        #expect(tick(&scorer, 13.1, since: minute(8)).map(\.event.condition) == ["no_data"])
    }

    @Test func aSensorTakenOffIsNotWornAfterFiveMinutesAndClearsWhenPutBack() throws {
        var scorer = scorer()
        var seq: UInt32 = 0
        func next(_ minutes: Double, worn: Bool) -> [AlertEntry] {
            seq += 1
            return score(&scorer, batch(minutes, worn: worn, seq: seq))
        }
        for m in 0..<10 { #expect(next(Double(m), worn: true).isEmpty) }
        var raised: [AlertEntry] = []
        for m in 10..<45 { raised += next(Double(m), worn: false) }
        let raise = try #require(raised.first)
        #expect(raise.event.condition == "not_worn" && raise.event.kind == .raise && raise.time == minute(15))
        #expect(raise.event.summary?.contains("likely taken off") == true)
        // Low priority at 5 min (a shower is not worth a page), notified once it has lasted 30.
        #expect(raise.event.notify == false && raise.event.suppressedReason == nil)
        #expect(raised.map(\.event.kind) == [.raise, .escalate])
        #expect(raised.last?.time == minute(40) && raised.last?.event.notify == true, "notified at not_worn_notify_after")
        #expect(tick(&scorer, 44.5).isEmpty, "readings keep arriving: not silent")
        #expect(next(45, worn: true).isEmpty, "one usable reading is not enough")
        #expect(next(46, worn: true).map(\.event.kind) == [.clear])
    }

    @Test func aSensorOnItsChargerIsNotNotWornUntilChargingMax() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0, battery: 30))
        var alerts: [AlertEntry] = []
        // Off the body, battery rising: on its charger for 100 minutes.
        for m in 1...100 { alerts += score(&scorer, batch(Double(m), battery: Int16(30 + m / 2), seq: UInt32(m), vitals: false)) }
        #expect(alerts.isEmpty, "charging for 100 min is on purpose")
        for m in 101...200 { alerts += score(&scorer, batch(Double(m), battery: 80, seq: UInt32(m), vitals: false)) }
        #expect(alerts.first?.event.condition == "not_worn", "full and still off the body: not worn")
        #expect(alerts.first?.event.notify == true, "off its charger's allowance: notified at once")
    }

    @Test func aLowBatteryIsRaisedWithTheTimeLeftAndEscalatedWhenCritical() throws {
        var scorer = scorer()
        var alerts: [AlertEntry] = []
        // 1 % every 6 minutes from 30 %.
        for step in 0...130 {
            let percent = Int16(max(0, 30 - step / 6))
            alerts += score(&scorer, batch(Double(step), battery: percent, seq: UInt32(step)))
        }
        alerts.removeAll { $0.event.kind == .remind }
        let raise = try #require(alerts.first)
        #expect(raise.event.condition == "battery_low" && raise.event.battery == 20)
        // 10 % dropped in 60 min: 20 % is about 120 min.
        #expect(raise.event.summary?.contains("about 120 min left") == true)
        #expect(alerts.map(\.event.kind) == [.raise, .escalate])
        #expect(alerts[1].event.battery == 10)
    }

    @Test func repeatedAuthenticationFailuresRaiseAndClearAfterAQuietWindow() throws {
        var scorer = scorer()
        var alerts: [(model: String, alert: AlertEntry)] = []
        for i in 0..<4 { alerts += scorer.authenticationFailed(device: "ring-1", patient: "Patient/p1", at: minute(Double(i))) }
        #expect(alerts.isEmpty, "four failures: under the threshold")
        alerts += scorer.authenticationFailed(device: "ring-1", patient: "Patient/p1", at: minute(4))
        #expect(alerts.map(\.alert.event.condition) == ["auth_failures"])
        #expect(tick(&scorer, 13).filter { $0.event.condition == "auth_failures" }.isEmpty)
        #expect(tick(&scorer, 14.5).filter { $0.event.condition == "auth_failures" }.map(\.event.kind) == [.clear])
    }

    @Test func theUplinkOutageIsToldWithItsStartAndEnd() throws {
        var scorer = scorer()
        var failing = GatewayFacts()
        failing.uplinkFailingSince = minute(0)
        #expect(tick(&scorer, 29, facts: failing).isEmpty)
        let raise = try #require(tick(&scorer, 31, facts: failing).first)
        #expect(raise.event.condition == "uplink_down" && raise.time == minute(30))
        let clear = try #require(tick(&scorer, 125).first)
        #expect(clear.event.kind == .clear && clear.event.windowStart == ISOTime.seconds(minute(0)))
        #expect(clear.event.summary?.contains("from \(ISOTime.seconds(minute(0))) to \(ISOTime.seconds(minute(125)))") == true)
    }

    @Test func aRestartDuringAnOutageWaitsForTheUplinksOwnWord() throws {
        var scorer = scorer()
        var failing = GatewayFacts()
        failing.uplinkFailingSince = minute(0)
        let raise = try #require(tick(&scorer, 31, facts: failing).first)
        var restarted = ReadingScorer(models: [], settings: .perReading)
        restarted.state = try JSONDecoder().decode(ReadingScorer.State.self, from: JSONEncoder().encode(scorer.state))
        var unknown = GatewayFacts()
        unknown.uplinkKnown = false
        #expect(tick(&restarted, 40, facts: unknown).isEmpty, "no request yet since the restart: the outage is not over")
        var stillFailing = GatewayFacts()
        stillFailing.uplinkFailingSince = minute(41)
        let during = tick(&restarted, 80, facts: stillFailing)
        #expect(during.map(\.event.kind) == [.remind], "the same outage reminded, not a second one")
        #expect(during.first?.event.alertID == raise.event.alertID && during.first?.device == "")
        let clear = try #require(tick(&restarted, 90).first)
        #expect(clear.event.kind == .clear && clear.event.alertID == raise.event.alertID)
    }

    @Test func evictionsAfterARestartAreReportedThoughTheStoresCounterRestarted() throws {
        var scorer = scorer()
        var evicting = GatewayFacts()
        evicting.evictedReadings = 500
        #expect(tick(&scorer, 1, facts: evicting).map(\.event.condition) == ["store_evicting"])
        #expect(tick(&scorer, 70, facts: evicting).map(\.event.kind) == [.clear], "an hour without evictions")
        var restarted = ReadingScorer(models: [], settings: .perReading)
        restarted.state = try JSONDecoder().decode(ReadingScorer.State.self, from: JSONEncoder().encode(scorer.state))
        var again = GatewayFacts()
        again.evictedReadings = 20
        #expect(tick(&restarted, 80, facts: again).map(\.event.condition) == ["store_evicting"])
    }

    @Test func anEpisodeRaisedAfterTheCheckpointContinuesAfterARestart() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0))
        let checkpoint = scorer.state
        let raised = tick(&scorer, 6)
        #expect(raised.count == 1)
        // Killed before the next checkpoint; at start the log's technical events are replayed.
        var restarted = ReadingScorer(models: [], settings: .perReading)
        restarted.state = checkpoint
        for entry in raised { restarted.restoreTechnical(entry) }
        #expect(restarted.openAlerts(patient: "Patient/p1") == [raised[0].event.alertID!])
        #expect(tick(&restarted, 7, since: minute(7)).isEmpty, "the same episode: no second raise")
        #expect(tick(&restarted, 15.5, since: minute(7)).map(\.event.kind) == [.escalate])
    }

    @Test func anAcknowledgementSurvivesTheReplayOfItsOwnRaise() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0))
        let raised = tick(&scorer, 6)
        let id = try #require(raised.first?.event.alertID)
        #expect(scorer.acknowledge(patient: "Patient/p1", alertID: id, by: "nurse-7", at: minute(7)) != nil)
        let checkpoint = scorer.state
        var restarted = ReadingScorer(models: [], settings: .perReading)
        restarted.state = checkpoint
        // The log still holds the raise from before the checkpoint: replaying it changes nothing.
        for entry in raised { restarted.restoreTechnical(entry) }
        #expect(restarted.openEpisodes.first?.acknowledged == true)
        #expect(tick(&restarted, 40).filter { $0.event.kind == .remind }.isEmpty, "acknowledged: no reminders")
        // Unacknowledged, the reminder comes from the tick: a silent sensor sends no readings to carry it.
        var unacknowledged = ReadingScorer(models: [], settings: .perReading)
        _ = score(&unacknowledged, batch(0))
        _ = tick(&unacknowledged, 6)
        #expect(tick(&unacknowledged, 16).map(\.event.kind) == [.escalate])
        #expect(tick(&unacknowledged, 44.5).filter { $0.event.kind == .remind }.isEmpty, "30 min after the escalation, not before")
        #expect(tick(&unacknowledged, 45.5).filter { $0.event.kind == .remind }.count == 1)
    }

    @Test func anUnassignedSensorsEpisodesAreCleared() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0))
        _ = tick(&scorer, 6)
        let cleared = scorer.tick(now: minute(7), assigned: [:], facts: GatewayFacts(), listeningSince: start).map(\.alert)
        #expect(cleared.map(\.event.kind) == [.clear])
        #expect(scorer.tick(now: minute(30), assigned: [:], facts: GatewayFacts(), listeningSince: start).isEmpty)
    }

    @Test func aTechnicalAlertIsACommunicationANurseCanRead() throws {
        var scorer = scorer()
        _ = score(&scorer, batch(0, battery: 4, rssi: -91))
        let raise = try #require(tick(&scorer, 6).first)
        let resources = FHIRMapper(gateway: "gw-1").resources(for: .alert(raise))
        #expect(resources.map(\.type) == ["Communication"])
        let communication = try #require(try JSONSerialization.jsonObject(with: Data(resources[0].json)) as? [String: Any])
        let categories = (communication["category"] as? [[String: Any]] ?? []).compactMap { ($0["coding"] as? [[String: Any]])?.first?["code"] as? String }
        #expect(categories == ["alert", "technical"])
        #expect(communication["priority"] as? String == "urgent")
        #expect(((communication["about"] as? [[String: Any]])?.first?["reference"] as? String)?.contains("device:ring-1") == true)
        let text = ((communication["payload"] as? [[String: Any]])?.first?["contentString"] as? String) ?? ""
        #expect(text.hasPrefix("technical alert raise (no data); no data from sensor ring-1 for 5 min"))
        #expect(text.contains("what to do: check the sensor"))
    }

    @Test func aPhysiologicalAlertGivesItsValuesWithUnits() throws {
        var fields = AlertEvent(kind: .raise, model: "news2")
        fields.risk = "medium"
        fields.score = 6
        fields.values = ["spo2": 880, "rr": 260, "temp": 3_840]
        fields.units = .perParameter(["spo2": "0.1 %", "rr": "0.1 /min", "temp": "0.01 Cel"])
        fields.missing = ["sbp"]
        fields.signalQuality = .init(grade: "fair", issues: ["dropout"], excluded: [])
        let text = FHIRMapper.summary(fields, event: "raise", model: "news2")
        #expect(text.contains("respiratory rate 26 /min, SpO2 88 %, temperature 38.4 °C"))
        #expect(text.contains("scored without systolic BP") && text.contains("signal quality fair (dropout)"))
        let resources = FHIRMapper(gateway: "gw-1").resources(for: .alert(AlertEntry(device: "d", patient: "Patient/p1", time: start, event: fields)))
        let communication = try #require(try JSONSerialization.jsonObject(with: Data(resources.last!.json)) as? [String: Any])
        let categories = (communication["category"] as? [[String: Any]] ?? []).compactMap { ($0["coding"] as? [[String: Any]])?.first?["code"] as? String }
        #expect(categories == ["alert", "physiological"])
    }

    @Test func spotCheckKindsNamedAsProvisionedWaitADayBeforeNoData() {
        // The names `vigil sensor add --kind` gives, not look-alikes.
        for kind in ["bp-cuff", "thermometer"] {
            #expect(SensorKinds.channels[kind] != nil, "\(kind) is a provisioned kind")
            #expect(TechnicalSettings().silence(kind: kind).after == 26 * 3_600)
        }
        #expect(TechnicalSettings().silence(kind: "spo2-ring").after == 300)
    }
}
