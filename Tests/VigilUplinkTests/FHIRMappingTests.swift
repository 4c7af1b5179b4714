import Foundation
import Testing
import VigilFormats
import VigilStore
@testable import VigilUplink

/// The pure mapping: exact decimals, instants, identifiers stable across calls, the blood-pressure
/// panel, interpretation for abnormal values and poor signal, and well-formed Bundles.
@Suite struct FHIRMappingTests {
    let mapper = FHIRMapper(gateway: "gw-1")

    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test(arguments: [(973, 10, "97.3"), (-5, 10, "-0.5"), (3_705, 100, "37.05"), (3_700, 100, "37.00"), (124, 1, "124"), (0, 10, "0.0")])
    func decimalsAreExact(raw: Int, divisor: Int, text: String) {
        #expect(decimal(raw, divisor: divisor) == text)
    }

    @Test(arguments: [(Int64(0), "1970-01-01T00:00:00.000Z"), (1_795_350_000_123, "2026-11-22T12:20:00.123Z"),
                      (951_782_400_000, "2000-02-29T00:00:00.000Z"), (-1, "1969-12-31T23:59:59.999Z")])
    func instantsMatchFoundation(milliseconds: Int64, text: String) {
        #expect(fhirInstant(milliseconds) == text)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        #expect(formatter.string(from: Date(timeIntervalSince1970: Double(milliseconds) / 1_000)) == text)
    }

    func batch(flags: UInt8 = 0, timeQuality: TimeQuality = .device) -> ReadingBatch {
        ReadingBatch(device: "dev-1", patient: "Patient/p1", boot: 3, timeQuality: timeQuality, receivedAt: 1_795_350_001_000, readings: [
            StoredReading(seq: 41, time: 1_795_350_000_000, deviceTime: 1_795_349_999_500, flags: flags, values: [
                .init(channel: .pulseRate, raw: 1_317), .init(channel: .spo2, raw: 873), .init(channel: .systolicBP, raw: 124), .init(channel: .diastolicBP, raw: 82),
                .init(channel: .activity, raw: 40),
            ]),
        ])
    }

