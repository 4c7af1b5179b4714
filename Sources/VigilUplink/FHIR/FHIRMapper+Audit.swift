import Foundation

extension FHIRMapper {
    static let dicomSystem = "http://dicom.nema.org/resources/ontology/DCM"
    static let auditActionSystem = "urn:vigil:audit-action"
    static let entityTypeSystem = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
    static let objectRoleSystem = "http://terminology.hl7.org/CodeSystem/object-role"

    /// The DICOM audit event type (IHE's and BALP's vocabulary) and FHIR action code of a Vigil
    /// audit action: patient data seen or changed is a patient record event, a refusal or a key
    /// change a security alert, an export an export, the rest application activity.
    static func auditType(_ action: String) -> (code: String, display: String, action: String) {
        switch action {
        case "phi.view": ("110110", "Patient Record", "R")
        case "patient.settings": ("110110", "Patient Record", "U")
        case "store.export": ("110106", "Export", "R")
        case "access.denied": ("110113", "Security Alert", "E")
        case "keys.init": ("110113", "Security Alert", "C")
        case "keys.rotate": ("110113", "Security Alert", "U")
        case "sensor.add": ("110100", "Application Activity", "C")
        case "sensor.remove": ("110100", "Application Activity", "D")
        default: ("110100", "Application Activity", "U")
        }
    }

    /// The logical id of the entry's AuditEvent: `<gateway>-audit-<seq>` (a gateway id's `_`
    /// becomes `.`, which gateway ids never hold, to fit FHIR's id pattern).
    public func auditEventID(seq: UInt64) -> String {
        gateway.replacingOccurrences(of: "_", with: ".") + "-audit-\(seq)"
    }

    /// One audit entry as an AuditEvent in the manner of IHE's Basic Audit Log Patterns: the
    /// event type, Vigil's action as subtype, the person (uid, account, role) as requesting
    /// agent, the gateway as source, the patient or sensor concerned as entity, and the chain link
    /// (seq, key, prev, mac and the line itself) as a second entity the hospital checks the box
    /// against. Sent by logical id (`PUT AuditEvent/<id>`): R4 gives AuditEvent no identifier,
    /// and a hospital's audit repository keeps the first version.
    public func auditEvent(_ record: AuditRecord) -> FHIRResource {
        let id = auditEventID(seq: record.seq)
        let action = record.fields["action"] ?? "unknown"
        let type = Self.auditType(action)
        var json = JSONWriter(capacity: 1_024 + record.line.count * 2)
        json.object { json in
            json.field("resourceType", "AuditEvent")
            json.field("id", id)
            Self.coding(&json, "type", Self.dicomSystem, type.code, type.display)
            json.key("subtype")
            json.array { json in json.object { json in
                json.field("system", Self.auditActionSystem)
                json.field("code", action)
            } }
            json.field("action", type.action)
            json.field("recorded", record.fields["time"] ?? "1970-01-01T00:00:00Z")
            // 4: minor failure (the request was refused); 0: success.
            json.field("outcome", action == "access.denied" ? "4" : "0")
            json.key("agent")
            json.array { json in json.object { json in
                json.field("type") { json in
                    json.key("coding")
                    json.array { json in json.object { json in
                        json.field("system", "http://terminology.hl7.org/CodeSystem/extra-security-role-type")
                        json.field("code", "humanuser")
                    } }
                }
                if let role = record.fields["role"] {
                    json.key("role")
                    json.array { json in json.object { json in json.field("text", role) } }
                }
                json.field("who") { json in
                    json.field("identifier") { json in
                        json.field("system", "urn:vigil:\(gateway):uid")
                        json.field("value", record.fields["uid"] ?? "unknown")
                    }
                    if let user = record.fields["user"] { json.field("display", user) }
                }
                if let user = record.fields["user"] { json.field("name", user) }
                json.key("requestor")
                json.raw("true")
            } }
            json.field("source") { json in
                json.field("site", gateway)
                json.field("observer") { json in json.field("reference", deviceReference(gatewayIdentifier)) }
                json.key("type")
                json.array { json in json.object { json in
                    json.field("system", "http://terminology.hl7.org/CodeSystem/security-source-type")
                    json.field("code", "4")
                    json.field("display", "Application Server")
                } }
            }
            json.key("entity")
            json.array { json in
                auditSubject(&json, record.fields)
                json.object { json in
                    Self.coding(&json, "type", Self.entityTypeSystem, "2", "System Object")
                    Self.coding(&json, "role", Self.objectRoleSystem, "13", "Security Resource")
                    json.field("name", "\(gateway) audit log entry \(record.seq)")
                    json.key("detail")
                    json.array { json in
                        for (name, value) in [("seq", "\(record.seq)"), ("key", record.key), ("prev", record.prev), ("mac", record.mac)] {
                            json.object { json in
                                json.field("type", name)
                                json.field("valueString", value)
                            }
                        }
                        json.object { json in
                            json.field("type", "line")
                            json.field("valueBase64Binary", Data(record.line).base64EncodedString())
                        }
                        for (name, value) in record.fields.sorted(by: { $0.key < $1.key })
                        where !["time", "action", "uid", "user", "role"].contains(name) {
                            json.object { json in
                                json.field("type", name)
                                json.field("valueString", value)
                            }
                        }
                    }
                }
            }
        }
        return FHIRResource(type: "AuditEvent", logicalID: id, json: json.bytes,
                            links: [FHIRResource.Link(type: "Device", identifier: gatewayIdentifier)])
    }

    /// Whom the entry concerns: a patient (by reference, the way readings name it) or a sensor or
    /// other subject by name.
    private func auditSubject(_ json: inout JSONWriter, _ fields: [String: String]) {
        let patient = fields["patient"].flatMap { $0 == "*" || $0.isEmpty ? nil : $0 }
        let subject = fields["subject"].flatMap { $0 == "*" || $0.isEmpty ? nil : $0 } ?? fields["device"]
        guard patient != nil || subject != nil else { return }
        json.object { json in
            if let patient {
                json.field("what") { json in json.field("reference", patientReference(patient)) }
                Self.coding(&json, "type", Self.entityTypeSystem, "1", "Person")
                Self.coding(&json, "role", Self.objectRoleSystem, "1", "Patient")
            } else {
                Self.coding(&json, "type", Self.entityTypeSystem, "2", "System Object")
            }
            if let subject { json.field("name", subject) }
        }
    }

    /// `"<name>": {"system", "code", "display"}`: AuditEvent's Coding-typed elements.
    private static func coding(_ json: inout JSONWriter, _ name: StaticString, _ system: String, _ code: String, _ display: String) {
        json.field(name) { json in
            json.field("system", system)
            json.field("code", code)
            json.field("display", display)
        }
    }
}
