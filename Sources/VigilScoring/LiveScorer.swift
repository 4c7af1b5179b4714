import Foundation
import VigilCore
import VigilModels

/// NEWS2 on live readings, per patient.
///
/// On a wearable stream (``ScoringSettings/news2WindowSeconds`` > 0) readings taken at rest are
/// collected per clock-aligned window; when a window closes (the first reading of a later one
/// arrives) each parameter it holds becomes the window's median (robust to a single artefact or
/// a one-minute dip), a parameter it lacks keeps its last median while fresh (a cuff reading),
/// and the window is scored. The alert lifecycle then needs `news2RaiseAfter` windows in a row
/// at low-medium or above to raise and `news2ClearAfter` low ones to clear. With a window of 0
/// every reading is scored on its own (the chart's rule, as `vigil score` does).
///
/// The patient's clinical settings (SpO2 scale 2, oxygen, consciousness) enter every score.
/// Readings older than the patient's last scored one (replays after an outage) are stored but
/// not re-scored: they would move the clock backwards. Pure; integer-only scoring.
struct LiveScorer {
    struct Latest: Codable, Equatable {
        var value: Int
        var time: Int64
    }

    /// One patient's latest parameters, the open window, and the alert lifecycle: checkpointed
    /// (``ReadingScorer/State``).
    struct Patient: Codable, Equatable {
        var latest: [NEWS2.Parameter: Latest] = [:]
        var lastScored: Int64 = .min
        var tracker: NEWS2AlertTracker
        /// The open window's values per parameter.
        var window = MedianWindow<NEWS2.Parameter>()
    }

    let settings: ScoringSettings
    var patients: [String: Patient] = [:]

    private var freshnessMilliseconds: Int64 { Int64(settings.news2FreshnessMinutes) * 60_000 }
    private var windowMilliseconds: Int64 { Int64(settings.news2WindowSeconds) * 1_000 }

    init(settings: ScoringSettings) {
        self.settings = settings
    }

    /// Which NEWS2 parameter a channel feeds (pulse rate wins over heart rate when both are sent).
    static let parameters: [(Channel, NEWS2.Parameter)] = [
        (.heartRate, .pulse), (.pulseRate, .pulse), (.respiratoryRate, .respiratoryRate), (.spo2, .spo2),
        (.coreTemperature, .temperature), (.systolicBP, .systolicBP),
    ]

    static let units = ["hr": "0.1 /min", "rr": "0.1 /min", "spo2": "0.1 %", "temp": "0.01 Cel", "sbp": "mm[Hg]"]

    /// The alerts (raise, escalate, clear) the batch's readings cause. `quality[i]` is reading
    /// `i`'s signal quality: its excluded channels do not feed the score (an unusable reading
    /// feeds nothing), and every alert says what was left out and why; `atRest[i]` whether it
    /// was taken at rest (exertion feeds nothing).
    mutating func observe(_ batch: ReadingBatch, quality: [SignalQuality.Assessment]? = nil, atRest: [Bool]? = nil,
                          clinical: ClinicalSettings? = nil) -> [ScoredAlert] {
        var patient = patients[batch.patient]
            ?? Patient(tracker: NEWS2AlertTracker(raiseAfter: settings.news2RaiseAfter, clearAfter: settings.news2ClearAfter))
        defer { patients[batch.patient] = patient }
        var alerts: [ScoredAlert] = []
        for (index, reading) in batch.readings.enumerated() where reading.time >= patient.lastScored {
            let assessment = quality?[index] ?? SignalQuality.Assessment()
            guard assessment.grade < .unusable, atRest?[index] ?? true else { continue }
            let values = reading.values.compactMap { value -> (NEWS2.Parameter, Int)? in
                guard !assessment.excluded.contains(value.channel.rawValue),
                      let parameter = Self.parameters.first(where: { $0.0 == value.channel })?.1 else { return nil }
                return (parameter, Int(value.raw))
            }
            guard !values.isEmpty else { continue }
            patient.lastScored = reading.time
            if windowMilliseconds > 0 {
                if let closed = patient.window.advance(to: reading.time, length: windowMilliseconds) {
                    for (parameter, median) in closed.medians {
                        patient.latest[parameter] = Latest(value: median, time: closed.closedAt)
                    }
                    if let alert = score(&patient, at: reading.time, closedAt: closed.closedAt, batch: batch, assessment: assessment,
                                         clinical: clinical) {
                        alerts.append(alert)
                    }
                }
                for (parameter, value) in values { patient.window.add(parameter, value) }
            } else {
                for (parameter, value) in values { patient.latest[parameter] = Latest(value: value, time: reading.time) }
                if let alert = score(&patient, at: reading.time, closedAt: reading.time, batch: batch, assessment: assessment,
                                     clinical: clinical) {
                    alerts.append(alert)
                }
            }
        }
        return alerts
    }

