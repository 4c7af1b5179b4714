import Foundation
import VigilProtocol
import VigilStore
import VigilModels

/// Maps log entries to FHIR R4 resources in the style of the HL7 Personal Health Device IG. Pure.
///
/// - Each vital of a reading is an Observation: MDC and LOINC codings, a UCUM `valueQuantity`
///   with the exact decimal, `effectiveDateTime` the gateway-corrected time, `subject` the
///   registry's patient, `device` the sensor, the PHD gateway-device extension, and an
///   identifier built from (gateway, device, boot, sequence, vital) so a retry creates nothing.
///   Blood pressure is one panel with systolic and diastolic components.
/// - Each frame also gets the IG's coincident time stamp Observation: the gateway's clock when
///   the frame arrived (`effectiveDateTime`) against the device's time of the frame's newest
///   reading, a wall clock (MDC_ATTR_TIME_ABS, `valueDateTime`) or uptime (MDC_ATTR_TIME_REL_HI_RES,
///   `valueQuantity` in µs); every reading points to it with the core `observation-precondition`
///   extension, and those that are not R4 vital signs with `derivedFrom` too (the IG's way; R4's
///   vital-signs profiles allow derivedFrom to name only vital signs).
/// - Blood pressure carries the mean arterial pressure the gateway computes, (SBP + 2·DBP) / 3
///   rounded to whole mmHg: the wire protocol has no MAP channel.
/// - A vital outside NEWS2's normal band carries interpretation `H` or `L` (that vital only, not
///   its neighbours in the reading); a reading with poor signal quality carries the PHD
///   measurement-status interpretation `questionable`; one the gateway judged unusable carries
///   no value but `dataAbsentReason` `error` (as the PHD IG does for an invalid measurement).
/// - Vital signs (heart rate, SpO2, respiratory rate, body temperature, blood pressure with both
///   components) carry the `vital-signs` category and declare their R4 core profile in
///   `meta.profile`; skin temperature and perfusion index are neither.
/// - An alert event is a Communication (see ``alert(_:)``), a NEWS2 event also an Observation
///   of the score, and a data gap a Flag the team sees on the patient.
public struct FHIRMapper: Sendable {
    public let gateway: String

    /// The registered extension naming the gateway a measurement came through (FHIR core
    /// extensions; the PHD IG uses it too).
    static let gatewayExtension = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
    /// FHIR core: "other observations that must be known to correctly interpret" this one.
    static let preconditionExtension = "http://hl7.org/fhir/StructureDefinition/observation-precondition"
    static let vitalSignsProfileBase = "http://hl7.org/fhir/StructureDefinition/"
    static let categorySystem = "http://terminology.hl7.org/CodeSystem/observation-category"
    static let interpretationSystem = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    /// The measurement-status codes the PHD IG (STU 2) uses as interpretation (from the PoCD IG).
    static let measurementStatusSystem = "http://hl7.org/fhir/uv/pocd/CodeSystem/measurement-status"
    static let dataAbsentReasonSystem = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

    let identifiers: ResourceIdentifiers

    /// What a provisioned sensor is (`vigil sensor add --kind --manufacturer --model`): the kind
    /// decides what its pulse rate is coded as; maker and model go on its Device.
    public struct SensorDescription: Sendable, Equatable {
        public var kind: String?
        public var manufacturer: String?
        public var model: String?

        public init(kind: String?, manufacturer: String? = nil, model: String? = nil) {
            self.kind = kind
            self.manufacturer = manufacturer
            self.model = model
        }
    }

    /// The hospital-facing choices (`uplink.fhir.*`).
    public struct Options: Sendable, Equatable {
        /// The system of the hospital's patient identifiers (`patient_identifier_system`): with
        /// it, patients are conditional references the server resolves (`Patient?identifier=
        /// <system>|<id>`); without it, the registry's reference must be the server's own id.
        public var patientIdentifierSystem: String?
        /// References every alert Communication names as recipient (`alert_recipients`), e.g. the
        /// monitoring team's `CareTeam/rpm-north`; resolvable on the hospital's server.
        public var alertRecipients: [String]
        /// The agent's version, on the gateway's Device.
        public var softwareVersion: String?
        public var granularity: Granularity

