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
        let fields = (try? JSONSerialization.jsonObject(with: Data(alert.json))) as? [String: Any] ?? [:]
        let model = fields["model"] as? String ?? "unknown"
        let event = fields["event"] as? String ?? "unknown"
        let alertID = fields["alert_id"] as? String ?? "\(model)@\(alert.time)"
        let identifier = "urn:vigil:\(gateway):alert:\(alert.patient):\(alertID):\(event):\(alert.time)"
        var resources: [FHIRResource] = []
        var reasons: [String] = []
        if let boot = fields["boot"] as? Int, let seq = fields["seq"] as? Int {
            reasons.append("urn:vigil:\(gateway):obs:\(alert.device):\(boot):\(seq):cts")
        }
        if model == "news2", let score = fields["score"] as? Int, event != "acknowledge" {
            let news2 = news2Observation(alert, score: score, fields: fields)
            resources.append(news2)
            reasons.insert(news2.identifier, at: 0)
        }
        let risk = fields["risk"] as? String
        let notify = fields["notify"] as? Bool ?? true
        let priority: String = switch (event, risk) {
        case ("clear", _), ("acknowledge", _): "routine"
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
                        json.field("data", Data(alert.json).base64EncodedString())
                    }
                }
            }
        }
        resources.append(FHIRResource(type: "Communication", identifier: identifier, json: json.bytes))
        return resources
    }

    private func news2Observation(_ alert: AlertEntry, score: Int, fields: [String: Any]) -> FHIRResource {
        let identifier = "urn:vigil:\(gateway):news2:\(alert.patient):\(alert.time)"
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
            if let missing = fields["missing"] as? [String], !missing.isEmpty {
                json.key("note")
                json.array { json in json.object { json in json.field("text", "scored without: " + missing.joined(separator: ", ")) } }
            }
            json.field("device") { json in json.field("reference", deviceReference(gatewayIdentifier)) }
        }
        return FHIRResource(type: "Observation", identifier: identifier, json: json.bytes)
    }

    /// One readable line: what happened, by which model, and why.
    static func summary(_ fields: [String: Any], event: String, model: String) -> String {
        var parts = ["\(model) alert \(event)"]
        if let risk = fields["risk"] as? String, let score = fields["score"] as? Int {
            parts.append("NEWS2 \(score) (\(risk))")
        }
        if let subscores = fields["parameters"] as? [String: Int], !subscores.isEmpty {
            parts.append("subscores " + subscores.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let vital = fields["vital"] as? String, let direction = fields["direction"] as? String {
            parts.append("\(vital) drifting \(direction) from the patient's baseline")
        }
        if let response = fields["response"] as? String { parts.append(response) }
        if let by = fields["by"] as? String { parts.append("acknowledged by \(by)") }
        if let quality = fields["signal_quality"] as? [String: Any], let grade = quality["grade"] as? String, grade != "good" {
            parts.append("signal quality \(grade)")
        }
        return parts.joined(separator: "; ")
    }
}
