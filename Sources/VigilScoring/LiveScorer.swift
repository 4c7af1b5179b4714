import Foundation
import VigilCore
import VigilModels

/// NEWS2 on live readings, per patient: each new reading updates the patient's latest value of
/// each parameter it carries; the score uses every value still within the freshness window; the
/// alert lifecycle decides whether that raises, escalates or clears an alert. Readings older than
/// the patient's last scored one (replays after an outage) are stored but not re-scored: they
/// would move the clock backwards. Pure; integer-only scoring.
struct LiveScorer {
    struct Latest: Codable, Equatable {
        var value: Int
        var time: Int64
    }

    /// One patient's latest parameters, and the alert lifecycle: checkpointed (``ReadingScorer/State``).
    struct Patient: Codable, Equatable {
        var latest: [NEWS2.Parameter: Latest] = [:]
        var lastScored: Int64 = .min
        var tracker: NEWS2AlertTracker
    }

    let freshnessMilliseconds: Int64
    let clearAfter: Int
    var patients: [String: Patient] = [:]

    init(freshnessMinutes: Int, clearAfter: Int) {
        freshnessMilliseconds = Int64(freshnessMinutes) * 60_000
        self.clearAfter = clearAfter
    }

    /// Which NEWS2 parameter a channel feeds (pulse rate wins over heart rate when both are sent).
    static let parameters: [(Channel, NEWS2.Parameter)] = [
        (.heartRate, .pulse), (.pulseRate, .pulse), (.respiratoryRate, .respiratoryRate), (.spo2, .spo2),
        (.coreTemperature, .temperature), (.systolicBP, .systolicBP),
    ]

    /// The alerts (raise, escalate, clear) the batch's readings cause, as store entries.
    /// `quality[i]` is reading `i`'s signal quality: its excluded channels do not feed the score
    /// (an unusable reading feeds nothing), and every alert says what was left out and why.
    mutating func observe(_ batch: ReadingBatch, quality: [SignalQuality.Assessment]? = nil) -> [ScoredAlert] {
        var patient = patients[batch.patient] ?? Patient(tracker: NEWS2AlertTracker(clearAfter: clearAfter))
        defer { patients[batch.patient] = patient }
        var alerts: [ScoredAlert] = []
        for (index, reading) in batch.readings.enumerated() where reading.time >= patient.lastScored {
            let assessment = quality?[index] ?? SignalQuality.Assessment()
            guard assessment.grade < .unusable else { continue }
            var scored = false
            for value in reading.values where !assessment.excluded.contains(value.channel.rawValue) {
                guard let parameter = Self.parameters.first(where: { $0.0 == value.channel })?.1 else { continue }
                patient.latest[parameter] = Latest(value: Int(value.raw), time: reading.time)
                scored = true
            }
            guard scored else { continue }
            patient.lastScored = reading.time
            var observation = NEWS2.Observation()
            var values: [String: Int] = [:]
            func fresh(_ parameter: NEWS2.Parameter) -> Int? {
                guard let latest = patient.latest[parameter], reading.time - latest.time <= freshnessMilliseconds else { return nil }
                values[parameter.rawValue] = latest.value
                return latest.value
            }
            observation.pulse = fresh(.pulse)
            observation.respiratoryRate = fresh(.respiratoryRate)
            observation.spo2 = fresh(.spo2)
            observation.temperature = fresh(.temperature)
            observation.systolicBP = fresh(.systolicBP)
            let score = NEWS2.score(observation)
            guard let event = patient.tracker.update(score, at: reading.time) else { continue }
            var fields = AlertJSON.event(event)
            fields.device = batch.device
            fields.values = values
            fields.units = .perParameter(["hr": "0.1 /min", "rr": "0.1 /min", "spo2": "0.1 %", "temp": "0.01 Cel", "sbp": "mm[Hg]"]
                .filter { values[$0.key] != nil })
            fields.signalQuality = AlertJSON.quality(assessment)
            alerts.append(ScoredAlert(model: NEWS2AlertTracker.model, key: NEWS2AlertTracker.model, since: event.windowStart,
                                      fields: fields, device: batch.device, patient: batch.patient, time: reading.time))
        }
        return alerts
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