        public init(patientIdentifierSystem: String? = nil, alertRecipients: [String] = [], softwareVersion: String? = nil,
                    granularity: Granularity = .reading) {
            self.patientIdentifierSystem = patientIdentifierSystem
            self.alertRecipients = alertRecipients
            self.softwareVersion = softwareVersion
            self.granularity = granularity
        }
    }

    /// What one vital Observation stands for (`uplink.*.granularity`).
    public enum Granularity: String, Sendable, Equatable, CaseIterable {
        /// One per reading: every value as its own resource.
        case reading
        /// One per device, vital and minute for ordinary readings (median, minimum, maximum and
        /// every value as SampledData); abnormal readings, blood pressure, alerts, gaps and
        /// technical events still go at once and one by one.
        case minute
    }

    let options: Options
    let describe: @Sendable (String) -> SensorDescription?
    var patientIdentifierSystem: String? { options.patientIdentifierSystem }
    var alertRecipients: [String] { options.alertRecipients }
    func kindOf(_ device: String) -> String? { describe(device)?.kind }

    public init(gateway: String, options: Options = Options(),
                describe: @escaping @Sendable (String) -> SensorDescription? = { _ in nil }) {
        self.gateway = gateway
        self.options = options
        self.describe = describe
        identifiers = ResourceIdentifiers(gateway: gateway)
    }

    public init(gateway: String, patientIdentifierSystem: String?,
                kindOf: @escaping @Sendable (String) -> String? = { _ in nil }) {
        self.init(gateway: gateway, options: Options(patientIdentifierSystem: patientIdentifierSystem)) {
            SensorDescription(kind: kindOf($0))
        }
    }

    public init(gateway: String, kindOf: @escaping @Sendable (String) -> String?) {
        self.init(gateway: gateway, patientIdentifierSystem: nil, kindOf: kindOf)
    }

    /// How resources refer to the registry's patient (`Patient/p-0001`, or just `p-0001`).
    func patientReference(_ patient: String) -> String {
        guard let system = patientIdentifierSystem else { return patient }
        let id = patient.hasPrefix("Patient/") ? String(patient.dropFirst("Patient/".count)) : patient
        return "Patient?identifier=\(system)|\(id)"
    }

    public func deviceIdentifier(_ device: String) -> String { identifiers.device(device) }
    public var gatewayIdentifier: String { identifiers.gatewayDevice }

    /// A literal-free reference the server resolves inside the transaction.
    func deviceReference(_ identifier: String) -> String { "Device?identifier=\(FHIRResource.identifierSystem)|\(identifier)" }

    public func resources(for entry: Entry) -> [FHIRResource] {
        switch entry {
        case .readings(let batch): readings(batch)
        case .alert(let alert): self.alert(alert)
        case .gap(let gap): [self.gap(gap)]
        case .coverage(let day): [coverage(day)]
        case .rollup(let rollup): options.granularity == .minute ? self.rollup(rollup) : []
        }
    }

    // MARK: Devices

    /// The sensor's Device (conditional create: the first upload creates it).
    /// `firmware` and `battery` (%) as the device last reported them (STATUS), when known.
    public func sensor(_ device: String, patient: String, firmware: String? = nil, battery: Int? = nil) -> FHIRResource {
        let description = describe(device)
        return self.device(identifier: deviceIdentifier(device), serial: device, name: device, type: Self.sensorType,
                           specialization: Self.specialization(kind: description?.kind), patient: patient,
                           manufacturer: description?.manufacturer, model: description?.model, firmware: firmware, battery: battery)
    }

    /// The gateway's own Device.
    public func gatewayDevice() -> FHIRResource {
        device(identifier: gatewayIdentifier, serial: gateway, name: "Vigil gateway \(gateway)", type: Self.gatewayType, patient: nil,
               manufacturer: Self.gatewayManufacturer, model: Self.gatewayModel, software: options.softwareVersion)
    }