    @Test func aReadingBecomesPHDStyleObservationsWithStableIdentifiers() throws {
        let resources = mapper.resources(for: .readings(batch()))
        #expect(resources.map(\.identifier) == [
            "urn:vigil:gw-1:obs:dev-1:3:41:cts", "urn:vigil:gw-1:obs:dev-1:3:41:pr", "urn:vigil:gw-1:obs:dev-1:3:41:spo2",
            "urn:vigil:gw-1:obs:dev-1:3:41:bp",
        ], "activity is not a clinical measurement")
        #expect(mapper.resources(for: .readings(batch())) == resources, "the same bytes on a retry")
        let spo2 = try object(resources[2].json)
        let quantity = try #require(spo2["valueQuantity"] as? [String: Any])
        #expect((quantity["value"] as? NSNumber)?.stringValue == "87.3" && quantity["code"] as? String == "%")
        let codings = try #require((spo2["code"] as? [String: Any])?["coding"] as? [[String: Any]])
        // The R4 oxygensat profile's 2708-6, with the pulse-oximetry code beside it.
        #expect(codings.map { $0["code"] as? String } == ["150456", "2708-6", "59408-5"])
        #expect((spo2["subject"] as? [String: Any])?["reference"] as? String == "Patient/p1")
        #expect(spo2["effectiveDateTime"] as? String == "2026-11-22T12:20:00.000Z")
        #expect(((spo2["extension"] as? [[String: Any]])?.first?["url"] as? String)
                == "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice")
        #expect(((spo2["meta"] as? [String: Any])?["profile"] as? [String]) == ["http://hl7.org/fhir/StructureDefinition/oxygensat"])
        let bp = try object(resources[3].json)
        let components = try #require(bp["component"] as? [[String: Any]])
        let componentCodes = components.map { ((($0["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.last?["code"] as? String) }
        #expect(componentCodes == ["8480-6", "8462-4", "8478-0"], "systolic, diastolic and the mean arterial pressure")
        // (124 + 2·82) / 3 = 96
        #expect(((components[2]["valueQuantity"] as? [String: Any])?["value"] as? NSNumber)?.intValue == 96)
        // The coincident time stamp: the device's clock against the gateway's when the frame arrived.
        let timeStamp = try object(resources[0].json)
        #expect(timeStamp["valueDateTime"] as? String == "2026-11-22T12:19:59.500Z")
        #expect(timeStamp["effectiveDateTime"] as? String == "2026-11-22T12:20:01.000Z", "the gateway's clock at receipt")
        #expect(((timeStamp["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String == "67975")
        #expect(((timeStamp["meta"] as? [String: Any])?["profile"] as? [String])
                == ["http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"])
    }

    @Test(arguments: [(Int16(120), Int16(80), 93), (121, 80, 94), (300, 200, 233), (40, 20, 27)])
    func theMeanArterialPressureIsRoundedToWholeMillimetres(systolic: Int16, diastolic: Int16, mean: Int) {
        #expect(Int(FHIRMapper.meanArterialPressure(systolic: systolic, diastolic: diastolic)) == mean)
    }

    @Test func theTimeStampCarriesTheNewestReadingsDeviceTime() throws {
        var batch = batch(timeQuality: .estimated)
        batch.readings.append(StoredReading(seq: 42, time: 1_795_350_000_900, deviceTime: 81_000, values: [.init(channel: .spo2, raw: 970)]))
        batch.readings[0].deviceTime = 80_100
        let stamp = try object(try #require(mapper.resources(for: .readings(batch)).first).json)
        #expect((stamp["valueQuantity"] as? [String: Any])?["value"] as? Int == 81_000_000, "µs of uptime, of the newest reading")
    }

    /// A synced device clock flagged suspect is still the device's Unix time, not an uptime
    /// (the defect: every code but "device" and "estimated" was written as "uptime; time unknown").
    @Test(arguments: [TimeQuality.device, .suspect])
    func aDeviceClockIsADateTimeEvenWhenSuspect(quality: TimeQuality) throws {
        let stamp = try object(try #require(mapper.resources(for: .readings(batch(timeQuality: quality))).first).json)
        #expect(stamp["valueDateTime"] as? String == "2026-11-22T12:19:59.500Z")
        #expect(stamp["valueQuantity"] == nil)
        let notes = (stamp["note"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(!notes.contains { $0.contains("uptime") })
        #expect(notes.contains { $0.contains("suspect") } == (quality == .suspect))
    }

    /// An uptime is a tick counter: the IG's relative time code, in µs (not absolute time in ms).
    @Test(arguments: [(TimeQuality.estimated, "times estimated by the gateway"), (.unknown, "times unknown")])
    func anUptimeIsAQuantityWithHowItWasMapped(quality: TimeQuality, note: String) throws {
        let stamp = try object(try #require(mapper.resources(for: .readings(batch(timeQuality: quality))).first).json)
        #expect(stamp["valueDateTime"] == nil)
        #expect((stamp["valueQuantity"] as? [String: Any])?["code"] as? String == "us")
        #expect(((stamp["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["display"] as? String == "MDC_ATTR_TIME_REL_HI_RES")
        let notes = (stamp["note"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String }
        #expect(notes.contains { $0.contains(note) })
    }

    /// Readings of uncertain time say so where a server can filter on it (`_tag`): how the time
    /// was found unless it is the device's synchronised clock, and a gateway clock unsynchronised.
    /// A time corrected after the sync, or of a boot that never synchronised, says that too.
    @Test(arguments: [(TimeQuality.device, UInt8(0), [String]()), (.estimated, 0, ["estimated"]),
                      (.unknown, StoredReading.gatewayUnsynced, ["unknown", "gateway-clock-unsynchronised"]),
                      (.device, StoredReading.gatewayUnsynced, ["gateway-clock-unsynchronised"]),
                      (.estimated, StoredReading.retimed, ["estimated", "gateway-clock-corrected"]),
                      (.estimated, StoredReading.gatewayUnsynced | StoredReading.neverSynchronised,
                       ["estimated", "gateway-clock-unsynchronised", "gateway-clock-never-synchronised"])])
    func uncertainTimesAreTagged(quality: TimeQuality, flags: UInt8, tags: [String]) throws {
        let resources = mapper.resources(for: .readings(batch(flags: flags, timeQuality: quality)))
        for resource in [resources[0], resources[2]] {
            let meta = try object(resource.json)["meta"] as? [String: Any]
            let found = (meta?["tag"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            #expect(found == tags, "\(resource.identifier)")
            #expect((meta?["tag"] as? [[String: Any]] ?? []).allSatisfy { $0["system"] as? String == "urn:vigil:time-quality" })
        }
    }

    @Test func abnormalValuesAndPoorSignalAreInterpreted() throws {
        let flags = StoredReading.abnormal | (2 << StoredReading.qualityShift)
        let spo2 = try object(mapper.resources(for: .readings(batch(flags: flags)))[2].json)
        let codes = (spo2["interpretation"] as? [[String: Any]] ?? []).compactMap { ($0["coding"] as? [[String: Any]])?.first?["code"] as? String }
        #expect(codes == ["L", "questionable"])
        let systems = (spo2["interpretation"] as? [[String: Any]] ?? []).compactMap { ($0["coding"] as? [[String: Any]])?.first?["system"] as? String }
        #expect(systems.last == "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status", "the PHD IG's measurement-status codes")
    }

    @Test func anUnusableReadingCarriesNoValueButADataAbsentReason() throws {
        let resources = mapper.resources(for: .readings(batch(flags: StoredReading.abnormal | (3 << StoredReading.qualityShift))))
        let spo2 = try object(resources[2].json)
        #expect(spo2["valueQuantity"] == nil && spo2["interpretation"] == nil)
        let reason = try #require(spo2["dataAbsentReason"] as? [String: Any])
        #expect((reason["coding"] as? [[String: Any]])?.first?["code"] as? String == "error")
        let components = try #require(try object(resources[3].json)["component"] as? [[String: Any]])
        #expect(components.allSatisfy { $0["valueQuantity"] == nil && $0["dataAbsentReason"] != nil })
    }

    func interpretations(_ resource: FHIRResource) throws -> [String] {
        (try object(resource.json)["interpretation"] as? [[String: Any]] ?? [])
            .compactMap { ($0["coding"] as? [[String: Any]])?.first?["code"] as? String }
    }

    @Test(arguments: [("bp-cuff", "149546"), ("spo2-ring", "149530"), (nil, "149530")] as [(String?, String)])
    func aPulseIsCodedByWhatMeasuredItAndAHeartRateAlwaysAsECG(kind: String?, pulseCode: String) throws {
        let mapper = FHIRMapper(gateway: "gw-1", kindOf: { _ in kind })
        let batch = ReadingBatch(device: "dev-1", patient: "Patient/p1", boot: 3, timeQuality: .device, receivedAt: 1_795_350_001_000,
                                 readings: [StoredReading(seq: 7, time: 1_795_350_000_000, deviceTime: 0,
                                                          values: [.init(channel: .heartRate, raw: 700), .init(channel: .pulseRate, raw: 710)])])
        var codes: [String: String] = [:]
        for resource in mapper.resources(for: .readings(batch)).dropFirst() {
            let coding = ((try object(resource.json)["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first
            codes[String(resource.identifier.split(separator: ":").last!)] = coding?["code"] as? String
        }
        #expect(codes == ["hr": "147842", "pr": pulseCode])
    }

    @Test func patientsAreConditionalReferencesByTheHospitalsIdentifierWhenItsSystemIsConfigured() throws {
        let mapper = FHIRMapper(gateway: "gw-1", patientIdentifierSystem: "https://hospital.example/mrn")
        let expected = "Patient?identifier=https://hospital.example/mrn|p1"
        var references: [String] = []
        let gap = DataGap(device: "dev-1", patient: "Patient/p1", reason: .evicted, from: 1, to: 2, count: 3)
        let fields = #"{"event":"raise","model":"news2","risk":"high","score":8,"alert_id":"news2@1795350000000","notify":true}"#
        let alert = AlertEntry(device: "dev-1", patient: "Patient/p1", time: 1_795_350_000_000, event: try AlertEvent(jsonBytes: Array(fields.utf8)))
        for resource in mapper.resources(for: .readings(batch())).dropFirst() + mapper.resources(for: .gap(gap)) + mapper.resources(for: .alert(alert)) {
            references.append(((try object(resource.json)["subject"] as? [String: Any])?["reference"] as? String) ?? "")
        }
        #expect(!references.isEmpty && references.allSatisfy { $0 == expected }, "\(references)")
        let sensor = try object(mapper.sensor("dev-1", patient: "Patient/p1").json)
        #expect((sensor["patient"] as? [String: Any])?["reference"] as? String == expected)
        // Without a system, the registry's reference stands (it must then be the server's id).
        #expect(((try object(self.mapper.resources(for: .gap(gap))[0].json)["subject"] as? [String: Any])?["reference"] as? String) == "Patient/p1")
    }

    @Test func devicesCarryTheirPHDTypeTheSensorsSpecializationAndNoIdAsAModelName() throws {
        let mapper = FHIRMapper(gateway: "gw-1", kindOf: { $0 == "cuff-1" ? "bp-cuff" : "vitals-patch" })
        func type(_ json: [String: Any]) -> String? { ((json["type"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String }
        let cuff = try object(mapper.sensor("cuff-1", patient: "Patient/p1").json)
        #expect(type(cuff) == "65573")
        let specialization = (cuff["specialization"] as? [[String: Any]])?.first?["systemType"] as? [String: Any]
        #expect((specialization?["coding"] as? [[String: Any]])?.first?["code"] as? String == "528391")
        #expect((cuff["deviceName"] as? [[String: Any]])?.first?["type"] as? String == "user-friendly-name")
        #expect(try object(mapper.sensor("patch-1", patient: "Patient/p1").json)["specialization"] == nil, "no single profile")
        #expect(type(try object(mapper.gatewayDevice().json)) == "531981")
        let beat = mapper.gatewayHeartbeat(GatewayHeartbeat(time: 0, sensors: [], openAlerts: 0))
        #expect(type(try object(beat.json)) == "531981", "the heartbeat replaces the gateway Device with its type kept")
    }

    @Test func onlyTheVitalOutsideItsBandIsInterpretedAndOnItsSide() throws {
        // Pulse 68 /min in a reading whose SpO2 (88 %) and respiration (26 /min) score.
        let batch = ReadingBatch(device: "dev-1", patient: "Patient/p1", boot: 3, timeQuality: .device, receivedAt: 1_795_350_001_000,
                                 readings: [StoredReading(seq: 7, time: 1_795_350_000_000, deviceTime: 0, flags: StoredReading.abnormal,
                                                          values: [.init(channel: .pulseRate, raw: 680), .init(channel: .spo2, raw: 880),
                                                                   .init(channel: .respiratoryRate, raw: 260)])])
        let byVital = Dictionary(uniqueKeysWithValues: try mapper.resources(for: .readings(batch)).dropFirst().map {
            (String($0.identifier.split(separator: ":").last!), try interpretations($0))
        })
        #expect(byVital == ["pr": [], "spo2": ["L"], "rr": ["H"]])
    }

    @Test func skinTemperatureAndPerfusionIndexAreNotVitalSignsAndALonePressureClaimsNoBPProfile() throws {
        let batch = ReadingBatch(device: "dev-1", patient: "Patient/p1", boot: 3, timeQuality: .device, receivedAt: 1_795_350_001_000,
                                 readings: [StoredReading(seq: 7, time: 1_795_350_000_000, deviceTime: 0,
                                                          values: [.init(channel: .skinTemperature, raw: 3_350), .init(channel: .coreTemperature, raw: 3_700),
                                                                   .init(channel: .systolicBP, raw: 124), .init(channel: .perfusionIndex, raw: 250)])])
        var categories: [String: [String]] = [:]
        var profiles: [String: [String]] = [:]
        for resource in mapper.resources(for: .readings(batch)).dropFirst() {
            let json = try object(resource.json)
            let vital = String(resource.identifier.split(separator: ":").last!)
            categories[vital] = (json["category"] as? [[String: Any]] ?? []).compactMap { ($0["coding"] as? [[String: Any]])?.first?["code"] as? String }
            profiles[vital] = (json["meta"] as? [String: Any])?["profile"] as? [String] ?? []
        }
        #expect(categories == ["skin_temp": [], "core_temp": ["vital-signs"], "pi": [], "bp": ["vital-signs"]])
        #expect(profiles == ["skin_temp": [], "core_temp": ["http://hl7.org/fhir/StructureDefinition/bodytemp"], "pi": [], "bp": []])
        // With both components the panel claims the R4 bp profile.
        let both = try object(mapper.resources(for: .readings(self.batch()))[3].json)
        #expect((both["meta"] as? [String: Any])?["profile"] as? [String] == ["http://hl7.org/fhir/StructureDefinition/bp"])
    }

    @Test func aNEWS2AlertIsACommunicationReferencingItsScoreObservation() throws {
        let fields = #"{"event":"raise","model":"news2","risk":"high","score":8,"alert_id":"news2@1795350000000","notify":true,"boot":3,"seq":41,"parameters":{"spo2":3,"hr":3},"response":"emergency response"}"#
        let alert = AlertEntry(device: "dev-1", patient: "Patient/p1", time: 1_795_350_000_000, event: try AlertEvent(jsonBytes: Array(fields.utf8)))
        let resources = mapper.resources(for: .alert(alert))
        #expect(resources.map(\.type) == ["Observation", "Communication"])
        let communication = try object(resources[1].json)
        #expect(communication["priority"] as? String == "stat")
        // Only what travels with it: the score, not the reading's time stamp (sent later, or never
        // when the reading was not the first of its frame).
        let reasons = (communication["reasonReference"] as? [[String: Any]] ?? []).compactMap { ($0["identifier"] as? [String: Any])?["value"] as? String }
        #expect(reasons == [resources[0].identifier])
        var bundle = TransactionBundle()
        bundle.append(contentsOf: resources)
        let entries = try #require(try object(bundle.encoded())["entry"] as? [[String: Any]])
        let sent = try #require(((entries[1]["resource"] as? [String: Any])?["reasonReference"] as? [[String: Any]])?.first?["reference"] as? String)
        #expect(sent == entries[0]["fullUrl"] as? String, "resolved inside the Bundle")
        let text = ((communication["payload"] as? [[String: Any]])?.first?["contentString"] as? String) ?? ""
        #expect(text.contains("NEWS2 8 (high)") && text.contains("hr 3, spo2 3"))
        #expect((try object(resources[0].json))["valueInteger"] as? Int == 8)
    }

    @Test func aGapIsAFlagOnThePatient() throws {
        let gap = DataGap(device: "dev-1", patient: "Patient/p1", reason: .thinned, from: 1_795_350_000_000, to: 1_795_350_300_000, count: 120)
        let flag = try object(mapper.resources(for: .gap(gap))[0].json)
        #expect(flag["resourceType"] as? String == "Flag" && flag["status"] as? String == "active")
        #expect(((flag["code"] as? [String: Any])?["text"] as? String)?.contains("120 readings") == true)
    }

    @Test func theHeartbeatReplacesTheGatewayDeviceWithEachSensorsStateAndNoPatient() throws {
        let beat = GatewayHeartbeat(time: 1_795_350_000_000, sensors: [
            .init(device: "ring-1", patient: "Patient/p1", state: .streaming, lastSeen: 1_795_349_999_000, battery: 80),
            .init(device: "ring-2", patient: "Patient/p2", state: .silent, lastSeen: 1_795_349_000_000, battery: 4),
        ], openAlerts: 1)
        let resource = mapper.gatewayHeartbeat(beat)
        #expect(resource.replaces && resource.identifier == mapper.gatewayIdentifier)
        let device = try object(resource.json)
        let note = try #require((device["note"] as? [[String: Any]])?.first)
        #expect(note["time"] as? String == "2026-11-22T12:20:00.000Z")
        #expect(note["text"] as? String == "heartbeat: 2 sensors: 1 streaming, 1 silent (ring-2); 1 open alert")
        let properties = try #require(device["property"] as? [[String: Any]])
        let codes = properties.compactMap { (($0["valueCode"] as? [[String: Any]])?.first?["coding"] as? [[String: Any]])?.first?["code"] as? String }
        #expect(codes == ["streaming", "silent"])
        #expect(!String(decoding: resource.json, as: UTF8.self).contains("Patient/"), "a gateway's Device names no patient")
    }

    @Test func bundlesAreConditionalCreates() throws {
        var bundle = TransactionBundle()
        bundle.append(contentsOf: mapper.resources(for: .readings(batch())))
        let decoded = try object(bundle.encoded())
        let entries = try #require(decoded["entry"] as? [[String: Any]])
        #expect(decoded["type"] as? String == "transaction" && entries.count == 4)
        let request = try #require(entries[1]["request"] as? [String: Any])
        #expect(request["method"] as? String == "POST" && request["url"] as? String == "Observation")
        #expect(request["ifNoneExist"] as? String == "identifier=urn:ietf:rfc:3986|urn:vigil:gw-1:obs:dev-1:3:41:pr")
    }

    @Test func stringsAreEscaped() throws {
        var json = JSONWriter()
        json.object { json in json.field("text", "a \"quoted\" \\ line\nbreak\u{1}") }
        #expect(try object(json.bytes)["text"] as? String == "a \"quoted\" \\ line\nbreak\u{1}")
    }
}

/// What the server's answer means: confirmed, rejected entries, split, or retry.
@Suite struct TransactionOutcomeTests {
    func body(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func aTransactionResponseConfirmsEveryEntry() {
        let response = #"{"resourceType":"Bundle","type":"transaction-response","entry":[{"response":{"status":"201 Created"}},{"response":{"status":"200 OK"}}]}"#
        #expect(TransactionOutcome.classify(status: 200, retryAfter: nil, body: body(response), entries: 2) == .confirmed(created: 1, existing: 1))
        #expect(TransactionOutcome.classify(status: 200, retryAfter: nil, body: body(response), entries: 3)
            == .retry(reason: "unreadable response (HTTP 200)", after: nil), "a response that does not match the request is not a confirmation")
    }

    @Test func aRejectionNamingItsEntryRejectsOnlyThatEntry() {
        let outcome = #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","expression":["Bundle.entry[3]"]}]}"#
        guard case .rejected(let rejected) = TransactionOutcome.classify(status: 422, retryAfter: nil, body: body(outcome), entries: 5) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(Array(rejected.keys) == [3] && rejected[3]?.status == 422 && rejected[3]?.outcome.contains("Bundle.entry[3]") == true)
        #expect(TransactionOutcome.classify(status: 400, retryAfter: nil, body: body("{}"), entries: 5)
            == .unattributed(.init(status: 400, outcome: "{}")))
        #expect(TransactionOutcome.classify(status: 400, retryAfter: nil, body: body("{}"), entries: 1)
            == .rejected([0: .init(status: 400, outcome: "{}")]))
    }

    @Test func throttlingHonoursRetryAfterAndServerErrorsRetry() {
        #expect(TransactionOutcome.classify(status: 429, retryAfter: "7", body: [], entries: 1) == .retry(reason: "HTTP 429", after: .seconds(7)))
        let now = Date(timeIntervalSince1970: 1_795_350_000)
        #expect(TransactionOutcome.classify(status: 503, retryAfter: "Sun, 22 Nov 2026 12:20:30 GMT", body: [], entries: 1, now: now)
            == .retry(reason: "HTTP 503", after: .seconds(30)))
        #expect(TransactionOutcome.classify(status: 500, retryAfter: nil, body: [], entries: 1) == .retry(reason: "HTTP 500", after: nil))
        #expect(TransactionOutcome.classify(status: 401, retryAfter: nil, body: [], entries: 1) == .retry(reason: "HTTP 401", after: nil),
                "credentials can be fixed: keep the data")
    }

    /// An entry index that names no entry (negative, found by the fuzzer; or past the end) is no
    /// attribution: the Bundle is split instead of indexing outside it.
    @Test func aRejectionNamingNoEntryOfTheBundleIsUnattributed() {
        for index in ["-1", "2", "99999999999999999999"] {
            let body = Array(#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","expression":["Bundle.entry[\#(index)]"]}]}"#.utf8)
            guard case .unattributed = TransactionOutcome.classify(status: 422, retryAfter: nil, body: body, entries: 2) else {
                Issue.record("entry[\(index)] of 2")
                continue
            }
        }
    }

    /// Seconds, or an IMF-fixdate; anything else (including the non-ASCII header that made
    /// Foundation's DateFormatter trap, found by the fuzzer) is no delay at all.
    @Test func retryAfterTakesSecondsOrAnHTTPDateAndNothingElse() {
        #expect(TransactionOutcome.httpDate("Wed, 21 Oct 2026 07:28:00 GMT") == 1_792_567_680)
        #expect(TransactionOutcome.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(TransactionOutcome.httpDate("Tue, 29 Feb 2028 23:59:59 GMT") == 1_835_481_599)
        let now = Date(timeIntervalSince1970: 1_792_567_600)
        #expect(TransactionOutcome.parseRetryAfter("Wed, 21 Oct 2026 07:28:00 GMT", now: now) == .seconds(80))
        #expect(TransactionOutcome.parseRetryAfter(" 120 ", now: now) == .seconds(120))
        #expect(TransactionOutcome.parseRetryAfter("99999", now: now) == .seconds(3_600))
        for bad in ["Wed, 21 Oct 2026 07:\u{FFFD}\u{FFFD}4\u{FFFD}28:00 GMT", "Wed, 21 Oct 2026 07:28:00 UTC", "-5", "soon", "Wed, 32 Oct 2026 07:28:00 GMT",
                    "Wed, 21 Oct 2026 24:00:00 GMT", ""] {
            #expect(TransactionOutcome.parseRetryAfter(bad, now: now) == nil, "\(bad)")
        }
    }
}

import Crypto

/// The SMART Backend Services client assertion: the claims the spec requires, signed so that the
/// public key verifies it.
@Suite struct ClientAssertionTests {
    @Test func anES384AssertionCarriesTheClaimsAndVerifies() throws {
        let key = P384.Signing.PrivateKey()
        let jwt = try ClientAssertion.make(clientID: "gw-1", tokenURL: "https://auth.example/token", privateKeyPEM: key.pemRepresentation,
                                           keyID: "k1", algorithm: .es384, now: Date(timeIntervalSince1970: 1_795_350_000), jti: "abc")
        let parts = jwt.split(separator: ".").map(String.init)
        #expect(parts.count == 3)
        func decode(_ text: String) throws -> Data {
            var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
            return try #require(Data(base64Encoded: base64))
        }
        let header = try #require(try JSONSerialization.jsonObject(with: decode(parts[0])) as? [String: Any])
        #expect(header["alg"] as? String == "ES384" && header["kid"] as? String == "k1" && header["typ"] as? String == "JWT")
        let claims = try #require(try JSONSerialization.jsonObject(with: decode(parts[1])) as? [String: Any])
        #expect(claims["iss"] as? String == "gw-1" && claims["sub"] as? String == "gw-1")
        #expect(claims["aud"] as? String == "https://auth.example/token" && claims["jti"] as? String == "abc")
        #expect(claims["exp"] as? Int == 1_795_350_300, "five minutes")
        let signature = try P384.Signing.ECDSASignature(rawRepresentation: decode(parts[2]))
        #expect(key.publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[1]).utf8)))
        #expect(!key.publicKey.isValidSignature(signature, for: Data((parts[0] + "." + parts[0]).utf8)))
    }
}

/// References a server can resolve: inside the Bundle by `fullUrl`, otherwise conditional; the
/// Devices' maker, model and versions; alert recipients.
@Suite struct FHIRReferenceTests {
    func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    let batch = ReadingBatch(device: "dev-1", patient: "Patient/p1", boot: 3, timeQuality: .device, receivedAt: 1_795_350_001_000, readings: [
        StoredReading(seq: 41, time: 1_795_350_000_000, deviceTime: 1_795_349_999_500, values: [.init(channel: .spo2, raw: 973)]),
    ])

    @Test func derivedFromPointsAtTheTimeStampInTheBundleOrByIdentifierWhenSentEarlier() throws {
        let resources = FHIRMapper(gateway: "gw-1").resources(for: .readings(batch))
        var together = TransactionBundle()
        together.append(contentsOf: resources)
        let entries = try #require(try object(together.encoded())["entry"] as? [[String: Any]])
        let fullURL = try #require(entries[0]["fullUrl"] as? String)
        #expect(fullURL.hasPrefix("urn:uuid:") && fullURL.count == 45)
        // A vital sign names it with the precondition extension (R4 vitals restrict derivedFrom).
        func derived(_ entry: [String: Any]) -> String? {
            let resource = entry["resource"] as? [String: Any]
            #expect(resource?["derivedFrom"] == nil)
            let precondition = (resource?["extension"] as? [[String: Any]] ?? []).first {
                $0["url"] as? String == "http://hl7.org/fhir/StructureDefinition/observation-precondition"
            }
            return (precondition?["valueReference"] as? [String: Any])?["reference"] as? String
        }
        #expect(derived(entries[1]) == fullURL)
        // The time stamp went in an earlier Bundle: a conditional reference the server resolves.
        var apart = TransactionBundle()
        apart.append(resources[1])
        let alone = try #require(try object(apart.encoded())["entry"] as? [[String: Any]])
        #expect(derived(alone[0]) == "Observation?identifier=urn:ietf:rfc:3986|urn:vigil:gw-1:obs:dev-1:3:41:cts")
        // The same resource always has the same fullUrl (a retried Bundle is the same Bundle).
        #expect(together.encoded() == { var again = TransactionBundle(); again.append(contentsOf: resources); return again.encoded() }())
    }

    @Test func devicesNameTheirMakerModelAndVersions() throws {
        let mapper = FHIRMapper(gateway: "gw-1", options: .init(softwareVersion: "0.9.0")) { _ in
            .init(kind: "spo2-ring", manufacturer: "Acme Medical", model: "RingOx 2")
        }
        let sensor = try object(mapper.sensor("dev-1", patient: "Patient/p1", firmware: "ref-1.4").json)
        #expect(sensor["manufacturer"] as? String == "Acme Medical")
        #expect(sensor["modelNumber"] as? String == "RingOx 2")
        let names = (sensor["deviceName"] as? [[String: Any]] ?? []).map { "\($0["type"] ?? ""):\($0["name"] ?? "")" }
        #expect(names == ["user-friendly-name:dev-1", "model-name:RingOx 2"])
        let gateway = try object(mapper.gatewayDevice().json)
        #expect(gateway["manufacturer"] as? String == "Vigil project")
        let versions = (gateway["version"] as? [[String: Any]] ?? []).map {
            "\((($0["type"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] ?? ""):\($0["value"] ?? "")"
        }
        #expect(versions == ["531976:0.9.0"], "MDC_ID_PROD_SPEC_SW")
        // The heartbeat replaces the gateway Device: it must not erase them.
        let beat = try object(mapper.gatewayHeartbeat(GatewayHeartbeat(time: 1_795_350_000_000, sensors: [], openAlerts: 0)).json)
        #expect(beat["manufacturer"] as? String == "Vigil project" && (beat["version"] as? [[String: Any]])?.count == 1)
    }

    @Test func alertsNameTheConfiguredRecipients() throws {
        let mapper = FHIRMapper(gateway: "gw-1", options: .init(alertRecipients: ["CareTeam/rpm-north", "Organization?identifier=https://h.example/org|rpm"]))
        let fields = #"{"event":"raise","model":"drift","alert_id":"drift@1","notify":true}"#
        let alert = AlertEntry(device: "dev-1", patient: "Patient/p1", time: 1_795_350_000_000, event: try AlertEvent(jsonBytes: Array(fields.utf8)))
        let communication = try object(try #require(mapper.resources(for: .alert(alert)).last).json)
        let recipients = (communication["recipient"] as? [[String: Any]] ?? []).compactMap { $0["reference"] as? String }
        #expect(recipients == ["CareTeam/rpm-north", "Organization?identifier=https://h.example/org|rpm"])
        #expect(communication["reasonReference"] == nil, "a drift alert has nothing in its Bundle to point at")
    }
}

/// The store's optional receipt trailer (docs/STORE.md): kept exactly, and absent when the clock
/// was trusted (the record as before).
@Suite struct ReceiptTrailerTests {
    @Test func aReceiptIsStoredExactlyAndARecordWithoutOneIsSixteenBytesShorter() throws {
        var batch = ReadingBatch(device: "d", patient: "p", boot: 1, timeQuality: .estimated, receivedAt: 1_000, readings: [
            StoredReading(seq: 1, time: 900, deviceTime: 5, flags: StoredReading.gatewayUnsynced, values: [.init(channel: .spo2, raw: 970)]),
        ])
        let without = Entry.readings(batch).encoded
        batch.receipt = ClockReceipt(gatewayBoot: 0xDEAD_BEEF_0123_4567, wallOffset: -42)
        let with = Entry.readings(batch).encoded
        #expect(with.count == without.count + 16)
        #expect(try Entry.decode(type: .readings, with) == .readings(batch))
        #expect(throws: Entry.DecodingError.self, "a trailer of any other length is damage") {
            try Entry.decode(type: .readings, Array(with.dropLast(3)))
        }
    }
}
