import VigilCore
import VigilModels

/// An alert event from one of the scorers, before the lifecycle-wide steps (rate limit, alert id,
/// reminders) and serialization.
package struct ScoredAlert {
    package let model: String
    /// The episode's key: the model, or model/vital for per-vital models.
    package let key: String
    /// When the episode began (Unix ms).
    package let since: Int64
    package var fields: AlertEvent
    package let device: String
    package let patient: String
    package let time: Int64

    package var event: AlertEvent.Kind { fields.kind }

    package var alert: AlertEntry { AlertEntry(device: device, patient: patient, time: time, event: fields) }

    var json: [UInt8] { alert.json }
}

/// Everything the agent computes per stored reading, in one place: the device's signal quality
/// (graded into the reading's flags), NEWS2 and its alert lifecycle, per-vital drift from the
/// patient's baseline, and the quantized models; then, across all of them, rate limiting,
/// episode ids, reminders for unacknowledged alerts and acknowledgements.
/// Pure; the pipeline calls it once per accepted frame, `vigil-bench scoring` measures it.
package struct ReadingScorer {
    private var quality: [String: SignalQuality] = [:]
    private var news2: LiveScorer
    private var drift: DriftScorer?
    private var models: ModelScorer
    private var limiter = AlertRateLimiter()
    private var book: AlertBook
    /// The last event of each open episode (patient → key → fields), repeated in reminders.
    private var explanations: [String: [String: AlertEvent]] = [:]
    /// Episodes that cleared recently, per patient (newest last, at most 32): an acknowledgement
    /// often comes after the alert cleared and is still worth recording.
    private var recentlyClosed: [String: [ClosedEpisode]] = [:]
    /// Each patient's clinical settings (scale 2, oxygen, consciousness, drift effects).
    private var clinical: [String: ClinicalSettings] = [:]
    /// When each patient was last seen exerting themselves (Unix ms).
    private var lastActive: [String: Int64] = [:]
    /// Technical conditions of the sensors and the gateway.
    private var technical = TechnicalMonitor()
    /// Monitoring coverage per patient and day.
    private var coverage: CoverageLedger
    /// Minute rollups (only with ``ScoringSettings/minuteRollups``).
    private var rollups: MinuteRollups?
    private let settings: ScoringSettings

    package struct ClosedEpisode: Codable, Equatable, Sendable {
        var id: String
        var key: String
        var since: Int64
        var device: String
    }

    /// Everything the scorer has learnt: signal-quality history, NEWS2 and model inputs and
    /// lifecycles, drift baselines, rate limits, and the open episodes with their last
    /// explanation and acknowledgement. Checkpointed, so episodes continue across a restart (an
    /// ongoing condition does not raise a second episode; one that ended is cleared by its id).
    package struct State: Codable, Equatable, Sendable {
        var quality: [String: SignalQuality]
        var news2: [String: LiveScorer.Patient]
        var drift: [String: [VitalDrift]]?
        var models: [String: ModelScorer.Patient]
        var limiter: AlertRateLimiter
        var book: AlertBook
        var explanations: [String: [String: AlertEvent]]
        var recentlyClosed: [String: [ClosedEpisode]]
        var clinical: [String: ClinicalSettings]?
        var lastActive: [String: Int64]?
        var technical: TechnicalMonitor?
        var coverage: CoverageLedger?
        var rollups: MinuteRollups?
    }

    package var state: State {
        get {
            State(quality: quality, news2: news2.patients, drift: drift?.patients, models: models.patients, limiter: limiter,
                  book: book, explanations: explanations, recentlyClosed: recentlyClosed, clinical: clinical,
                  lastActive: lastActive, technical: technical, coverage: coverage, rollups: rollups)
        }
        set {
            quality = newValue.quality
            news2.patients = newValue.news2
            if drift != nil, let patients = newValue.drift {
                // A checkpoint from a release with other vitals would misalign: start those afresh.
                drift!.patients = patients.filter { $0.value.count == DriftScorer.vitals.count }
            }
            models.patients = newValue.models
            limiter = newValue.limiter
            // Reminders follow this run's setting, whatever the checkpoint's was.
            book.restore(open: newValue.book.open)
            explanations = newValue.explanations
            recentlyClosed = newValue.recentlyClosed
            clinical = newValue.clinical ?? [:]
            lastActive = newValue.lastActive ?? [:]
            technical = newValue.technical ?? TechnicalMonitor()
            coverage = newValue.coverage ?? CoverageLedger()
            // Rollups follow this run's granularity: readings after a switch are rolled up afresh.
            rollups = settings.minuteRollups ? newValue.rollups ?? MinuteRollups() : nil
            // Days follow this run's time zone.
            coverage.utcOffset = Int64(settings.utcOffsetMinutes) * 60_000
        }
    }

    package init(models: [QuantizedModel], settings: ScoringSettings = ScoringSettings()) {
        self.settings = settings
        news2 = LiveScorer(settings: settings)
        drift = settings.drift ? DriftScorer() : nil
        self.models = ModelScorer(models: models, settings: settings)
        book = AlertBook(reminderMilliseconds: Int64(settings.reminderMinutes) * 60_000)
        coverage = CoverageLedger(utcOffset: Int64(settings.utcOffsetMinutes) * 60_000)
        rollups = settings.minuteRollups ? MinuteRollups() : nil
    }

    /// Minute rollups finished since the last call (by readings that moved past their minute,
    /// or by ``closeRollups(now:)``), to be stored in the routine lane.
    package mutating func takeRollups() -> [MinuteRollup] { rollups?.take() ?? [] }

    /// Finishes the rollups whose minute is over (the pipeline's tick).
    package mutating func closeRollups(now: Int64) -> [MinuteRollup] {
        rollups?.close(now: now)
        return takeRollups()
    }

    /// The patient's clinical settings in force (`nil`: none entered).
    package func clinicalSettings(patient: String) -> ClinicalSettings? { clinical[patient] }

    /// Applies a clinician's settings: the patient's next readings are scored with them.
    /// Returns false when these (or newer) settings are already in force.
    @discardableResult
    package mutating func apply(_ settings: ClinicalSettings) -> Bool {
        if let current = clinical[settings.patient], current.version >= settings.version { return false }
        clinical[settings.patient] = settings
        return true
    }

    /// The store entry recording that `settings` took effect: uploaded like an alert event,
    /// routine, not notified. Dated by the change and named by its version, so recording it
    /// again after a restart gives the same identifiers upstream.
    package static func settingsEntry(_ settings: ClinicalSettings) -> AlertEntry {
        var fields = AlertEvent(kind: .settings, model: ClinicalSettings.model, version: "\(settings.version)")
        fields.alertID = "\(ClinicalSettings.model)@\(settings.version)"
        fields.notify = false
        fields.by = settings.updatedBy
        fields.summary = settings.summary
        var values = ["spo2_scale": settings.spo2Scale]
        if let oxygen = settings.onOxygen { values["on_oxygen"] = oxygen ? 1 : 0 }
        fields.values = values
        if let level = settings.consciousness { fields.parameters = ["consciousness": level == "A" ? 0 : 3] }
        fields.windowStart = ISOTime.seconds(settings.updatedAt)
        return AlertEntry(device: "", patient: settings.patient, time: settings.updatedAt, event: fields)
    }

    /// Whether each reading was taken at rest: no exertion in it (wrist activity above
    /// ``ScoringSettings/activeAboveMilliG``) and none in the recovery time before it. A device
    /// without an activity channel inherits the patient's state from one that has it.
    private mutating func rest(_ batch: ReadingBatch) -> [Bool] {
        let recovery = Int64(settings.restAfterMinutes) * 60_000
        let threshold = Int16(clamping: settings.activeAboveMilliG)
        var last = lastActive[batch.patient]
        defer { lastActive[batch.patient] = last }
        return batch.readings.map { reading in
            if let activity = reading.values.first(where: { $0.channel == .activity }), activity.raw > threshold {
                last = max(last ?? .min, reading.time)
                return false
            }
            guard let last else { return true }
            return reading.time - last >= recovery || reading.time < last
        }
    }

    /// Grades the batch's readings (their flags gain the quality grade) and returns the alerts
    /// they cause, each with the id of the model that raised it.
    package mutating func score(_ batch: inout ReadingBatch) -> [(model: String, alert: AlertEntry)] {
        var monitor = quality[batch.device] ?? SignalQuality()
        var assessments: [SignalQuality.Assessment] = []
        assessments.reserveCapacity(batch.readings.count)
        for index in batch.readings.indices {
            let reading = batch.readings[index]
            let assessment = monitor.assess(time: reading.time, values: reading.values.map { ($0.channel.rawValue, $0.raw) })
            batch.readings[index].flags |= UInt8(assessment.grade.rawValue) << StoredReading.qualityShift
            assessments.append(assessment)
        }
        quality[batch.device] = monitor
        let atRest = rest(batch)
        let settings = clinical[batch.patient]
        var scored = news2.observe(batch, quality: assessments, atRest: atRest, clinical: settings)
            + models.observe(batch, quality: assessments, atRest: atRest)
        if drift != nil { scored += drift!.observe(batch, quality: assessments, atRest: atRest, clinical: settings) }
        for index in scored.indices {
            // The reading that triggered it, so the uplink can reference its Observations.
            if let reading = batch.readings.first(where: { $0.time == scored[index].time }) {
                scored[index].fields.boot = batch.boot
                scored[index].fields.seq = reading.seq
                scored[index].fields.frameSeq = batch.readings.first?.seq
            }
        }
        var alerts = scored.map { finish($0) }
        alerts += technical.observe(batch, quality: assessments, settings: self.settings.technical).map { finish($0) }
        coverage.record(batch, usable: batch.readings.indices.map {
            TechnicalMonitor.isUsable(batch.readings[$0], $0 < assessments.count ? assessments[$0] : SignalQuality.Assessment())
        })
        if let latest = batch.readings.map(\.time).max() {
            alerts += reminders(patient: batch.patient, device: batch.device, at: latest)
        }
        // Last: the rollup decision reads the quality grades just set.
        rollups?.add(&batch)
        return alerts.map { ($0.model, $0.alert) }
    }

    /// The time-driven technical conditions at `now` (``TechnicalMonitor/tick(now:assigned:facts:listeningSince:settings:)``)
    /// and reminders of every patient's unacknowledged episodes: a silent sensor sends no
    /// readings to carry them.
    package mutating func tick(
        now: Int64, assigned: [String: (patient: String, kind: String?)], facts: GatewayFacts, listeningSince: Int64
    ) -> [(model: String, alert: AlertEntry)] {
        var alerts = technical.tick(now: now, assigned: assigned, facts: facts, listeningSince: listeningSince,
                                    settings: settings.technical).map { finish($0) }
        for patient in book.open.keys.sorted() {
            alerts += reminders(patient: patient, device: "", at: now)
        }
        return alerts.map { ($0.model, $0.alert) }
    }

    /// An authenticated STATUS frame from `device` (``TechnicalMonitor/status(device:patient:online:battery:rssi:at:settings:)``).
    package mutating func status(device: String, patient: String, online: Bool, battery: Int?, rssi: Int?, at time: Int64)
        -> [(model: String, alert: AlertEntry)] {
        technical.status(device: device, patient: patient, online: online, battery: battery, rssi: rssi, at: time,
                         settings: settings.technical).map { finish($0) }.map { ($0.model, $0.alert) }
    }

    /// A frame that failed authentication, from a provisioned device id.
    package mutating func authenticationFailed(device: String, patient: String, at time: Int64) -> [(model: String, alert: AlertEntry)] {
        technical.authenticationFailed(device: device, patient: patient, at: time, settings: settings.technical)
            .map { finish($0) }.map { ($0.model, $0.alert) }
    }

    /// A technical event from the log, replayed at start over the checkpoint: the episode, its
    /// book entry and explanation are as they were when it was recorded.
    package mutating func restoreTechnical(_ entry: AlertEntry) {
        guard entry.event.model == TechnicalCondition.model, let id = entry.event.alertID,
              let at = id.lastIndex(of: "@"), let since = Int64(id[id.index(after: at)...]) else { return }
        let key = String(id[..<at])
        guard technical.restore(entry) else { return }
        book.record(patient: entry.patient, key: key, since: since, event: entry.event.kind.rawValue, at: entry.time,
                    notified: entry.event.notify ?? true)
        if entry.event.kind == .clear {
            explanations[entry.patient]?[key] = nil
        } else if entry.event.kind != .acknowledge {
            explanations[entry.patient, default: [:]][key] = entry.event
        }
    }

    /// Coverage days now over and not yet reported (``CoverageLedger/closeDays(now:assigned:)``).
    package mutating func closeCoverageDays(now: Int64, assigned: Set<String>) -> [CoverageDay] {
        coverage.closeDays(now: now, assigned: assigned)
    }

    /// The coverage ledger as it stands (for reports).
    package var coverageLedger: CoverageLedger { coverage }

    /// The technical conditions open for `device` (for tests and status).
    package func technicalConditions(device: String) -> [TechnicalCondition: TechnicalMonitor.Open] {
        technical.open(device: device)
    }

    /// Records an acknowledgement from upstream of episode `alertID` (e.g. `news2@1795000000000`):
    /// no more reminders for it until it escalates; a drift episode closes and its vital's
    /// current level becomes the new baseline. Returns the entry to store, or `nil` when the
    /// patient has no open episode with that id.
    package mutating func acknowledge(patient: String, alertID: String, by: String, at time: Int64) -> (model: String, alert: AlertEntry)? {
        guard let episode = book.acknowledge(patient: patient, id: alertID) else {
            guard let closed = recentlyClosed[patient]?.last(where: { $0.id == alertID }) else { return nil }
            let model = String(closed.key.prefix { $0 != "/" })
            var fields = Self.acknowledgement(model: model, alertID: alertID, by: by, since: closed.since, at: time)
            fields.alreadyCleared = true
            fields.device = closed.device
            return (model, ScoredAlert(model: model, key: closed.key, since: closed.since, fields: fields, device: closed.device,
                                       patient: patient, time: time).alert)
        }
        let model = String(episode.key.prefix { $0 != "/" })
        var fields = Self.acknowledgement(model: model, alertID: alertID, by: by, since: episode.since, at: time)
        let device = explanations[patient]?[episode.key]?.device ?? ""
        if model == DriftScorer.model, drift != nil {
            let vital = String(episode.key.dropFirst(model.count + 1))
            drift!.rebaseline(patient: patient, vital: vital)
            book.close(patient: patient, key: episode.key)
            explanations[patient]?[episode.key] = nil
            fields.vital = vital
            fields.closed = true
        }
        if !device.isEmpty { fields.device = device }
        let alert = ScoredAlert(model: model, key: episode.key, since: episode.since, fields: fields,
                                device: device, patient: patient, time: time)
        return (model, alert.alert)
    }

    private static func acknowledgement(model: String, alertID: String, by: String, since: Int64, at time: Int64) -> AlertEvent {
        var fields = AlertEvent(kind: .acknowledge, model: model)
        fields.alertID = alertID
        fields.by = by
        fields.windowStart = ISOTime.seconds(since)
        fields.windowEnd = ISOTime.seconds(time)
        fields.notify = false
        return fields
    }

    /// The ids of the patient's open episodes (for status and tests).
    package func openAlerts(patient: String) -> [String] {
        (book.open[patient] ?? [:]).values.map(\.id).sorted()
    }

    /// Every open episode, by patient then start.
    package var openEpisodes: [OpenAlertReport] {
        book.open.flatMap { patient, episodes in
            episodes.values.map { OpenAlertReport(patient: patient, alertID: $0.id, since: $0.since, acknowledged: $0.acknowledged) }
        }.sorted { ($0.patient, $0.since, $0.alertID) < ($1.patient, $1.since, $1.alertID) }
    }

    /// Adds the episode id and whether the event notifies: a raise over the patient's budget for
    /// this model, or one its model marked low priority, is not notified (it is still stored and
    /// uploaded); escalations and clears are.
    private mutating func finish(_ scored: ScoredAlert) -> ScoredAlert {
        var alert = scored
        var notify = true
        // A low-priority raise (a technical condition that notifies only if it lasts) is
        // recorded and uploaded as routine, and spends none of the patient's budget.
        let lowPriority = alert.event == .raise && alert.fields.notify == false
        if alert.event == .raise && !lowPriority {
            notify = limiter.allowRaise(alert.patient + "/" + alert.model, at: alert.time)
        }
        if lowPriority { notify = false }
        alert.fields.notify = notify
        alert.fields.alertID = AlertBook.id(key: alert.key, since: alert.since)
        if !notify && !lowPriority { alert.fields.suppressedReason = "rate_limited" }
        book.record(patient: alert.patient, key: alert.key, since: alert.since, event: alert.event.rawValue, at: alert.time,
                    notified: notify)
        if alert.event == .clear {
            explanations[alert.patient]?[alert.key] = nil
            var closed = recentlyClosed[alert.patient] ?? []
            closed.append(ClosedEpisode(id: AlertBook.id(key: alert.key, since: alert.since), key: alert.key, since: alert.since,
                                        device: alert.device))
            if closed.count > 32 { closed.removeFirst(closed.count - 32) }
            recentlyClosed[alert.patient] = closed
        } else {
            explanations[alert.patient, default: [:]][alert.key] = alert.fields
        }
        return alert
    }

    /// Reminders for the patient's open, unacknowledged episodes: the last explanation again,
    /// as event `remind`.
    private mutating func reminders(patient: String, device: String, at time: Int64) -> [ScoredAlert] {
        book.reminders(patient: patient, at: time).map { episode in
            var fields = explanations[patient]?[episode.key]
                ?? AlertEvent(kind: .remind, model: String(episode.key.prefix { $0 != "/" }))
            fields.kind = .remind
            fields.notify = true
            fields.suppressedReason = nil
            fields.alertID = episode.id
            fields.windowEnd = ISOTime.seconds(time)
            return ScoredAlert(model: fields.model, key: episode.key, since: episode.since,
                               fields: fields, device: fields.device ?? device, patient: patient, time: time)
        }
    }
}