    static let gatewayManufacturer = "Vigil project"
    static let gatewayModel = "Vigil home gateway agent"

    /// PHD: a sensor is a simple MDS (MDC_MOC_VMS_MDS_SIMP), the gateway an application
    /// hosting device (MDC_MOC_VMS_MDS_AHD, what the IG calls a PHG).
    static let sensorType = (code: "65573", display: "MDC_MOC_VMS_MDS_SIMP")
    static let gatewayType = (code: "531981", display: "MDC_MOC_VMS_MDS_AHD")

    /// The device specialization (IEEE 11073-104xx profile) of a provisioned kind, when it has one.
    static func specialization(kind: String?) -> (code: String, display: String)? {
        switch kind {
        case "spo2-ring": ("528388", "MDC_DEV_SPEC_PROFILE_PULS_OXIM")
        case "bp-cuff": ("528391", "MDC_DEV_SPEC_PROFILE_BPM")
        case "thermometer": ("528392", "MDC_DEV_SPEC_PROFILE_TEMP")
        default: nil
        }
    }

    /// What every Device Vigil sends starts with: identifier, status, serial, name and type.
    func deviceHeader(_ json: inout JSONWriter, identifier: String, serial: String, name: String, type: (code: String, display: String),
                      manufacturer: String? = nil, model: String? = nil) {
        json.field("resourceType", "Device")
        identifierArray(&json, identifier)
        json.field("status", "active")
        if let manufacturer { json.field("manufacturer", manufacturer) }
        json.field("serialNumber", serial)
        json.key("deviceName")
        json.array { json in
            json.object { json in json.field("name", name); json.field("type", "user-friendly-name") }
            if let model { json.object { json in json.field("name", model); json.field("type", "model-name") } }
        }
        if let model { json.field("modelNumber", model) }
        mdcType(&json, code: type.code, display: type.display)
    }

    private func device(identifier: String, serial: String, name: String, type: (code: String, display: String),
                        specialization: (code: String, display: String)? = nil, patient: String?,
                        manufacturer: String? = nil, model: String? = nil, software: String? = nil,
                        firmware: String? = nil, battery: Int? = nil) -> FHIRResource {
        var json = JSONWriter(capacity: 512)
        json.object { json in
            deviceHeader(&json, identifier: identifier, serial: serial, name: name, type: type, manufacturer: manufacturer, model: model)
            if let specialization {
                json.key("specialization")
                json.array { json in json.object { json in
                    json.field("systemType") { json in
                        json.key("coding")
                        json.array { json in json.object { json in
                            json.field("system", VitalCode.mdcSystem); json.field("code", specialization.code)
                            json.field("display", specialization.display)
                        } }
                    }
                } }
            }
            versions(&json, firmware: firmware, software: software)
            if let battery {
                json.key("property")
                json.array { json in json.object { json in
                    mdcType(&json, code: "67996", display: "MDC_ATTR_VAL_BATT_CHARGE")
                    json.key("valueQuantity")
                    json.array { json in json.object { json in
                        json.key("value"); json.raw(String(battery))
                        json.field("unit", "%"); json.field("system", VitalCode.ucumSystem); json.field("code", "%")
                    } }
                } }
            }
            if let patient { json.field("patient") { json in json.field("reference", patientReference(patient)) } }
        }
        // Replaced only with everything known (a PUT would erase the firmware and battery the
        // server holds); without facts, a conditional create that leaves an existing one alone.
        return FHIRResource(type: "Device", identifier: identifier, json: json.bytes,
                            replaces: patient == nil || firmware != nil || battery != nil)
    }

