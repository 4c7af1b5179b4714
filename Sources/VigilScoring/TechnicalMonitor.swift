import VigilCore
import VigilModels

/// Watches for the technical conditions (``TechnicalCondition``) of every assigned sensor and of
/// the gateway. Pure: readings, STATUS frames and authentication failures are passed in as they
/// are stored, time-driven conditions (silence, the uplink, the clock) are judged at each tick.
///
/// Every event's time is fixed by what caused it, not by when a tick noticed: a silence that
/// began at `t` is raised at `t + silent_after`, whenever the tick runs. Recording an event again
/// after a restart therefore gives the same identifiers upstream, and replaying the log's
/// technical events over the checkpoint (``restore(_:)``) leaves each episode as it was.
package struct TechnicalMonitor: Sendable, Equatable, Codable {
    package struct Open: Sendable, Equatable, Codable {
        package var since: Int64
        package var escalated = false
        /// Raised at low priority (not notified): escalating is what notifies.
        package var quiet: Bool?
    }

    struct Sensor: Sendable, Equatable, Codable {
        var patient: String
        var kind: String?
        /// Gateway time of its last frame (readings or STATUS).
        var lastHeard: Int64?
        var battery: Int?
        var batteryAt: Int64?
        var rssi: Int?
        /// Its last will arrived (the broker saw the connection drop) and nothing since.
        var willAt: Int64?
        /// Reading time where the current run without a usable vital sign began.
        var unusableSince: Int64?
        var usableRun = 0
        var chargingSince: Int64?
        /// Where the current discharge began (time, %), for the time left.
        var dischargeFrom: Int64?
        var dischargeFromPercent: Int?
        var suspectRun = 0
        var trustedRun = 0
        var authFailures: [Int64] = []
        var open: [String: Open] = [:]
    }

    private(set) var sensors: [String: Sensor] = [:]
    private(set) var gateway: [String: Open] = [:]
    /// Evicted readings already reported: the store's counter restarts with the agent, so this
    /// is not checkpointed (``CodingKeys``).
    private var evictedSeen: UInt64 = 0
    private var lastEviction: Int64?

    enum CodingKeys: String, CodingKey {
        case sensors, gateway, lastEviction
    }

    package init() {}

    /// Channels that carry a vital sign: a reading with none of them usable is not monitoring.
    static let vitalChannels: Set<UInt8> = [1, 2, 3, 4, 6, 7, 8]
    static let clearAfterUsable = 2

    /// A reading that monitors: some vital sign the quality assessment did not exclude.
    package static func isUsable(_ reading: StoredReading, _ assessment: SignalQuality.Assessment) -> Bool {
        assessment.grade < .unusable && reading.values.contains {
            vitalChannels.contains($0.channel.rawValue) && !assessment.excluded.contains($0.channel.rawValue)
        }
    }
    static let clockRun = 3

    /// Open episodes of one sensor (or of the gateway, for `gateway`), by condition.
    package func open(device: String) -> [TechnicalCondition: Open] {
        let episodes = device == TechnicalCondition.gatewayDevice ? gateway : (sensors[device]?.open ?? [:])
        return Dictionary(uniqueKeysWithValues: episodes.compactMap { key, open in TechnicalCondition(rawValue: key).map { ($0, open) } })
    }

    // MARK: - Inputs

    /// A stored batch with its quality assessments: the sensor was heard; signal, battery and
    /// clock conditions follow its readings.
    package mutating func observe(
        _ batch: ReadingBatch, quality: [SignalQuality.Assessment], settings: TechnicalSettings
    ) -> [ScoredAlert] {
        guard settings.enabled else { return [] }
        var sensor = sensors[batch.device] ?? Sensor(patient: batch.patient)
        sensor.patient = batch.patient
        var events = heard(&sensor, device: batch.device, at: batch.receivedAt)
        for (index, reading) in batch.readings.enumerated() {
            if let battery = reading.values.first(where: { $0.channel == .battery }) {
                events += self.battery(&sensor, device: batch.device, percent: Int(battery.raw), at: reading.time, settings: settings)
            }
            if let rssi = reading.values.first(where: { $0.channel == .rssi }) { sensor.rssi = Int(rssi.raw) }
            let assessment = index < quality.count ? quality[index] : SignalQuality.Assessment()
            let usable = Self.isUsable(reading, assessment)
            events += wear(&sensor, device: batch.device, usable: usable, issues: assessment.issues, at: reading.time, settings: settings)
        }
        events += clock(&sensor, device: batch.device, quality: batch.timeQuality, at: batch.receivedAt)
        sensors[batch.device] = sensor
        return events
    }

    /// An authenticated STATUS frame: a birth (or settings report) is hearing from the sensor; a
    /// last will is remembered as the likely cause of the silence that follows.
    package mutating func status(
        device: String, patient: String, online: Bool, battery: Int?, rssi: Int?, at time: Int64, settings: TechnicalSettings
    ) -> [ScoredAlert] {
        guard settings.enabled else { return [] }
        var sensor = sensors[device] ?? Sensor(patient: patient)
        sensor.patient = patient
        var events: [ScoredAlert] = []
        if online {
            events += heard(&sensor, device: device, at: time)
            if let rssi { sensor.rssi = rssi }
            if let battery { events += self.battery(&sensor, device: device, percent: battery, at: time, settings: settings) }
        } else {
            sensor.willAt = time
        }
        sensors[device] = sensor
        return events
    }

    /// A frame from a provisioned device id that failed authentication.
    package mutating func authenticationFailed(device: String, patient: String, at time: Int64, settings: TechnicalSettings) -> [ScoredAlert] {
        guard settings.enabled else { return [] }
        var sensor = sensors[device] ?? Sensor(patient: patient)
        let window = Int64(settings.authWindow) * 1_000
        sensor.authFailures = (sensor.authFailures.filter { time - $0 < window } + [time]).suffix(64)
        var events: [ScoredAlert] = []
        let key = TechnicalCondition.authFailures.rawValue
        if sensor.open[key] == nil, sensor.authFailures.count >= settings.authFailures {
            let since = sensor.authFailures.first!
            sensor.open[key] = Open(since: since)
            events.append(event(.raise, .authFailures, device: device, patient: sensor.patient, since: since, at: time,
                                summary: "\(sensor.authFailures.count) frames claiming to be sensor \(device) failed authentication "
                                    + "within \(settings.authWindow / 60) min (since \(ISOTime.seconds(since)))"))
        }
        sensors[device] = sensor
        return events
    }

    /// The time-driven conditions at `now`: silent sensors (of those `assigned`, device → patient
    /// and kind), authentication failures that stopped, and the gateway's own conditions.
    /// Sensors no longer assigned are forgotten, their open episodes cleared.
    package mutating func tick(
        now: Int64, assigned: [String: (patient: String, kind: String?)], facts: GatewayFacts,
        listeningSince: Int64, settings: TechnicalSettings
    ) -> [ScoredAlert] {
        guard settings.enabled else { return [] }
        var events: [ScoredAlert] = []
        for device in sensors.keys.sorted() where assigned[device] == nil {
            for (key, open) in sensors[device]!.open.sorted(by: { $0.key < $1.key }) {
                guard let condition = TechnicalCondition(rawValue: key) else { continue }
                events.append(event(.clear, condition, device: device, patient: sensors[device]!.patient, since: open.since, at: now,
                                    summary: "sensor \(device) was unassigned from the patient"))
            }
            sensors[device] = nil
        }
        for (device, assignment) in assigned.sorted(by: { $0.key < $1.key }) {
            var sensor = sensors[device] ?? Sensor(patient: assignment.patient)
            sensor.patient = assignment.patient
            sensor.kind = assignment.kind
            events += silence(&sensor, device: device, now: now, listening: facts.brokerConnected,
                              listeningSince: listeningSince, settings: settings)
            let authKey = TechnicalCondition.authFailures.rawValue
            if let open = sensor.open[authKey], let last = sensor.authFailures.last, now - last >= Int64(settings.authWindow) * 1_000 {
                sensor.open[authKey] = nil
                let end = last + Int64(settings.authWindow) * 1_000
                events.append(event(.clear, .authFailures, device: device, patient: sensor.patient, since: open.since, at: end,
                                    summary: "no authentication failures from sensor \(device) for \(settings.authWindow / 60) min"))
            }
            if sensor != sensors[device] { sensors[device] = sensor }
        }
        events += gatewayConditions(now: now, facts: facts, settings: settings)
        return events
    }

    /// Applies a technical event from the log (start-up replay), so an episode raised after the
    /// checkpoint continues as the same episode. Events the state already reflects change
    /// nothing (the log holds events from before the checkpoint too): a raise only opens an
    /// episode newer than the one open, an escalation or clear only acts on its own episode.
    /// Returns whether the state changed.
    @discardableResult
    package mutating func restore(_ entry: AlertEntry) -> Bool {
        guard entry.event.model == TechnicalCondition.model, let name = entry.event.condition,
              let condition = TechnicalCondition(rawValue: name) else { return false }
        // The episode id is `key@since` (``AlertBook/id(key:since:)``).
        guard let since = entry.event.alertID.flatMap({ $0.split(separator: "@").last.flatMap { Int64($0) } }) else { return false }
        func apply(_ open: inout [String: Open]) -> Bool {
            let current = open[name]
            switch entry.event.kind {
            case .raise:
                guard current.map({ $0.since < since }) ?? true else { return false }
                // A raise recorded at low priority still escalates at the notify wait.
                open[name] = Open(since: since, quiet: condition == .notWorn && entry.event.notify == false ? true : nil)
            case .escalate:
                guard current.map({ $0.since < since || ($0.since == since && !$0.escalated) }) ?? true else { return false }
                open[name] = Open(since: since, escalated: true)
            case .clear:
                guard current?.since == since else { return false }
                open[name] = nil
            default:
                return false
            }
            return true
        }
        if condition.isGatewaySide { return apply(&gateway) }
        var sensor = sensors[entry.device] ?? Sensor(patient: entry.patient)
        let changed = apply(&sensor.open)
        sensors[entry.device] = sensor
        return changed
    }

    // MARK: - Conditions

    private mutating func heard(_ sensor: inout Sensor, device: String, at time: Int64) -> [ScoredAlert] {
        sensor.lastHeard = max(sensor.lastHeard ?? .min, time)
        sensor.willAt = nil
        let key = TechnicalCondition.noData.rawValue
        guard let open = sensor.open[key] else { return [] }
        sensor.open[key] = nil
        return [event(.clear, .noData, device: device, patient: sensor.patient, since: open.since, at: time,
                      summary: "sensor \(device) is sending again after \(minutes(time - open.since)) without data")]
    }

    private func silence(
        _ sensor: inout Sensor, device: String, now: Int64, listening: Bool, listeningSince: Int64, settings: TechnicalSettings
    ) -> [ScoredAlert] {
        // Not listening to the broker, the gateway cannot tell a silent sensor from its own
        // deafness: that is `broker_down`, and silence counts again from the reconnection.
        guard listening, let lastHeard = sensor.lastHeard else { return [] }
        let limits = settings.silence(kind: sensor.kind)
        let key = TechnicalCondition.noData.rawValue
        let reference = max(lastHeard, listeningSince)
        if var open = sensor.open[key] {
            let escalateAt = open.since + Int64(limits.escalateAfter) * 1_000
            guard !open.escalated, now >= escalateAt else { return [] }
            open.escalated = true
            sensor.open[key] = open
            return [event(.escalate, .noData, device: device, patient: sensor.patient, since: open.since, at: escalateAt,
                          summary: silenceSummary(sensor, device: device, since: open.since, at: escalateAt), facts: sensor)]
        }
        let raiseAt = reference + Int64(limits.after) * 1_000
        guard now >= raiseAt else { return [] }
        sensor.open[key] = Open(since: reference)
        return [event(.raise, .noData, device: device, patient: sensor.patient, since: reference, at: raiseAt,
                      summary: silenceSummary(sensor, device: device, since: reference, at: raiseAt), facts: sensor)]
    }

    /// "no data from sensor ring-01 for 5 min (since …); battery was 4 %; …": the last facts
    /// known, so the team can tell why.
    private func silenceSummary(_ sensor: Sensor, device: String, since: Int64, at time: Int64) -> String {
        var parts = ["no data from sensor \(device) for \(minutes(time - since)) (since \(ISOTime.seconds(since)))"]
        if let battery = sensor.battery {
            parts.append(battery <= 10 ? "battery was \(battery) %, likely flat" : "battery was \(battery) %")
        }
        if let rssi = sensor.rssi {
            parts.append(rssi <= -85 ? "RSSI \(rssi) dBm, likely out of range" : "RSSI \(rssi) dBm")
        }
        if let will = sensor.willAt {
            parts.append("its connection dropped at \(ISOTime.seconds(will)) (last will)")
        } else {
            parts.append("it did not announce going offline")
        }
        return parts.joined(separator: "; ")
    }

    private func wear(
        _ sensor: inout Sensor, device: String, usable: Bool, issues: Set<SignalQuality.Issue>, at time: Int64,
        settings: TechnicalSettings
    ) -> [ScoredAlert] {
        let key = TechnicalCondition.notWorn.rawValue
        if usable {
            sensor.usableRun += 1
            guard sensor.usableRun >= Self.clearAfterUsable else { return [] }
            sensor.unusableSince = nil
            guard let open = sensor.open[key] else { return [] }
            sensor.open[key] = nil
            return [event(.clear, .notWorn, device: device, patient: sensor.patient, since: open.since, at: time,
                          summary: "usable readings from sensor \(device) again after \(minutes(time - open.since))")]
        }
        sensor.usableRun = 0
        let since = sensor.unusableSince ?? time
        sensor.unusableSince = since
        let onCharger = sensor.chargingSince.map { time - $0 < Int64(settings.chargingMax) * 1_000 } ?? false
        let after = Int64(onCharger ? settings.chargingMax : settings.notWornAfter) * 1_000
        let why = issues.contains(.flatLine) ? "flat line or zero values, likely taken off"
            : sensor.chargingSince != nil ? "on its charger" : "no vital sign in its readings"
        if var open = sensor.open[key] {
            // A low-priority raise notifies when it has lasted; a notified one escalates at three
            // times its wait.
            let escalateAt = open.since + (open.quiet == true ? Int64(settings.notWornNotifyAfter) * 1_000 : after * 3)
            guard !open.escalated, time >= escalateAt else { return [] }
            open.escalated = true
            sensor.open[key] = open
            return [event(.escalate, .notWorn, device: device, patient: sensor.patient, since: open.since, at: time,
                          summary: "no usable vital sign from sensor \(device) for \(minutes(time - open.since)): \(why)")]
        }
        guard time - since >= after else { return [] }
        // Low priority while it is shorter than a shower; off the charger's allowance, or past
        // the notify wait already, it notifies at once.
        let quiet = !onCharger && time - since < Int64(settings.notWornNotifyAfter) * 1_000
        sensor.open[key] = Open(since: since, quiet: quiet ? true : nil)
        var raise = event(.raise, .notWorn, device: device, patient: sensor.patient, since: since, at: time,
                          summary: "no usable vital sign from sensor \(device) for \(minutes(time - since)): \(why)")
        if quiet { raise.fields.notify = false }
        return [raise]
    }

    private func battery(_ sensor: inout Sensor, device: String, percent: Int, at time: Int64, settings: TechnicalSettings) -> [ScoredAlert] {
        if let previous = sensor.battery, let previousAt = sensor.batteryAt, time >= previousAt {
            if percent > previous {
                // Rising: on the charger. The discharge estimate starts again when it comes off.
                sensor.chargingSince = sensor.chargingSince ?? previousAt
                sensor.dischargeFrom = nil
            } else if percent < previous {
                sensor.chargingSince = nil
                if sensor.dischargeFrom == nil { sensor.dischargeFrom = previousAt; sensor.dischargeFromPercent = previous }
            }
        }
        if sensor.battery != percent || sensor.batteryAt == nil { sensor.batteryAt = time }
        sensor.battery = percent
        let key = TechnicalCondition.batteryLow.rawValue
        if var open = sensor.open[key] {
            if percent >= settings.batteryLow + 5 || sensor.chargingSince != nil {
                sensor.open[key] = nil
                return [event(.clear, .batteryLow, device: device, patient: sensor.patient, since: open.since, at: time,
                              summary: "battery of sensor \(device) at \(percent) %\(sensor.chargingSince != nil ? ", charging" : "")")]
            }
            guard !open.escalated, percent <= settings.batteryCritical else { return [] }
            open.escalated = true
            sensor.open[key] = open
            return [event(.escalate, .batteryLow, device: device, patient: sensor.patient, since: open.since, at: time,
                          summary: batterySummary(sensor, device: device, percent: percent, at: time), facts: sensor)]
        }
        guard percent <= settings.batteryLow, sensor.chargingSince == nil else { return [] }
        sensor.open[key] = Open(since: time, escalated: percent <= settings.batteryCritical)
        return [event(.raise, .batteryLow, device: device, patient: sensor.patient, since: time, at: time,
                      summary: batterySummary(sensor, device: device, percent: percent, at: time), facts: sensor)]
    }

    /// "battery 18 % on sensor ring-01, about 95 min left at the recent discharge".
    private func batterySummary(_ sensor: Sensor, device: String, percent: Int, at time: Int64) -> String {
        var text = "battery \(percent) % on sensor \(device)"
        if let minutes = Self.minutesLeft(sensor, percent: percent, at: time) {
            text += ", about \(minutes) min left at the recent discharge"
        }
        return text
    }

    /// From the current discharge (at least 30 min and 2 % of it), `nil` when it cannot tell.
    static func minutesLeft(_ sensor: Sensor, percent: Int, at time: Int64) -> Int? {
        guard let from = sensor.dischargeFrom, let fromPercent = sensor.dischargeFromPercent else { return nil }
        let elapsed = time - from
        let drop = fromPercent - percent
        guard elapsed >= 30 * 60_000, drop >= 2 else { return nil }
        return Int(Int64(percent) * elapsed / Int64(drop) / 60_000)
    }

    private func clock(_ sensor: inout Sensor, device: String, quality: TimeQuality, at time: Int64) -> [ScoredAlert] {
        let key = TechnicalCondition.sensorClock.rawValue
        if quality == .suspect {
            sensor.suspectRun += 1
            sensor.trustedRun = 0
            guard sensor.open[key] == nil, sensor.suspectRun >= Self.clockRun else { return [] }
            sensor.open[key] = Open(since: time)
            return [event(.raise, .sensorClock, device: device, patient: sensor.patient, since: time, at: time,
                          summary: "sensor \(device)'s clock disagrees with the gateway's in \(sensor.suspectRun) frames running; "
                              + "its reading times are flagged suspect")]
        }
        guard quality == .device || quality == .estimated else { return [] }
        sensor.trustedRun += 1
        sensor.suspectRun = 0
        guard sensor.trustedRun >= Self.clockRun, let open = sensor.open[key] else { return [] }
        sensor.open[key] = nil
        return [event(.clear, .sensorClock, device: device, patient: sensor.patient, since: open.since, at: time,
                      summary: "sensor \(device)'s clock agrees with the gateway's again")]
    }

    private mutating func gatewayConditions(now: Int64, facts: GatewayFacts, settings: TechnicalSettings) -> [ScoredAlert] {
        var events: [ScoredAlert] = []
        func judge(_ condition: TechnicalCondition, since: Int64?, after seconds: Int, summary: (Int64, Int64) -> String,
                   cleared: (Int64) -> String) {
            let key = condition.rawValue
            if let open = gateway[key] {
                guard since == nil else { return }
                gateway[key] = nil
                events.append(event(.clear, condition, device: TechnicalCondition.gatewayDevice, patient: "", since: open.since,
                                    at: now, summary: cleared(open.since)))
            } else if let since, now - since >= Int64(seconds) * 1_000 {
                let at = since + Int64(seconds) * 1_000
                gateway[key] = Open(since: since)
                events.append(event(.raise, condition, device: TechnicalCondition.gatewayDevice, patient: "", since: since, at: at,
                                    summary: summary(since, at)))
            }
        }
        judge(.brokerDown, since: facts.brokerConnected ? nil : facts.brokerDownSince, after: settings.brokerDownAfter,
              summary: { since, at in "the gateway has not reached the sensors' broker for \(minutes(at - since)) (since \(ISOTime.seconds(since))): no sensor can be heard" },
              cleared: { since in "the gateway reached the sensors' broker again; it could not hear them from \(ISOTime.seconds(since)) to \(ISOTime.seconds(now))" })
        if facts.uplinkKnown {
            judge(.uplinkDown, since: facts.uplinkFailingSince, after: settings.uplinkDownAfter,
                  summary: { since, at in "the gateway could not deliver to the hospital for \(minutes(at - since)) (since \(ISOTime.seconds(since)))" },
                  cleared: { since in "delivery to the hospital resumed: the outage ran from \(ISOTime.seconds(since)) to \(ISOTime.seconds(now)); the data buffered meanwhile follows" })
        }
        judge(.gatewayClock, since: facts.clockUnsyncedSince, after: settings.clockUnsyncedAfter,
              summary: { since, _ in "the gateway's clock has not been synchronised since \(ISOTime.seconds(since)): reading times may drift" },
              cleared: { _ in "the gateway's clock is synchronised again" })
        if facts.evictedReadings > evictedSeen {
            lastEviction = now
        }
        let lost = facts.evictedReadings - min(evictedSeen, facts.evictedReadings)
        let evictingSince: Int64? = lastEviction.flatMap { now - $0 < 3_600_000 ? (gateway[TechnicalCondition.storeEvicting.rawValue]?.since ?? $0) : nil }
        judge(.storeEvicting, since: evictingSince, after: 0,
              summary: { since, _ in "the gateway's store deleted \(lost) undelivered readings to make room (since \(ISOTime.seconds(since)))" },
              cleared: { since in "the gateway's store has not deleted data for an hour (it did from \(ISOTime.seconds(since)))" })
        evictedSeen = facts.evictedReadings
        let diskOpen = gateway[TechnicalCondition.diskLow.rawValue] != nil
        let diskLow = facts.diskFreeMiB.map { diskOpen ? $0 < settings.diskLowMiB * 2 : $0 < settings.diskLowMiB } ?? false
        judge(.diskLow, since: diskLow ? (gateway[TechnicalCondition.diskLow.rawValue]?.since ?? now) : nil, after: 0,
              summary: { _, _ in "the gateway's disk has \(facts.diskFreeMiB ?? 0) MiB free above the store's reserve" },
              cleared: { _ in "the gateway's disk has room again (\(facts.diskFreeMiB ?? 0) MiB above the reserve)" })
        return events
    }

    // MARK: - Events

    private func event(
        _ kind: AlertEvent.Kind, _ condition: TechnicalCondition, device: String, patient: String, since: Int64, at time: Int64,
        summary: String, facts sensor: Sensor? = nil
    ) -> ScoredAlert {
        var fields = AlertEvent(kind: kind, model: TechnicalCondition.model, version: "1")
        fields.condition = condition.rawValue
        // The gateway's own conditions name no sensor (reminders repeat these fields).
        let sensorDevice = device == TechnicalCondition.gatewayDevice ? "" : device
        if !sensorDevice.isEmpty { fields.device = sensorDevice }
        fields.windowStart = ISOTime.seconds(since)
        fields.windowEnd = ISOTime.seconds(time)
        fields.summary = summary
        if kind != .clear { fields.action = condition.action }
        if let sensor {
            fields.battery = sensor.battery
            fields.rssi = sensor.rssi
            fields.lastSeen = sensor.lastHeard.map(ISOTime.seconds)
            fields.lastWill = sensor.willAt != nil
        }
        return ScoredAlert(model: TechnicalCondition.model, key: condition.key(device: device), since: since, fields: fields,
                           device: sensorDevice, patient: patient, time: time)
    }
}

private func minutes(_ milliseconds: Int64) -> String {
    let minutes = max(0, milliseconds) / 60_000
    // Under a minute only with shortened thresholds (the demo's): "0 min" would read as nothing.
    if minutes == 0 { return "\(max(0, milliseconds) / 1_000) s" }
    return minutes >= 120 ? "\(minutes / 60) h \(minutes % 60) min" : "\(minutes) min"
}
