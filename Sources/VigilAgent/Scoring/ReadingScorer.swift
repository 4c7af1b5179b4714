import Foundation
import VigilCore
import VigilModels
import VigilStore

/// Everything the agent computes per stored reading, in one place: the device's signal quality
/// (graded into the reading's flags), NEWS2 and its alert lifecycle, and the quantized models.
/// Pure; the pipeline calls it once per accepted frame, `vigil-bench scoring` measures it.
package struct ReadingScorer {
    private var quality: [String: SignalQuality] = [:]
    private var news2: LiveScorer
    private var models: ModelScorer
    private var limiter = AlertRateLimiter()

    package init(models: [QuantizedModel], freshnessMinutes: Int, clearAfter: Int) {
        news2 = LiveScorer(freshnessMinutes: freshnessMinutes, clearAfter: clearAfter)
        self.models = ModelScorer(models: models, freshnessMinutes: freshnessMinutes)
    }

    /// Grades the batch's readings (their flags gain the quality grade) and returns the alerts
    /// they cause, each with the id of the model that raised it.
    package mutating func score(_ batch: inout ReadingBatch) -> [(model: String, alert: AlertEntry)] {
        var monitor = quality[batch.device] ?? SignalQuality()
        var assessments: [SignalQuality.Assessment] = []
        assessments.reserveCapacity(batch.readings.count)
        for index in batch.readings.indices {
            let reading = batch.readings[index]
            let assessment = monitor.assess(time: reading.time, values: reading.values.map { ($0.channel, $0.raw) })
            batch.readings[index].flags |= UInt8(assessment.grade.rawValue) << StoredReading.qualityShift
            assessments.append(assessment)
        }
        quality[batch.device] = monitor
        let alerts = news2.observe(batch, quality: assessments).map { (model: NEWS2AlertTracker.model, alert: $0) }
            + models.observe(batch, quality: assessments)
        return alerts.map { (model, alert) in (model, limited(alert, model: model)) }
    }

    /// Marks a raise over the patient's budget for this model as not to be notified (it is still
    /// stored and uploaded); escalations and clears always notify.
    private mutating func limited(_ alert: AlertEntry, model: String) -> AlertEntry {
        guard var fields = (try? JSONSerialization.jsonObject(with: Data(alert.json))) as? [String: Any] else { return alert }
        var notify = true
        if fields["event"] as? String == "raise" {
            notify = limiter.allowRaise(alert.patient + "/" + model, at: alert.time)
        }
        fields["notify"] = notify
        if !notify { fields["suppressed_reason"] = "rate_limited" }
        guard let json = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return alert }
        var copy = alert
        copy.json = Array(json)
        return copy
    }
}
