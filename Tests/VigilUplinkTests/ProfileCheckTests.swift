import Foundation
import Testing
import VigilStore
import VigilTestSupport
@testable import VigilUplink

/// What the mapper writes, checked by the receiving endpoint against the official R4
/// StructureDefinitions (tools/fhir-endpoint/profiles.py) and for references it can resolve;
/// and the checker itself refuses what a hospital's validator would (mutations of real output).
@Suite struct ProfileCheckTests {
    let mapper = FHIRMapper(gateway: "gw-p", options: .init(patientIdentifierSystem: "https://hospital.example/mrn",
                                                            alertRecipients: ["CareTeam/rpm-north"], softwareVersion: "1.0.0")) { device in
        .init(kind: device == "cuff" ? "bp-cuff" : "vitals-patch", manufacturer: "Acme", model: "M1")
    }

    func batch(_ device: String, quality: TimeQuality, flags: UInt8 = 0, values: [StoredReading.Value]) -> ReadingBatch {
        ReadingBatch(device: device, patient: "Patient/p1", boot: 2, timeQuality: quality, receivedAt: 1_795_350_001_000, readings: [
            StoredReading(seq: 10, time: 1_795_350_000_000, deviceTime: quality.isDeviceClock ? 1_795_349_999_000 : 61_000, flags: flags, values: values),
            StoredReading(seq: 11, time: 1_795_350_000_500, deviceTime: quality.isDeviceClock ? 1_795_349_999_500 : 61_500, flags: flags, values: values),
        ])
    }

    /// One of everything the uplink sends.
    var everything: [FHIRResource] {
        let patch: [StoredReading.Value] = [.init(channel: .heartRate, raw: 1_320), .init(channel: .spo2, raw: 884), .init(channel: .respiratoryRate, raw: 260),
                                            .init(channel: .coreTemperature, raw: 3_850), .init(channel: .skinTemperature, raw: 3_310),
                                            .init(channel: .perfusionIndex, raw: 210), .init(channel: .pulseRate, raw: 1_310)]
        var resources = mapper.resources(for: .readings(batch("patch", quality: .device, values: patch)))
        resources += mapper.resources(for: .readings(batch("patch", quality: .estimated, flags: 2 << StoredReading.qualityShift | StoredReading.gatewayUnsynced,
                                                           values: patch)))
        resources += mapper.resources(for: .readings(batch("patch", quality: .unknown, flags: 3 << StoredReading.qualityShift, values: patch)))
        resources += mapper.resources(for: .readings(batch("cuff", quality: .suspect, values: [.init(channel: .systolicBP, raw: 182), .init(channel: .diastolicBP, raw: 95),
                                                                                               .init(channel: .pulseRate, raw: 880)])))
        let news2 = #"{"event":"raise","model":"news2","risk":"high","score":8,"alert_id":"news2@1","notify":true,"boot":2,"seq":10,"parameters":{"spo2":3}}"#
        let technical = #"{"event":"raise","model":"technical","condition":"not_worn","alert_id":"tech@1","notify":false}"#
        for fields in [news2, technical] {
            resources += mapper.resources(for: .alert(AlertEntry(device: "patch", patient: "Patient/p1", time: 1_795_350_000_000,
                                                                 event: try! AlertEvent(jsonBytes: Array(fields.utf8)))))
        }
        resources.append(mapper.gap(DataGap(device: "patch", patient: "Patient/p1", reason: .undelivered, from: 1_795_340_000_000, to: 1_795_340_060_000, count: 60)))
        var day = CoverageDay(patient: "Patient/p1", day: "2026-11-21", start: 1_795_219_200_000, end: 1_795_305_600_000, usableMinutes: 1_300,
                              notWornMinutes: 100, silentMinutes: 40, received: 77_000, expected: 78_000, daysWithReadings30: 12, devices: ["patch"])
        day.hourlyUsable = Array(repeating: 54, count: 24)
        resources.append(mapper.coverage(day))
        // Minute granularity: a rollup of every vital, one with unusable readings among them.
        let minute = FHIRMapper(gateway: "gw-p", options: .init(patientIdentifierSystem: "https://hospital.example/mrn", granularity: .minute)) {
            _ in .init(kind: "vitals-patch")
        }
        let series = (patch + [.init(channel: .systolicBP, raw: 121), .init(channel: .diastolicBP, raw: 79)]).map { value in
            MinuteRollup.Series(channel: value.channel, samples: (0..<60).map { (i: Int) in
                MinuteRollup.Sample(offset: UInt16(i * 1_000 + i % 3), raw: value.raw, grade: i == 7 ? 3 : UInt8(i % 2))
            })
        }
        resources += minute.resources(for: .rollup(MinuteRollup(device: "patch", patient: "Patient/p1", boot: 2, timeQuality: .estimated,
                                                                start: 1_795_349_940_000, firstSeq: 500, lastSeq: 559, receivedAt: 1_795_350_000_100,
                                                                deviceTime: 120_000, series: series)))
        return resources
    }

