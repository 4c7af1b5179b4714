import VigilCore

extension FHIRMapper {
    static let coverageSystem = "urn:vigil:coverage"

    /// A patient-day of monitoring coverage as one Observation on the patient (not a
    /// MeasureReport: that needs a Measure defined on the server and reports on populations; an
    /// Observation is found per patient and date with the searches every server supports,
    /// `Observation?subject=…&code=urn:vigil:coverage|coverage-day&date=…`). The value is the
    /// usable share of the day; components give the minutes, the readings received against
    /// those the sensors numbered, and the days with readings in the last 30. Readings that
    /// arrive after the day was reported (a sensor's backlog) revise it: status `amended`.
    func coverage(_ day: CoverageDay) -> FHIRResource {
        let identifier = identifiers.coverage(patient: day.patient, day: day.day)
        var json = JSONWriter(capacity: 1_400)
        json.object { json in
            json.field("resourceType", "Observation")
            identifierArray(&json, identifier)
            json.field("status", day.revision == 0 ? "final" : "amended")
            coverageCode(&json, "coverage-day", "Remote monitoring coverage for a day")
            json.field("subject") { json in json.field("reference", patientReference(day.patient)) }
            json.field("effectivePeriod") { json in
                json.field("start", fhirInstant(day.start))
                json.field("end", fhirInstant(day.end))
            }
            json.field("issued", fhirInstant(day.end))
            json.field("device") { json in json.field("reference", deviceReference(gatewayIdentifier)) }
            quantity(&json, "valueQuantity", value: percent(day.coverage), unit: "%")
            json.key("component")
            json.array { json in
                component(&json, "usable-minutes", "Minutes with usable readings", String(day.usableMinutes), "min")
                component(&json, "not-worn-minutes", "Minutes with readings but none usable (not worn)", String(day.notWornMinutes), "min")
                component(&json, "silent-minutes", "Minutes without any reading", String(day.silentMinutes), "min")
                component(&json, "readings-received", "Readings received", String(day.received), "{readings}")
                component(&json, "readings-expected", "Readings the sensors numbered", String(day.expected), "{readings}")
                component(&json, "days-with-readings-30", "Days with readings in the 30 days ending this day",
                          String(day.daysWithReadings30), "d")
            }
            json.key("note")
            json.array { json in json.object { json in json.field("text", Self.coverageText(day)) } }
        }
        // A conditional update: a day revised by late readings replaces its earlier report.
        return FHIRResource(type: "Observation", identifier: identifier, json: json.bytes, replaces: true)
    }

    /// The day in words: "2026-12-01: usable 71 % (1022 min), not worn 58 min, silent 360 min; …".
    static func coverageText(_ day: CoverageDay) -> String {
        let delivered = day.expected == 0 ? "no readings" : "\(day.received) of \(day.expected) readings received"
        return "\(day.day): usable \(percent(day.coverage)) % (\(day.usableMinutes) min), not worn \(day.notWornMinutes) min, "
            + "silent \(day.silentMinutes) min; \(delivered); readings on \(day.daysWithReadings30) of the last 30 days"
    }

    private func coverageCode(_ json: inout JSONWriter, _ code: String, _ display: String) {
        json.field("code") { json in
            json.key("coding")
            json.array { json in json.object { json in
                json.field("system", Self.coverageSystem); json.field("code", code); json.field("display", display)
            } }
            json.field("text", display)
        }
    }

    private func component(_ json: inout JSONWriter, _ code: String, _ display: String, _ value: String, _ unit: String) {
        json.object { json in
            coverageCode(&json, code, display)
            quantity(&json, "valueQuantity", value: value, unit: unit)
        }
    }

    private func quantity(_ json: inout JSONWriter, _ key: StaticString, value: String, unit: String) {
        json.field(key) { json in
            json.key("value"); json.raw(value)
            json.field("unit", unit); json.field("system", VitalCode.ucumSystem); json.field("code", unit)
        }
    }

    /// One decimal, as text a JSON number accepts.
    static func percent(_ share: Double) -> String {
        let tenths = Int((share * 1_000).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    private func percent(_ share: Double) -> String { Self.percent(share) }
}
