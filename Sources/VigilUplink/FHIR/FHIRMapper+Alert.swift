import Foundation
import VigilStore

extension FHIRMapper {
    /// An alert event (raise, escalate, remind, clear, acknowledge) as a Communication, the
    /// resource for a message to the care team: it has a priority the team's systems route on
    /// (`stat` for NEWS2 high, `asap` for medium, `urgent` for other raises and reminders,
    /// `routine` for clears, acknowledgements and rate-limited raises), category `alert`, the
    /// patient, the gateway as sender, a readable explanation plus the full machine-readable
    /// alert as a JSON attachment (naming the triggering reading: device, boot, sequence), and for
    /// NEWS2 `reasonReference` to the score Observation sent in the same Bundle. Alerts travel
    /// ahead of the readings, so a reference to a reading's Observation could not be resolved
    /// when the alert arrives; the recipients are the configured care team. Flag would
    /// lose the message semantics and DetectedIssue is meant for order checks. A NEWS2 event is
    /// also an Observation of the score, which the Communication references.
    func alert(_ alert: AlertEntry) -> [FHIRResource] {
        let fields = alert.event
        let model = fields.model
        let event = fields.kind.rawValue
        let alertID = fields.alertID ?? "\(model)@\(alert.time)"
        let identifier = identifiers.alert(patient: alert.patient, alertID: alertID, event: event, time: alert.time)
        var resources: [FHIRResource] = []
        var reasons: [FHIRResource.Link] = []
        if model == "news2", let score = fields.score, fields.kind != .acknowledge {
            let news2 = news2Observation(alert, score: score, fields: fields)
            resources.append(news2)
            reasons.append(FHIRResource.Link(type: "Observation", identifier: news2.identifier))
        }
        let notify = fields.notify ?? true
        let technical = fields.condition != nil
        let priority: String = switch (fields.kind, fields.risk) {
        case (.clear, _), (.acknowledge, _), (.settings, _): "routine"
        case _ where !notify: "routine"
        case (.escalate, _) where technical: "asap"
        case (_, "high"): "stat"
        case (_, "medium"): "asap"
        default: "urgent"
        }
        var json = JSONWriter(capacity: 1_500)
        json.object { json in
            json.field("resourceType", "Communication")
            identifierArray(&json, identifier)
            json.field("status", "completed")
            json.key("category")
            json.array { json in
                json.object { json in
                    json.key("coding")
                    json.array { json in json.object { json in
                        json.field("system", "http://terminology.hl7.org/CodeSystem/communication-category"); json.field("code", "alert")
                    } }
                }
                // Technical (the patient is not being monitored) or physiological (what the
                // vitals say): IEC 60601-1-8's two kinds of alarm condition, routed apart.
                let kind = fields.kind == .settings ? "settings" : technical ? "technical" : "physiological"
                json.object { json in
                    json.key("coding")
                    json.array { json in json.object { json in
                        json.field("system", Self.alertClassSystem); json.field("code", kind)
                    } }
                }
            }
            json.field("priority", priority)
            json.field("topic") { json in json.field("text", fields.condition.map { "technical alert: \($0)" } ?? "\(model) alert") }
            if !alert.patient.isEmpty { json.field("subject") { json in json.field("reference", patientReference(alert.patient)) } }
            if technical, !alert.device.isEmpty {
                // The sensor it is about (reasonReference may not name a Device).
                json.key("about")
                json.array { json in json.object { json in json.field("reference", deviceReference(identifiers.device(alert.device))) } }
            }
            json.field("sent", fhirInstant(alert.time))
            if !alertRecipients.isEmpty {
                json.key("recipient")
                json.array { json in
                    for recipient in alertRecipients { json.object { json in json.field("reference", recipient) } }
                }
            }
            json.field("sender") { json in json.field("reference", deviceReference(gatewayIdentifier)) }
            if !reasons.isEmpty {
                json.key("reasonReference")
                json.array { json in
                    for reason in reasons { json.object { json in linkReference(&json, reason) } }
                }
            }
            json.key("payload")
            json.array { json in
                json.object { json in json.field("contentString", Self.summary(fields, event: event, model: model)) }
                json.object { json in
                    json.field("contentAttachment") { json in
                        json.field("contentType", "application/json")
                        json.field("data", Data(fields.jsonBytes).base64EncodedString())
                    }
                }
            }
        }
        resources.append(FHIRResource(type: "Communication", identifier: identifier, json: json.bytes, links: reasons))
        return resources
    }

    private func news2Observation(_ alert: AlertEntry, score: Int, fields: AlertEvent) -> FHIRResource {
        let identifier = identifiers.news2Score(patient: alert.patient, time: alert.time)
        var json = JSONWriter(capacity: 700)
        json.object { json in
            json.field("resourceType", "Observation")
            identifierArray(&json, identifier)
            json.field("status", "final")
            category(&json, system: Self.categorySystem, code: "survey")
            json.field("code") { json in
                json.key("coding")
                json.array { json in json.object { json in
                    json.field("system", "http://snomed.info/sct"); json.field("code", "1104051000000101")
                    json.field("display", "Royal College of Physicians National Early Warning Score 2 (NEWS2) score")
                } }
                json.field("text", "NEWS2")
            }
            json.field("subject") { json in json.field("reference", patientReference(alert.patient)) }
            json.field("effectiveDateTime", fhirInstant(alert.time))
            json.key("valueInteger")
            json.raw(String(score))
            if let missing = fields.missing, !missing.isEmpty {
                json.key("note")
                json.array { json in json.object { json in json.field("text", "scored without: " + missing.joined(separator: ", ")) } }
            }
            json.field("device") { json in json.field("reference", deviceReference(gatewayIdentifier)) }
        }
        return FHIRResource(type: "Observation", identifier: identifier, json: json.bytes)
    }