    func post(_ endpoint: FHIREndpoint, _ resources: [FHIRResource]) throws -> (status: Int, body: String) {
        var bundle = TransactionBundle()
        bundle.append(contentsOf: resources)
        return try httpPost(port: endpoint.port, path: "/fhir", json: String(decoding: bundle.encoded(), as: UTF8.self))
    }

    func withEndpoint(_ body: (FHIREndpoint) throws -> Void) throws {
        let dir = try TemporaryDirectory("profiles")
        defer { dir.remove() }
        let endpoint = try FHIREndpoint(directory: dir)
        defer { endpoint.stop() }
        // Devices first, as the uplink sends them.
        let devices = try post(endpoint, [mapper.gatewayDevice(), mapper.sensor("patch", patient: "Patient/p1", firmware: "ref-1"),
                                          mapper.sensor("cuff", patient: "Patient/p1")])
        #expect(devices.status == 200, "\(devices.body)")
        try body(endpoint)
    }

    @Test func everythingTheMapperWritesMeetsTheProfilesItClaimsAndResolves() throws {
        try withEndpoint { endpoint in
            let answer = try post(endpoint, everything)
            #expect(answer.status == 200, "\(answer.body.prefix(2_000))")
            let stats = try endpoint.stats()
            #expect(stats["invalid"] as? Int == 0, "\(stats["invalid_samples"] ?? "")")
            let checked = try #require(stats["profiles"] as? [String: Int])
            for profile in ["heartrate", "oxygensat", "resprate", "bodytemp", "bp"] {
                #expect((checked["http://hl7.org/fhir/StructureDefinition/" + profile] ?? 0) > 0, "\(profile): \(checked)")
            }
            #expect((checked["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"] ?? 0) == 5)
            let references = try #require(stats["references"] as? [String: Int])
            #expect((references["in_bundle"] ?? 0) > 0 && (references["by_identifier"] ?? 0) > 0 && (references["external"] ?? 0) > 0)
        }
    }