    /// PHD: revisions as Device versions typed MDC_ID_PROD_SPEC_FW / _SW.
    func versions(_ json: inout JSONWriter, firmware: String?, software: String?) {
        guard firmware != nil || software != nil else { return }
        json.key("version")
        json.array { json in
            for (code, display, value) in [("531975", "MDC_ID_PROD_SPEC_FW", firmware), ("531976", "MDC_ID_PROD_SPEC_SW", software)] {
                guard let value else { continue }
                json.object { json in
                    mdcType(&json, code: code, display: display)
                    json.field("value", value)
                }
            }
        }
    }

    /// `"type": {"coding": [{MDC system, code, display}]}` for Device version and property.
    func mdcType(_ json: inout JSONWriter, code: String, display: String) {
        json.field("type") { json in
            json.key("coding")
            json.array { json in json.object { json in
                json.field("system", VitalCode.mdcSystem); json.field("code", code); json.field("display", display)
            } }
        }
    }

    // MARK: Readings

    func readings(_ batch: ReadingBatch) -> [FHIRResource] {
        var batch = batch
        // Minute granularity: what a rollup carries is sent with it.
        if options.granularity == .minute { batch.readings.removeAll(where: \.isRolledUp) }
        guard let first = batch.readings.first else { return [] }
        var resources: [FHIRResource] = []
        resources.reserveCapacity(batch.readings.count * 5 + 1)
        let sensor = deviceReference(deviceIdentifier(batch.device))
        let gatewayRef = deviceReference(gatewayIdentifier)
        let timeStamp = identifiers.timeStamp(device: batch.device, boot: batch.boot, firstSeq: first.seq)
        let kind = kindOf(batch.device)
        let newest = batch.readings.max { $0.deviceTime < $1.deviceTime } ?? first
        resources.append(coincidentTimeStamp(patient: batch.patient, timeQuality: batch.timeQuality, receivedAt: batch.receivedAt,
                                             deviceTime: newest.deviceTime, identifier: timeStamp, sensor: sensor, gateway: gatewayRef,
                                             gatewayClock: batch.readings.map(\.gatewayClock).worst))
        for reading in batch.readings {
            // The reading's identifiers with the vital left off (appended per Observation).
            let prefix = identifiers.reading(device: batch.device, boot: batch.boot, seq: reading.seq, vital: "")
            let unusable = reading.qualityGrade == 3
            var systolic: Int16?
            var diastolic: Int16?
            for value in reading.values {
                let channel = value.channel
                switch channel {
                case .systolicBP: systolic = value.raw
                case .diastolicBP: diastolic = value.raw
                default:
                    guard let code = VitalCode.forChannel(channel, kind: kind) else { continue }
                    let identifier = prefix + channel.key
                    resources.append(observation(batch, reading, identifier: identifier, code: code, sensor: sensor,
                                                 gateway: gatewayRef, timeStamp: timeStamp,
                                                 outside: NormalBand.judge(channel, value.raw)) { json in
                        valueOrAbsence(&json, raw: value.raw, channel: channel, unusable: unusable)
                    })
                }
            }
            if systolic != nil || diastolic != nil {
                // The R4 bp profile needs both components: a lone one is a panel without it.
                var code = VitalCode.bloodPressure
                if systolic == nil || diastolic == nil { code.meetsProfile = false }
                resources.append(observation(batch, reading, identifier: prefix + "bp", code: code, sensor: sensor,
                                             gateway: gatewayRef, timeStamp: timeStamp,
                                             outside: systolic.flatMap { NormalBand.judge(.systolicBP, $0) }) { json in
                    json.key("component")
                    json.array { json in
                        var mean: Int16?
                        if let systolic, let diastolic { mean = Self.meanArterialPressure(systolic: systolic, diastolic: diastolic) }
                        for (code, raw, channel) in [(VitalCode.systolic, systolic, Channel.systolicBP), (.diastolic, diastolic, .diastolicBP),
                                                     (.meanPressure, mean, .systolicBP)] {
                            guard let raw else { continue }
                            json.object { json in
                                json.key("code")
                                code.write(&json)
                                valueOrAbsence(&json, raw: raw, channel: channel, unusable: unusable)
                            }
                        }
                    }
                })
            }
        }
        return resources
    }

