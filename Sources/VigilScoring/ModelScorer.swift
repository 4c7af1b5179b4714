import Foundation
import VigilCore
import VigilModels

/// Quantized models on live readings, per patient: each model's features are the patient's latest
/// fresh values of its channels (values excluded for signal quality are not used); the model runs
/// when every feature is fresh, and ``BinaryAlertTracker`` turns its results into alerts that carry
/// the model id and version, the integer output, the values and the signal quality. Pure.
struct ModelScorer {
    struct Latest: Codable, Equatable {
        var value: Int32
        var time: Int64
    }

    /// One patient's latest values and each model's alert lifecycle (by model id, so a model
    /// added or removed between restarts does not inherit another's state): checkpointed.
    struct Patient: Codable, Equatable {
        var latest: [UInt8: Latest] = [:]
        var lastScored: Int64 = .min
        var trackers: [String: BinaryAlertTracker] = [:]
    }

    let models: [QuantizedModel]
    let freshnessMilliseconds: Int64
    var patients: [String: Patient] = [:]

    init(models: [QuantizedModel], freshnessMinutes: Int) {
        self.models = models
        freshnessMilliseconds = Int64(freshnessMinutes) * 60_000
    }

    /// The alerts the batch causes, each with the id of the model that raised it.
    mutating func observe(_ batch: ReadingBatch, quality: [SignalQuality.Assessment]) -> [ScoredAlert] {
        guard !models.isEmpty else { return [] }
        var patient = patients[batch.patient] ?? Patient()
        defer { patients[batch.patient] = patient }
        var alerts: [ScoredAlert] = []
        for (index, reading) in batch.readings.enumerated() where reading.time >= patient.lastScored {
            let assessment = quality[index]
            guard assessment.grade < .unusable else { continue }
            for value in reading.values where !assessment.excluded.contains(value.channel.rawValue) {
                patient.latest[value.channel.rawValue] = Latest(value: Int32(value.raw), time: reading.time)
            }
            patient.lastScored = reading.time
            for model in models {
                let inputs = model.features.map { feature in
                    patient.latest[feature.channel].flatMap { reading.time - $0.time <= freshnessMilliseconds ? $0.value : nil }
                }
                guard inputs.allSatisfy({ $0 != nil }) else { continue }
                let output = model.evaluate(inputs.map { $0! })
                var tracker = patient.trackers[model.model] ?? BinaryAlertTracker()
                let event = tracker.update(positive: output.positive, at: reading.time)
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
                fields.windowEnd = ISOTime.seconds(reading.time)
                fields.signalQuality = AlertJSON.quality(assessment)
                alerts.append(ScoredAlert(model: model.model, key: model.model, since: since, fields: fields,
                                          device: batch.device, patient: batch.patient, time: reading.time))
            }
        }
        return alerts
    }
}
