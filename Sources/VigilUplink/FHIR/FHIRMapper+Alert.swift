import Foundation
import VigilStore

extension FHIRMapper {
    /// An alert event (raise, escalate, remind, clear, acknowledge) as a Communication, the
    /// resource for a message to the care team: it has a priority the team's systems route on
    /// (`stat` for NEWS2 high, `asap` for medium, `urgent` for other raises and reminders,
    /// `routine` for clears, acknowledgements and rate-limited raises), category `alert`, the
    /// patient, the gateway as sender, a readable explanation plus the full machine-readable
    /// alert as a JSON attachment, and `reasonReference` to the Observations that triggered it
    /// (by identifier, so it holds even before the readings themselves are uploaded). Flag would
    /// lose the message semantics and DetectedIssue is meant for order checks. A NEWS2 event is
    /// also an Observation of the score, which the Communication references.
    func alert(_ alert: AlertEntry) -> [FHIRResource] {
        let fields = alert.event
        let model = fields.model
        let event = fields.kind.rawValue
        let alertID = fields.alertID ?? "\(model)@\(alert.time)"
        let identifier = identifiers.alert(patient: alert.patient, alertID: alertID, event: event, time: alert.time)
        var resources: [FHIRResource] = []
        var reasons: [String] = []
        if let boot = fields.boot, let seq = fields.seq {
            // Alerts stored before `frame_seq` existed name the reading's own sequence.
            reasons.append(identifiers.timeStamp(device: alert.device, boot: boot, firstSeq: fields.frameSeq ?? seq))
        }
        if model == "news2", let score = fields.score, fields.kind != .acknowledge {
            let news2 = news2Observation(alert, score: score, fields: fields)
            resources.append(news2)
            reasons.insert(news2.identifier, at: 0)
        }
        let notify = fields.notify ?? true
        let priority: String = switch (fields.kind, fields.risk) {
        case (.clear, _), (.acknowledge, _): "routine"
        case _ where !notify: "routine"
        case (_, "high"): "stat"
        case (_, "medium"): "asap"
        default: "urgent"
        }
        var json = JSONWriter(capacity: 1_500)
        json.object { json in
            json.field("resourceType", "Communication")
            identifierArray(&json, identifier)
            json.field("status", "completed")
            category(&json, system: "http://terminology.hl7.org/CodeSystem/communication-category", code: "alert")
            json.field("priority", priority)
            json.field("subject") { json in json.field("reference", alert.patient) }
            json.field("sent", fhirInstant(alert.time))
            json.field("sender") { json in json.field("reference", deviceReference(gatewayIdentifier)) }
            if !reasons.isEmpty {
                json.key("reasonReference")
                json.array { json in
                    for reason in reasons {
                        json.object { json in
                            json.field("identifier") { json in
                                json.field("system", FHIRResource.identifierSystem)
                                json.field("value", reason)
                            }
                        }
                    }
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
        resources.append(FHIRResource(type: "Communication", identifier: identifier, json: json.bytes))
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
            json.field("subject") { json in json.field("reference", alert.patient) }
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

    /// One readable line: what happened, by which model, and why.
    static func summary(_ fields: AlertEvent, event: String, model: String) -> String {
        if fields.kind == .settings {
            return "clinical settings changed by \(fields.by ?? "unknown"): \(fields.summary ?? "")"
        }
        var parts = ["\(model) alert \(event)"]
        if let risk = fields.risk, let score = fields.score {
            parts.append("NEWS2 \(score) (\(risk))")
        }
        if let subscores = fields.parameters, !subscores.isEmpty {
            parts.append("subscores " + subscores.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let vital = fields.vital, let direction = fields.direction {
            parts.append("\(vital) drifting \(direction) from the patient's baseline")
        }
        if let response = fields.response { parts.append(response) }
        if let by = fields.by { parts.append("acknowledged by \(by)") }
        if let grade = fields.signalQuality?.grade, grade != "good" {
            parts.append("signal quality \(grade)")
        }
        return parts.joined(separator: "; ")
    }
}