    private func observation(_ batch: ReadingBatch, _ reading: StoredReading, identifier: String, code: VitalCode,
                             sensor: String, gateway: String, timeStamp: String, outside: NormalBand.Side?,
                             value: (inout JSONWriter) -> Void) -> FHIRResource {
        var json = JSONWriter(capacity: 900)
        json.object { json in
            json.field("resourceType", "Observation")
            meta(&json, profile: code.meetsProfile ? code.vitalSignsProfile.map { Self.vitalSignsProfileBase + $0 } : nil,
                 tags: Self.timeTags(batch.timeQuality, gatewayClock: reading.gatewayClock))
            let link = FHIRResource.Link(type: "Observation", identifier: timeStamp)
            let vitalSign = code.vitalSignsProfile != nil && code.meetsProfile
            json.key("extension")
            json.array { json in
                gatewayExtension(&json, gateway)
                // The time stamp is what the Observation's times must be read with; R4's vital-signs
                // profiles let derivedFrom name vital signs only, so the core precondition extension
                // carries it (every reading, so consumers look in one place).
                json.object { json in
                    json.field("url", Self.preconditionExtension)
                    json.field("valueReference") { json in linkReference(&json, link) }
                }
            }
            identifierArray(&json, identifier)
            json.field("status", "final")
            if code.vitalSignsProfile != nil { vitalSignsCategory(&json) }
            json.key("code")
            code.write(&json)
            json.field("subject") { json in json.field("reference", patientReference(batch.patient)) }
            json.field("effectiveDateTime", fhirInstant(reading.time))
            json.field("issued", fhirInstant(batch.receivedAt))
            value(&json)
            interpretation(&json, outside: outside, flags: reading.flags)
            json.field("device") { json in json.field("reference", sensor) }
            if !vitalSign {
                // As the PHD IG links a measurement to its time stamp.
                json.key("derivedFrom")
                json.array { json in json.object { json in linkReference(&json, link) } }
            }
        }
        return FHIRResource(type: "Observation", identifier: identifier, json: json.bytes,
                            links: [FHIRResource.Link(type: "Observation", identifier: timeStamp)])
    }

    /// (SBP + 2·DBP) / 3, rounded half up to whole mmHg.
    static func meanArterialPressure(systolic: Int16, diastolic: Int16) -> Int16 {
        Int16((Int(systolic) + 2 * Int(diastolic) + 1) / 3)
    }

    /// A reference to another resource Vigil sends: conditional (the Bundle points it at the
    /// target's `fullUrl` when both travel together), with the identifier beside it.
    func linkReference(_ json: inout JSONWriter, _ link: FHIRResource.Link) {
        json.field("reference", link.reference)
        json.field("type", link.type)
        json.field("identifier") { json in
            json.field("system", FHIRResource.identifierSystem)
            json.field("value", link.identifier)
        }
    }