    /// Each mutation of real output is what a hospital's validator refuses; the checker must too.
    @Test func theCheckerRefusesWhatAProfileForbids() throws {
        let spo2 = try #require(everything.first { $0.identifier.hasSuffix(":2:10:spo2") })
        let bp = try #require(everything.first { $0.identifier.hasSuffix("cuff:2:10:bp") })
        let stamp = try #require(everything.first { $0.identifier.hasSuffix("patch:2:10:cts") })
        typealias Mutation = (name: String, resource: FHIRResource, change: (inout [String: Any]) -> Void, reason: String)
        let mutations: [Mutation] = [
            ("without 2708-6", spo2, { json in
                var code = json["code"] as! [String: Any]
                code["coding"] = (code["coding"] as! [[String: Any]]).filter { $0["code"] as? String != "2708-6" }
                json["code"] = code
            }, "OxygenSatCode: at least 1 required"),
            ("without effective[x]", spo2, { $0["effectiveDateTime"] = nil }, "effective[x]: at least 1 required"),
            ("without meta.profile", spo2, { $0["meta"] = nil }, "without the R4 oxygensat profile"),
            ("without the category", spo2, { $0["category"] = nil }, "VSCat: at least 1 required"),
            ("in the wrong unit", spo2, { json in
                var quantity = json["valueQuantity"] as! [String: Any]
                quantity["code"] = "1"
                json["valueQuantity"] = quantity
            }, "valueQuantity.code: must be"),
            ("without diastolic", bp, { json in
                json["component"] = (json["component"] as! [[String: Any]]).filter {
                    (($0["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.contains { $0["code"] as? String == "8462-4" } != true
                }
            }, "DiastolicBP: at least 1 required"),
            ("the time stamp in ms", stamp, { json in
                json["code"] = ["coding": [["system": "urn:iso:std:iso:11073:10101", "code": "68072"]]]
                json["valueDateTime"] = nil
                json["valueQuantity"] = ["value": 1, "unit": "ms", "system": "http://unitsofmeasure.org", "code": "ms"]
            }, "a tick counter's time is a valueQuantity in us"),
            ("a reference to nothing", spo2, { json in json["device"] = ["reference": "Device?identifier=urn:ietf:rfc:3986|urn:vigil:gw-p:device:nobody"] },
             "matches no resource"),
        ]
        try withEndpoint { endpoint in
            // The time stamps the readings refer to are on the server: only the mutation is wrong.
            #expect(try post(endpoint, everything.filter { $0.identifier.hasSuffix(":cts") }).status == 200)
            for mutation in mutations {
                var json = try #require(try JSONSerialization.jsonObject(with: Data(mutation.resource.json)) as? [String: Any])
                mutation.change(&json)
                let bytes = Array(try JSONSerialization.data(withJSONObject: json))
                let changed = FHIRResource(type: "Observation", identifier: mutation.resource.identifier + ":" + mutation.name, json: bytes)
                let answer = try post(endpoint, [changed])
                #expect(answer.status == 422 && answer.body.contains(mutation.reason), "\(mutation.name): \(answer.status) \(answer.body.prefix(600))")
                #expect(!answer.body.contains("matches no resource") || mutation.name == "a reference to nothing", "only the mutation is wrong")
            }
            #expect(try endpoint.stats()["invalid"] as? Int == mutations.count)
        }
    }

    /// Audit entries as the agent reads them from its log (the chain fields here are made up:
    /// only the mapping and the endpoint's validation are under test).
    func auditRecord(_ seq: UInt64, _ fields: [String: String]) -> AuditRecord {
        let line = Array("{\"seq\":\"\(seq)\",\"mac\":\"m\(seq)\"}".utf8)
        return AuditRecord(seq: seq, fields: fields.merging(["time": "2026-12-03T18:00:0\(seq)Z"]) { a, _ in a }, key: "1",
                           prev: String(repeating: "\(seq - 1)", count: 64).prefix(64).description, mac: String(repeating: "\(seq)", count: 64), line: line)
    }

    @Test func auditEventsAreValidR4AndTheEndpointKeepsThemImmutable() throws {
        let records = [
            auditRecord(1, ["action": "sensor.add", "uid": "0", "user": "root", "role": "operator", "device": "patch", "patient": "Patient/p1"]),
            auditRecord(2, ["action": "phi.view", "uid": "4102", "user": "nurse1", "role": "clinician", "pid": "77", "what": "readings",
                            "subject": "patch", "via": "control-socket"]),
            auditRecord(3, ["action": "access.denied", "uid": "4101", "user": "tech1", "role": "technician", "what": "readings",
                            "subject": "patch", "via": "control-socket"]),
            auditRecord(4, ["action": "patient.settings", "uid": "0", "user": "root", "role": "operator", "patient": "Patient/p1"]),
            auditRecord(5, ["action": "store.export", "uid": "0", "user": "root", "role": "operator"]),
        ]
        let events = records.map(mapper.auditEvent)
        #expect(events.map(\.identifier) == (1...5).map { "gw-p-audit-\($0)" })
        let first = try #require(try JSONSerialization.jsonObject(with: Data(events[1].json)) as? [String: Any])
        #expect((first["type"] as? [String: Any])?["code"] as? String == "110110")
        #expect(((first["agent"] as? [[String: Any]])?.first?["name"]) as? String == "nurse1")
        let refusal = try #require(try JSONSerialization.jsonObject(with: Data(events[2].json)) as? [String: Any])
        #expect(refusal["outcome"] as? String == "4" && (refusal["type"] as? [String: Any])?["code"] as? String == "110113")
        try withEndpoint { endpoint in
            let answer = try post(endpoint, events)
            #expect(answer.status == 200, "\(answer.body.prefix(2_000))")
            let afterUpload = try endpoint.stats()
            #expect(afterUpload["invalid"] as? Int == 0, "\(afterUpload["invalid_samples"] ?? "")")
            let held = try endpoint.auditEvents()
            #expect(held.count == 5)
            // The line travels whole, so the hospital can compare the box's log with it.
            let chain = try #require((held.first?["entity"] as? [[String: Any]])?.last?["detail"] as? [[String: Any]])
            let line = try #require(chain.first { $0["type"] as? String == "line" }?["valueBase64Binary"] as? String)
            #expect(Data(base64Encoded: line).map(Array.init) == records[0].line)
            // Sent again (a retry): accepted, nothing changes. Other content under the same id: refused.
            #expect(try post(endpoint, [events[0]]).status == 200)
            var forged = records[0]
            forged.fields["user"] = "someone"
            let conflict = try post(endpoint, [mapper.auditEvent(forged)])
            #expect(conflict.status == 409 && conflict.body.contains("immutable"), "\(conflict.body)")
            let stats = try endpoint.stats()
            #expect(stats["audit_repeats"] as? Int == 1 && stats["audit_conflicts"] as? Int == 1)
            #expect(try endpoint.auditEvents().count == 5)
        }
    }
}
