import Foundation
import VigilCore
import VigilModels

/// Per-patient daily profiles and drift alerts (``VitalDrift``) for each NEWS2 vital on live
/// readings taken at rest. Values that signal quality excluded, unusable readings, and readings
/// during or just after activity feed nothing. Pure.
struct DriftScorer {
    static let model = "drift"
    static let version = "circadian-2"

    /// Per vital: the channels that feed it, its key, units, and its settings: the minimum
    /// clinically meaningful effect per direction (the change a clinician would act on when it
    /// lasts, well above a wearable's noise and a normal day's spread at the same hour) and how
    /// long it must last. Blood pressure comes from a cuff a few times a day: two readings in a
    /// row beyond the effect, each counting fully.
    static let vitals: [(key: String, channels: [Channel], units: String, settings: VitalDrift.Settings)] = [
        ("hr", [.pulseRate, .heartRate], "0.1 /min", .init(up: 150, down: 250)),
        ("rr", [.respiratoryRate], "0.1 /min", .init(up: 40, down: nil)),
        ("spo2", [.spo2], "0.1 %", .init(up: nil, down: 30)),
        ("temp", [.coreTemperature], "0.01 Cel", .init(up: 60, down: 80)),
        ("sbp", [.systolicBP], "mm[Hg]", .init(up: nil, down: 20, persistMinutes: 2, smoothShift: 0, clearMinutes: 2,
                                               minimumSlots: 2, minutesPerHour: 1)),
    ]

    /// Per patient, one monitor per vital in ``vitals`` order: checkpointed.
    var patients: [String: [VitalDrift]] = [:]

    /// The monitors for a patient, with a clinician's minimum effects where set.
    private func monitors(for patient: String, clinical: ClinicalSettings?) -> [VitalDrift] {
        var monitors = patients[patient] ?? Self.vitals.map { VitalDrift($0.settings) }
        for (index, vital) in Self.vitals.enumerated() {
            var settings = vital.settings
            if let override = clinical?.driftEffects?[vital.key] {
                if settings.up != nil { settings.up = override.up ?? settings.up }
                if settings.down != nil { settings.down = override.down ?? settings.down }
            }
            if monitors[index].settings != settings { monitors[index].settings = settings }
        }
        return monitors
    }

    mutating func observe(_ batch: ReadingBatch, quality: [SignalQuality.Assessment], atRest: [Bool],
                          clinical: ClinicalSettings?) -> [ScoredAlert] {
        var monitors = monitors(for: batch.patient, clinical: clinical)
        defer { patients[batch.patient] = monitors }
        var alerts: [ScoredAlert] = []
        for (index, reading) in batch.readings.enumerated() {
            let assessment = quality[index]
            guard assessment.grade < .unusable, atRest[index] else { continue }
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
                case .raise(let direction, let start, let baseline, let level, let effect):
                    since = start
                    fields.direction = direction.rawValue
                    fields.baseline = baseline
                    fields.value = level
                    fields.minimumEffect = effect
                case .clear(let start, let baseline, let level):
                    since = start
                    fields.kind = .clear
                    fields.baseline = baseline
                    fields.value = level
                }
                fields.windowStart = ISOTime.seconds(since)
                alerts.append(ScoredAlert(model: Self.model, key: "\(Self.model)/\(vital.key)", since: since,
                                          fields: fields, device: batch.device, patient: batch.patient, time: reading.time))
            }
        }
        return alerts
    }

    /// Accepts the vital's current level as the patient's new normal (acknowledgement of its
    /// drift alert): the profile moves to it.
    mutating func rebaseline(patient: String, vital: String) {
        guard let index = Self.vitals.firstIndex(where: { $0.key == vital }), patients[patient] != nil else { return }
        _ = patients[patient]![index].acknowledge()
    }
}
