import Foundation

extension ClinicalSettings {
    /// What one change sets; a field left `nil` keeps its value, `.some(nil)` clears it.
    package struct Change: Sendable, Equatable {
        package var spo2Scale: Int?
        package var spo2Target: String??
        package var onOxygen: Bool??
        package var consciousness: String??
        package var driftEffects: [String: Effect]?
        package var by: String
        package var reason: String?

        package init(by: String) {
            self.by = by
        }

        /// A change as upstream sends it: JSON with `patient` and `by`, and any of `spo2_scale`,
        /// `spo2_target`, `on_oxygen` (true, false or null), `consciousness` ("A", "C", "V", "P",
        /// "U" or null), `drift_effects` (`{"hr": {"up": 200}}`), `reason`.
        package static func parse(json payload: [UInt8]) throws(Invalid) -> (patient: String, change: Change) {
            guard payload.count <= 4_096 else { throw Invalid(description: "expected a JSON object of at most 4096 bytes") }
            do {
                let message = try JSONDecoder().decode(Message.self, from: Data(payload))
                return (message.patient, message.change)
            } catch let error as Invalid {
                throw error
            } catch DecodingError.keyNotFound(let key, _) {
                throw Invalid(description: "expected \"\(key.stringValue)\"")
            } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
                throw Invalid(description: "\(context.codingPath.map(\.stringValue).joined(separator: ".")): wrong type")
            } catch {
                throw Invalid(description: "expected a JSON object")
            }
        }
    }

    /// The upstream message; a key present with `null` clears that setting.
    private struct Message: Decodable {
        var patient: String
        var change: Change

        enum Key: String, CodingKey, CaseIterable {
            case patient, by, reason
            case spo2Scale = "spo2_scale"
            case spo2Target = "spo2_target"
            case onOxygen = "on_oxygen"
            case consciousness
            case driftEffects = "drift_effects"
        }

        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let all = try decoder.container(keyedBy: AnyKey.self)
            if let unknown = all.allKeys.map(\.stringValue).filter({ Key(rawValue: $0) == nil }).sorted().first {
                throw Invalid(description: "unknown field \"\(unknown)\"")
            }
            let c = try decoder.container(keyedBy: Key.self)
            patient = try c.decode(String.self, forKey: .patient)
            let by = try c.decode(String.self, forKey: .by)
            guard !by.isEmpty else { throw Invalid(description: "by: expected who made the change") }
            change = Change(by: by)
            change.reason = try c.decodeIfPresent(String.self, forKey: .reason)
            change.spo2Scale = try c.decodeIfPresent(Int.self, forKey: .spo2Scale)
            func nullable<T: Decodable>(_ key: Key) throws -> T?? {
                guard c.contains(key) else { return nil }
                return .some(try c.decodeNil(forKey: key) ? nil : c.decode(T.self, forKey: key))
            }
            change.spo2Target = try nullable(.spo2Target)
            change.onOxygen = try nullable(.onOxygen)
            change.consciousness = try nullable(.consciousness)
            change.driftEffects = try c.decodeIfPresent([String: Effect].self, forKey: .driftEffects)
        }
    }

    /// These settings with `change` applied: the next version, stamped with who and when, and
    /// validated.
    package func applying(_ change: Change, at time: Int64) throws(Invalid) -> ClinicalSettings {
        var next = self
        if let scale = change.spo2Scale {
            next.spo2Scale = scale
            // Scale 2 is only for the RCP's 88–92 % target; back on scale 1 the target goes.
            if change.spo2Target == nil { next.spo2Target = scale == 2 ? "88-92" : nil }
        }
        if let target = change.spo2Target { next.spo2Target = target }
        if let oxygen = change.onOxygen { next.onOxygen = oxygen }
        if let level = change.consciousness { next.consciousness = level }
        if let effects = change.driftEffects {
            var merged = next.driftEffects ?? [:]
            for (vital, effect) in effects { merged[vital] = effect }
            next.driftEffects = merged.filter { $0.value.up != nil || $0.value.down != nil }
            if next.driftEffects?.isEmpty == true { next.driftEffects = nil }
        }
        next.version = version + 1
        next.updatedBy = change.by
        next.updatedAt = time
        next.reason = change.reason
        try next.validate()
        return next
    }
}