    /// The PHD coincident time stamp: the device's clock (`valueDateTime`, or its uptime when it
    /// has no wall clock) against the gateway's clock when the frame arrived (`effectiveDateTime`).
    /// The device's time is that of the frame's newest reading, the nearest to when it was sent.
    func coincidentTimeStamp(patient: String, timeQuality: TimeQuality, receivedAt: Int64, deviceTime: UInt64, identifier: String,
                             sensor: String, gateway: String, gatewayClock: GatewayClockMark = .trusted) -> FHIRResource {
        var json = JSONWriter(capacity: 700)
        json.object { json in
            json.field("resourceType", "Observation")
            meta(&json, profile: Self.coincidentTimeProfile, tags: Self.timeTags(timeQuality, gatewayClock: gatewayClock))
            gatewayExtensionField(&json, gateway)
            identifierArray(&json, identifier)
            json.field("status", "final")
            json.key("code")
            (timeQuality.isDeviceClock ? VitalCode.absoluteTime : VitalCode.relativeTime).write(&json)
            json.field("subject") { json in json.field("reference", patientReference(patient)) }
            json.field("effectiveDateTime", fhirInstant(receivedAt))
            if timeQuality.isDeviceClock {
                // The device's own wall clock (a suspect one too: its time is still Unix time).
                json.field("valueDateTime", fhirInstant(Int64(clamping: deviceTime)))
                if timeQuality == .suspect {
                    json.key("note")
                    json.array { json in
                        json.object { json in json.field("text", "device clock suspect: it disagrees with the gateway's clock by more than 10 minutes") }
                    }
                }
            } else {
                // A tick counter: the device's uptime in µs (the code's resolution), and how the
                // gateway placed it on its own time line.
                json.field("valueQuantity") { json in
                    json.key("value"); json.raw(deviceTime == 0 ? "0" : "\(deviceTime)000")
                    json.field("unit", "us"); json.field("system", VitalCode.ucumSystem); json.field("code", "us")
                }
                json.key("note")
                json.array { json in
                    json.object { json in json.field("text", timeQuality == .estimated ? "device uptime; reading times estimated by the gateway" : "device uptime; reading times unknown, the gateway's receive time used") }
                }
            }
            json.field("device") { json in json.field("reference", sensor) }
        }
        return FHIRResource(type: "Observation", identifier: identifier, json: json.bytes)
    }

    /// Tags a server filters on (`_tag`): how the time was found, when it is not the device's
    /// own synchronised clock, and how the gateway's clock stood at receipt when it was not
    /// synchronised (uncertain: `gateway-clock-unsynchronised`, with
    /// `gateway-clock-never-synchronised` when it can no longer be corrected; corrected after
    /// the sync: `gateway-clock-corrected`).
    static func timeTags(_ quality: TimeQuality, gatewayClock: GatewayClockMark) -> [String] {
        var tags: [String] = []
        if quality != .device { tags.append(quality.rawValue) }
        switch gatewayClock {
        case .trusted: break
        case .unsynchronised: tags.append("gateway-clock-unsynchronised")
        case .corrected: tags.append("gateway-clock-corrected")
        case .neverSynchronised: tags += ["gateway-clock-unsynchronised", "gateway-clock-never-synchronised"]
        }
        return tags
    }

    static let timeQualitySystem = "urn:vigil:time-quality"

    /// `meta` with the profile claimed and the time-quality tags, when there are any.
    func meta(_ json: inout JSONWriter, profile: String?, tags: [String]) {
        guard profile != nil || !tags.isEmpty else { return }
        json.field("meta") { json in
            if let profile {
                json.key("profile")
                json.array { json in json.string(profile) }
            }
            if !tags.isEmpty {
                json.key("tag")
                json.array { json in
                    for tag in tags { json.object { json in json.field("system", Self.timeQualitySystem); json.field("code", tag) } }
                }
            }
        }
    }

    static let coincidentTimeProfile = "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdCoincidentTimeStampObservation"

    func quantity(_ json: inout JSONWriter, raw: Int16, channel: Channel) {
        json.object { json in
            json.key("value")
            json.raw(decimal(Int(raw), divisor: Int(channel.divisor)))
            json.field("unit", channel.unit)
            json.field("system", VitalCode.ucumSystem)
            json.field("code", channel.unit)
        }
    }

    /// The value, or for a reading judged unusable none and why (`dataAbsentReason` `error`).
    private func valueOrAbsence(_ json: inout JSONWriter, raw: Int16, channel: Channel, unusable: Bool) {
        if unusable {
            unusableAbsence(&json, text: "signal quality unusable")
        } else {
            json.key("valueQuantity")
            quantity(&json, raw: raw, channel: channel)
        }
    }

    /// `dataAbsentReason` `error`: what the PHD IG sends instead of a value judged invalid.
    func unusableAbsence(_ json: inout JSONWriter, text: String?) {
        json.field("dataAbsentReason") { json in
            json.key("coding")
            json.array { json in json.object { json in
                json.field("system", Self.dataAbsentReasonSystem); json.field("code", "error"); json.field("display", "Error")
            } }
            if let text { json.field("text", text) }
        }
    }