    /// The code system of the second Communication category: `technical`, `physiological`, `settings`.
    static let alertClassSystem = "urn:vigil:alert-class"

    /// What a nurse reads without opening the attachment: what happened, by which model, the
    /// measured values with their units, what the score had to do without, the signal quality;
    /// for a technical alert what happened since when and what to do.
    static func summary(_ fields: AlertEvent, event: String, model: String) -> String {
        if fields.kind == .settings {
            return "clinical settings changed by \(fields.by ?? "unknown"): \(fields.summary ?? "")"
        }
        if let condition = fields.condition {
            var parts = ["technical alert \(event) (\(condition.replacingOccurrences(of: "_", with: " ")))"]
            if let summary = fields.summary { parts.append(summary) }
            if let by = fields.by { parts.append("acknowledged by \(by)") }
            if let action = fields.action { parts.append("what to do: \(action)") }
            return parts.joined(separator: "; ")
        }
        var parts = ["\(model) alert \(event)"]
        if let risk = fields.risk, let score = fields.score {
            parts.append("NEWS2 \(score) (\(risk))")
        }
        if let values = fields.values, let text = ReadableValues.text(values, units: fields.units), !text.isEmpty {
            parts.append(text)
        }
        if let vital = fields.vital, let direction = fields.direction {
            var drift = "\(ReadableValues.name(vital)) drifting \(direction) from the patient's baseline"
            if case .one(let unit) = fields.units, let value = fields.value, let baseline = fields.baseline {
                drift += " (\(ReadableValues.format(value, unit: unit)) against \(ReadableValues.format(baseline, unit: unit)) usual at this hour)"
            }
            parts.append(drift)
        }
        if let subscores = fields.parameters, !subscores.isEmpty {
            parts.append("subscores " + subscores.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let missing = fields.missing, !missing.isEmpty {
            parts.append("scored without " + missing.map(ReadableValues.name).joined(separator: ", "))
        }
        if let response = fields.response { parts.append(response) }
        if let by = fields.by { parts.append("acknowledged by \(by)") }
        if let quality = fields.signalQuality {
            var text = "signal quality \(quality.grade)"
            if !quality.issues.isEmpty { text += " (\(quality.issues.joined(separator: ", ")))" }
            parts.append(text)
        }
        return parts.joined(separator: "; ")
    }
}

/// Fixed-point values as a nurse reads them: "SpO2 88 %, respiratory rate 26 /min".
enum ReadableValues {
    static let names = [
        "hr": "heart rate", "pr": "pulse rate", "rr": "respiratory rate", "spo2": "SpO2", "temp": "temperature",
        "core_temp": "temperature", "sbp": "systolic BP", "dbp": "diastolic BP", "pi": "perfusion index",
        "activity": "activity", "consciousness": "consciousness", "on_oxygen": "on oxygen",
    ]
    /// The order a chart lists them in.
    static let order = ["rr", "spo2", "sbp", "dbp", "hr", "pr", "temp", "core_temp", "pi", "activity"]

    static func name(_ key: String) -> String { names[key] ?? key }

    static func text(_ values: [String: Int], units: AlertEvent.Units?) -> String? {
        let keys = values.keys.sorted { (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1) }
        let parts: [String] = keys.compactMap { key in
            let unit: String? = switch units {
            case .one(let unit): unit
            case .perParameter(let units): units[key]
            case nil: nil
            }
            guard let unit else { return nil }
            return "\(name(key)) \(format(values[key]!, unit: unit))"
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    /// `260` in `0.1 /min` → `26 /min`; `3840` in `0.01 Cel` → `38.4 °C`.
    static func format(_ value: Int, unit: String) -> String {
        let pieces = unit.split(separator: " ", maxSplits: 1).map(String.init)
        var decimals = 0
        var symbol = unit
        if pieces.count == 2, let scale = Double(pieces[0]), scale < 1 {
            decimals = pieces[0] == "0.1" ? 1 : 2
            symbol = pieces[1]
        }
        var divisor = 1
        for _ in 0..<decimals { divisor *= 10 }
        let sign = value < 0 ? "-" : ""
        let magnitude = abs(value)
        var number = "\(magnitude / divisor)"
        var fraction = magnitude % divisor
        if decimals == 2, fraction % 10 == 0 { fraction /= 10; decimals = 1 }
        if fraction != 0 {
            let digits = String(fraction)
            number += "." + String(repeating: "0", count: max(0, decimals - digits.count)) + digits
        }
        let shown = ["Cel": "°C", "mm[Hg]": "mmHg", "m[g]": "mg", "dB[mW]": "dBm"][symbol] ?? symbol
        return "\(sign)\(number) \(shown)"
    }
}