    /// Scores the patient's fresh values as of `closedAt`; the event, if any, is dated `time`
    /// (the reading that closed the window, so it can be referenced).
    private func score(_ patient: inout Patient, at time: Int64, closedAt: Int64, batch: ReadingBatch,
                       assessment: SignalQuality.Assessment, clinical: ClinicalSettings?) -> ScoredAlert? {
        var observation = NEWS2.Observation()
        var values: [String: Int] = [:]
        func fresh(_ parameter: NEWS2.Parameter) -> Int? {
            guard let latest = patient.latest[parameter], closedAt - latest.time <= freshnessMilliseconds else { return nil }
            values[parameter.rawValue] = latest.value
            return latest.value
        }
        observation.pulse = fresh(.pulse)
        observation.respiratoryRate = fresh(.respiratoryRate)
        observation.spo2 = fresh(.spo2)
        observation.temperature = fresh(.temperature)
        observation.systolicBP = fresh(.systolicBP)
        observation.spo2Scale2 = clinical?.spo2Scale2 ?? false
        observation.onOxygen = clinical?.onOxygen
        observation.consciousness = clinical?.level
        let score = NEWS2.score(observation)
        guard let event = patient.tracker.update(score, at: time) else { return nil }
        var fields = AlertJSON.event(event)
        fields.device = batch.device
        fields.values = values
        fields.units = .perParameter(Self.units.filter { values[$0.key] != nil })
        fields.signalQuality = AlertJSON.quality(assessment)
        if observation.spo2Scale2 { fields.spo2Scale = 2 }
        return ScoredAlert(model: NEWS2AlertTracker.model, key: NEWS2AlertTracker.model, since: event.windowStart,
                           fields: fields, device: batch.device, patient: batch.patient, time: time)
    }
}

/// The alert event of NEWS2, shared by `vigil score` and the live pipeline, so both explain an
/// alert the same way: model and version, the event, risk band and RCP response, the score, each
/// parameter's subscore, what was missing, and the time window.
enum AlertJSON {
    static func event(_ event: NEWS2AlertTracker.Event) -> AlertEvent {
        var alert = AlertEvent(kind: AlertEvent.Kind(rawValue: event.kind.rawValue)!, model: NEWS2AlertTracker.model,
                               version: NEWS2AlertTracker.version)
        alert.risk = event.risk.rawValue
        alert.score = event.score
        alert.response = event.risk.response
        alert.parameters = Dictionary(uniqueKeysWithValues: event.parameters.map { ($0.key.rawValue, $0.value) })
        alert.missing = event.missing.map(\.rawValue)
        alert.windowStart = ISOTime.seconds(event.windowStart)
        alert.windowEnd = ISOTime.seconds(event.windowEnd)
        return alert
    }

    /// A reading's signal quality as alerts report it: grade, issues, and channels left out.
    static func quality(_ assessment: SignalQuality.Assessment) -> AlertEvent.Quality {
        AlertEvent.Quality(grade: assessment.grade.description, issues: assessment.issues.sorted().map(\.rawValue),
                           excluded: assessment.excluded.sorted().compactMap { Channel(rawValue: $0)?.key })
    }
}