    func interpretation(_ json: inout JSONWriter, outside: NormalBand.Side?, flags: UInt8) {
        let grade = (flags >> StoredReading.qualityShift) & 0b11
        // No value, nothing to interpret: the data absent reason says why.
        guard grade < 3 else { return }
        guard outside != nil || grade == 2 else { return }
        json.key("interpretation")
        json.array { json in
            if let outside {
                json.object { json in
                    json.key("coding")
                    json.array { json in json.object { json in
                        json.field("system", Self.interpretationSystem)
                        json.field("code", outside == .high ? "H" : "L"); json.field("display", outside == .high ? "High" : "Low")
                    } }
                }
            }
            if grade == 2 {
                json.object { json in
                    json.key("coding")
                    json.array { json in json.object { json in
                        json.field("system", Self.measurementStatusSystem)
                        json.field("code", "questionable"); json.field("display", "Questionable")
                    } }
                    json.field("text", "signal quality poor")
                }
            }
        }
    }

    // MARK: Gaps

    func gap(_ gap: DataGap) -> FHIRResource {
        let identifier = identifiers.gap(gap)
        let why = switch gap.reason {
        case .thinned: "thinned on the gateway to stay within its storage"
        case .evicted: "deleted on the gateway to stay within its storage"
        case .undelivered: "never delivered by the sensor"
        case .damaged: "lost in damaged storage on the gateway"
        case .beforeFirstSeen: "sent before the gateway knew the sensor's boot"
        }
        var json = JSONWriter(capacity: 700)
        json.object { json in
            json.field("resourceType", "Flag")
            identifierArray(&json, identifier)
            json.field("status", "active")
            category(&json, system: "http://terminology.hl7.org/CodeSystem/flag-category", code: "admin")
            json.field("code") { json in json.field("text", "Remote monitoring data missing: \(gap.count) readings from \(gap.device) \(why)") }
            json.field("subject") { json in json.field("reference", patientReference(gap.patient)) }
            json.field("period") { json in
                json.field("start", fhirInstant(gap.from))
                json.field("end", fhirInstant(max(gap.to, gap.from)))
            }
            json.field("author") { json in json.field("reference", deviceReference(gatewayIdentifier)) }
        }
        return FHIRResource(type: "Flag", identifier: identifier, json: json.bytes)
    }

    // MARK: Shared pieces

    func identifierArray(_ json: inout JSONWriter, _ value: String) {
        json.key("identifier")
        json.array { json in
            json.object { json in
                json.field("system", FHIRResource.identifierSystem)
                json.field("value", value)
            }
        }
    }

    private func gatewayExtensionField(_ json: inout JSONWriter, _ gateway: String) {
        json.key("extension")
        json.array { json in gatewayExtension(&json, gateway) }
    }

    func gatewayExtension(_ json: inout JSONWriter, _ gateway: String) {
        json.object { json in
            json.field("url", Self.gatewayExtension)
            json.field("valueReference") { json in json.field("reference", gateway) }
        }
    }

    func vitalSignsCategory(_ json: inout JSONWriter) {
        category(&json, system: Self.categorySystem, code: "vital-signs", display: "Vital Signs")
    }

    /// `"category": [{"coding": [{system, code, display}]}]`.
    func category(_ json: inout JSONWriter, system: String, code: String, display: String? = nil) {
        json.key("category")
        json.array { json in
            json.object { json in
                json.key("coding")
                json.array { json in json.object { json in
                    json.field("system", system); json.field("code", code)
                    if let display { json.field("display", display) }
                } }
            }
        }
    }
}

extension Sequence<GatewayClockMark> {
    /// The least certain of them (a frame's time stamp speaks for all its readings).
    var worst: GatewayClockMark {
        func rank(_ mark: GatewayClockMark) -> Int {
            switch mark {
            case .trusted: 0
            case .corrected: 1
            case .unsynchronised: 2
            case .neverSynchronised: 3
            }
        }
        return self.max { rank($0) < rank($1) } ?? .trusted
    }
}
