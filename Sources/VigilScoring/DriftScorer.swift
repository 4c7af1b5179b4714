import Foundation
import VigilCore
import VigilModels

/// Per-patient baselines and CUSUM drift (``VitalDrift``) for each NEWS2 vital on live readings.
/// Values that signal quality excluded, and unusable readings, feed nothing. Pure.
struct DriftScorer {
    static let model = "drift"
    static let version = "cusum-1"

    /// Per vital: the channels that feed it, its key, units, and the smallest σ that counts (a
    /// clinically meaningful spread) and the directions that matter.
    static let vitals: [(key: String, channels: [Channel], units: String, settings: VitalDrift.Settings)] = [
        ("hr", [.pulseRate, .heartRate], "0.1 /min", .init(sigmaFloor: 30)),
        ("rr", [.respiratoryRate], "0.1 /min", .init(sigmaFloor: 15)),
        ("spo2", [.spo2], "0.1 %", .init(sigmaFloor: 10, direction: .down)),
        ("temp", [.coreTemperature], "0.01 Cel", .init(sigmaFloor: 20)),
        ("sbp", [.systolicBP], "mm[Hg]", .init(sigmaFloor: 5)),
    ]

    /// Per patient, one monitor per vital in ``vitals`` order: checkpointed.
    var patients: [String: [VitalDrift]] = [:]

    mutating func observe(_ batch: ReadingBatch, quality: [SignalQuality.Assessment]) -> [ScoredAlert] {
        var monitors = patients[batch.patient] ?? Self.vitals.map { VitalDrift($0.settings) }
        defer { patients[batch.patient] = monitors }
        var alerts: [ScoredAlert] = []
        for (index, reading) in batch.readings.enumerated() {
            let assessment = quality[index]
            guard assessment.grade < .unusable else { continue }
            for (vitalIndex, vital) in Self.vitals.enumerated() {
                guard let value = vital.channels.lazy.compactMap({ channel in
                    reading.values.first { $0.channel == channel && !assessment.excluded.contains($0.channel.rawValue) }
                }).first else { continue }
                guard let event = monitors[vitalIndex].update(Int(value.raw), at: reading.time) else { continue }
                var fields = AlertEvent(kind: .raise, model: Self.model, version: Self.version)
                fields.device = batch.device
                fields.vital = vital.key
                fields.units = .one(vital.units)
                fields.windowEnd = ISOTime.seconds(reading.time)
                fields.signalQuality = AlertJSON.quality(assessment)
                let since: Int64
                switch event {
                case .raise(let direction, let start, let baseline, let minuteMean, let sigma):
                    since = start
                    fields.direction = direction.rawValue
                    fields.baseline = baseline
                    fields.value = minuteMean
                    fields.sigma = sigma
                case .clear(let start, let baseline, let minuteMean):
                    since = start
                    fields.kind = .clear
                    fields.baseline = baseline
                    fields.value = minuteMean
                }
                fields.windowStart = ISOTime.seconds(since)
                alerts.append(ScoredAlert(model: Self.model, key: "\(Self.model)/\(vital.key)", since: since,
                                          fields: fields, device: batch.device, patient: batch.patient, time: reading.time))
            }
        }
        return alerts
    }

    /// Accepts the vital's current level as the patient's new normal (acknowledgement of its
    /// drift alert): the baseline warms up again.
    mutating func rebaseline(patient: String, vital: String) {
        guard let index = Self.vitals.firstIndex(where: { $0.key == vital }), patients[patient] != nil else { return }
        _ = patients[patient]![index].acknowledge()
    }
}
