import VigilModels

/// What a clinician (or a carer, for consciousness) has entered about one patient, which changes
/// how the patient's readings are scored from that moment: the SpO2 scale with its prescribed
/// target, supplemental oxygen, the level of consciousness (ACVPU), and per-vital minimum drift
/// effects. Stored per patient (`<state>/patients/`), audited, uploaded, shown in status.
package struct ClinicalSettings: Sendable, Equatable, Codable {
    /// A per-vital override of the drift model's minimum effect, in the vital's units.
    package struct Effect: Sendable, Equatable, Codable {
        package var up: Int?
        package var down: Int?

        package init(up: Int? = nil, down: Int? = nil) {
            self.up = up
            self.down = down
        }
    }

    package var patient: String
    /// 1, or 2 for a prescribed 88–92 % target (hypercapnic respiratory failure).
    package var spo2Scale: Int = 1
    /// The prescribed target range, required with scale 2 (NEWS2 defines scale 2 for 88–92 %).
    package var spo2Target: String?
    /// On supplemental oxygen (`nil`: not known; scores as air).
    package var onOxygen: Bool?
    /// A, C (new confusion), V, P or U; holds until changed (`nil`: not assessed).
    package var consciousness: String?
    /// Minimum drift effects by vital key (hr, rr, spo2, temp, sbp).
    package var driftEffects: [String: Effect]?
    /// Increases with every change.
    package var version: Int = 0
    package var updatedBy: String = ""
    /// Unix ms of the change.
    package var updatedAt: Int64 = 0
    /// Why (free text from the clinician; not shown in logs).
    package var reason: String?

    package init(patient: String) {
        self.patient = patient
    }

    enum CodingKeys: String, CodingKey {
        case patient
        case spo2Scale = "spo2_scale"
        case spo2Target = "spo2_target"
        case onOxygen = "on_oxygen"
        case consciousness
        case driftEffects = "drift_effects"
        case version
        case updatedBy = "updated_by"
        case updatedAt = "updated_at"
        case reason
    }

    /// The model id of the entries recording a change.
    package static let model = "patient-settings"

    package static let driftVitals = ["hr", "rr", "spo2", "temp", "sbp"]

    /// Why a setting cannot be accepted, in words for the clinician.
    package struct Invalid: Error, CustomStringConvertible, Equatable {
        package let description: String

        package init(description: String) {
            self.description = description
        }
    }

    package func validate() throws(Invalid) {
        guard !patient.isEmpty, patient.count <= 128 else { throw Invalid(description: "patient: expected a reference of 1-128 characters") }
        guard spo2Scale == 1 || spo2Scale == 2 else { throw Invalid(description: "spo2_scale: expected 1 or 2, got \(spo2Scale)") }
        if spo2Scale == 2 {
            guard spo2Target == "88-92" else {
                throw Invalid(description: "spo2_scale 2 needs the prescribed target 88-92 (NEWS2 defines scale 2 for it), got \(spo2Target ?? "none")")
            }
        } else if let target = spo2Target, target != "94-98" {
            throw Invalid(description: "spo2_target \(target) needs spo2_scale 2 (scale 1 is the usual 94-98 % target)")
        }
        if let level = consciousness, NEWS2.Consciousness(rawValue: level) == nil {
            throw Invalid(description: "consciousness: expected one of A, C, V, P, U, got \(level)")
        }
        for (vital, effect) in driftEffects ?? [:] {
            guard Self.driftVitals.contains(vital) else {
                throw Invalid(description: "drift effect for \(vital): expected one of \(Self.driftVitals.joined(separator: ", "))")
            }
            for value in [effect.up, effect.down].compactMap({ $0 }) where !(1...2_000).contains(value) {
                throw Invalid(description: "drift effect for \(vital): \(value) is outside 1-2000 (the vital's units)")
            }
        }
        guard updatedBy.count <= 128, (reason ?? "").count <= 512 else {
            throw Invalid(description: "updated_by (128) or reason (512 characters) too long")
        }
    }

    /// What NEWS2 needs from it.
    var spo2Scale2: Bool { spo2Scale == 2 }
    var level: NEWS2.Consciousness? { consciousness.flatMap(NEWS2.Consciousness.init(rawValue:)) }

    /// One line for the audit trail and the uploaded record: what is set, never why.
    package var summary: String {
        var parts = ["spo2_scale \(spo2Scale)" + (spo2Target.map { " (target \($0) %)" } ?? "")]
        parts.append("on_oxygen " + (onOxygen.map { $0 ? "yes" : "no" } ?? "unknown"))
        parts.append("consciousness " + (consciousness ?? "not assessed"))
        for (vital, effect) in (driftEffects ?? [:]).sorted(by: { $0.key < $1.key }) {
            parts.append("drift \(vital) up \(effect.up.map(String.init) ?? "default") down \(effect.down.map(String.init) ?? "default")")
        }
        return parts.joined(separator: ", ")
    }
}
