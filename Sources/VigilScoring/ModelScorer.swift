import Foundation
import VigilCore
import VigilModels

/// Quantized models on live readings, per patient. On a wearable stream (windows, as NEWS2) each
/// model's features are the medians of the last closed window's readings taken at rest (a feature
/// absent from it keeps its last median while fresh), the model runs once per window, and
/// ``BinaryAlertTracker`` needs the same persistence as NEWS2 (windows in a row) to raise and to
/// clear. With a window of 0 the model runs on every reading's latest fresh values (raise after
/// 2 positives, clear after 3). Values excluded for signal quality are not used. Alerts carry the
/// model id and version, the integer output, the values and the signal quality. Pure.
struct ModelScorer {
    struct Latest: Codable, Equatable {
        var value: Int32
        var time: Int64
    }

    /// One patient's latest values, the open window and each model's alert lifecycle (by model
    /// id, so a model added or removed between restarts does not inherit another's state):
    /// checkpointed.
    struct Patient: Codable, Equatable {
        var latest: [UInt8: Latest] = [:]
        var lastScored: Int64 = .min
        var trackers: [String: BinaryAlertTracker] = [:]
        var window = MedianWindow<UInt8>()
    }

    let models: [QuantizedModel]
    let settings: ScoringSettings
    var patients: [String: Patient] = [:]
    /// Every channel some model reads.
    private let channels: Set<UInt8>

    private var freshnessMilliseconds: Int64 { Int64(settings.news2FreshnessMinutes) * 60_000 }
    private var windowMilliseconds: Int64 { Int64(settings.news2WindowSeconds) * 1_000 }

    init(models: [QuantizedModel], settings: ScoringSettings) {
        self.models = models
        self.settings = settings
        channels = Set(models.flatMap { $0.features.map(\.channel) })
    }

    private func tracker() -> BinaryAlertTracker {
        windowMilliseconds > 0
            ? BinaryAlertTracker(raiseAfter: settings.news2RaiseAfter, clearAfter: settings.news2ClearAfter)
            : BinaryAlertTracker(raiseAfter: 2, clearAfter: 3)
    }

    /// The alerts the batch causes, each with the id of the model that raised it.
    mutating func observe(_ batch: ReadingBatch, quality: [SignalQuality.Assessment], atRest: [Bool]) -> [ScoredAlert] {
        guard !models.isEmpty else { return [] }
        var patient = patients[batch.patient] ?? Patient()
        defer { patients[batch.patient] = patient }
        var alerts: [ScoredAlert] = []
        for (index, reading) in batch.readings.enumerated() where reading.time >= patient.lastScored {
            let assessment = quality[index]
            guard assessment.grade < .unusable, windowMilliseconds == 0 || atRest[index] else { continue }
            let values = reading.values.filter { channels.contains($0.channel.rawValue) && !assessment.excluded.contains($0.channel.rawValue) }
            patient.lastScored = reading.time
            if windowMilliseconds > 0 {
                if let closed = patient.window.advance(to: reading.time, length: windowMilliseconds) {
                    for (channel, median) in closed.medians {
                        patient.latest[channel] = Latest(value: Int32(median), time: closed.closedAt)
                    }
                    alerts += evaluate(&patient, asOf: closed.closedAt, at: reading.time, batch: batch, assessment: assessment)
                }
                for value in values { patient.window.add(value.channel.rawValue, Int(value.raw)) }
            } else {
                for value in values { patient.latest[value.channel.rawValue] = Latest(value: Int32(value.raw), time: reading.time) }
                alerts += evaluate(&patient, asOf: reading.time, at: reading.time, batch: batch, assessment: assessment)
            }
        }
        return alerts
    }

    private func evaluate(_ patient: inout Patient, asOf: Int64, at time: Int64, batch: ReadingBatch,
                          assessment: SignalQuality.Assessment) -> [ScoredAlert] {
        var alerts: [ScoredAlert] = []
        for model in models {
            let inputs = model.features.map { feature in
                patient.latest[feature.channel].flatMap { asOf - $0.time <= freshnessMilliseconds ? $0.value : nil }
            }
            guard inputs.allSatisfy({ $0 != nil }) else { continue }
            let output = model.evaluate(inputs.map { $0! })
            var tracker = patient.trackers[model.model] ?? tracker()
            let event = tracker.update(positive: output.positive, at: time)
            patient.trackers[model.model] = tracker
            guard let event else { continue }
            let (kind, since): (AlertEvent.Kind, Int64) = switch event {
            case .raise(let since): (.raise, since)
            case .clear(let since): (.clear, since)
            }
            var fields = AlertEvent(kind: kind, model: model.model, version: model.version)
            fields.device = batch.device
            fields.output = Int(output.accumulator)
            fields.fractionBits = model.fractionBits
            fields.threshold = Int(model.threshold)
            fields.values = Dictionary(uniqueKeysWithValues: zip(model.features.map(\.name), inputs.map { Int($0!) }))
            fields.windowStart = ISOTime.seconds(since)
            fields.windowEnd = ISOTime.seconds(time)
            fields.signalQuality = AlertJSON.quality(assessment)
            alerts.append(ScoredAlert(model: model.model, key: model.model, since: since, fields: fields,
                                      device: batch.device, patient: batch.patient, time: time))
        }
        return alerts
    }
}
