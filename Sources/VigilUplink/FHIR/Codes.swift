import VigilProtocol

/// Terminology for the vitals Vigil uploads: IEEE 11073-10101 (MDC) and LOINC codings as the HL7
/// Personal Health Device IG uses them, and UCUM units (`../shared/reference/clinical.md`).
struct VitalCode: Sendable {
    let mdc: String
    let mdcDisplay: String
    let loinc: String?
    let loincDisplay: String?
    /// The FHIR R4 core vital-signs profile the code qualifies for (`nil`: not a vital sign, so
    /// no `vital-signs` category either): `heartrate`, `oxygensat`, `resprate`, `bodytemp`, `bp`.
    var vitalSignsProfile: String?
    /// Whether this Observation meets that profile (a pressure panel missing a component does not).
    var meetsProfile = true
    /// Further LOINC codings (SpO2: 59408-5, by pulse oximetry, beside the profile's 2708-6).
    var moreLoinc: [(code: String, display: String)] = []

    static let mdcSystem = "urn:iso:std:iso:11073:10101"
    static let loincSystem = "http://loinc.org"
    static let ucumSystem = "http://unitsofmeasure.org"

    /// Codes per channel; `nil` for channels uploaded only as device facts (battery, RSSI) or not
    /// at all (activity is an input to signal quality, not a clinical measurement). The MDC code
    /// of a pulse rate follows what measured it: a cuff's is MDC_PULS_RATE_NON_INV, an oximeter's
    /// MDC_PULS_OXIM_PULS_RATE; a heart rate is MDC_ECG_HEART_RATE whatever measured it.
    static func forChannel(_ channel: Channel, kind: String? = nil) -> VitalCode? {
        switch channel {
        case .pulseRate where kind == "bp-cuff":
            VitalCode(mdc: "149546", mdcDisplay: "MDC_PULS_RATE_NON_INV", loinc: "8867-4", loincDisplay: "Heart rate",
                      vitalSignsProfile: "heartrate")
        case .heartRate: VitalCode(mdc: "147842", mdcDisplay: "MDC_ECG_HEART_RATE", loinc: "8867-4", loincDisplay: "Heart rate",
                                   vitalSignsProfile: "heartrate")
        case .pulseRate: VitalCode(mdc: "149530", mdcDisplay: "MDC_PULS_OXIM_PULS_RATE", loinc: "8867-4", loincDisplay: "Heart rate",
                                   vitalSignsProfile: "heartrate")
        case .spo2: VitalCode(mdc: "150456", mdcDisplay: "MDC_PULS_OXIM_SAT_O2", loinc: "2708-6",
                              loincDisplay: "Oxygen saturation in Arterial blood", vitalSignsProfile: "oxygensat",
                              moreLoinc: [("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry")])
        case .respiratoryRate: VitalCode(mdc: "151562", mdcDisplay: "MDC_RESP_RATE", loinc: "9279-1", loincDisplay: "Respiratory rate",
                                         vitalSignsProfile: "resprate")
        case .coreTemperature: VitalCode(mdc: "150364", mdcDisplay: "MDC_TEMP_BODY", loinc: "8310-5", loincDisplay: "Body temperature",
                                         vitalSignsProfile: "bodytemp")
        case .skinTemperature: VitalCode(mdc: "150388", mdcDisplay: "MDC_TEMP_SKIN", loinc: "39106-0", loincDisplay: "Temperature of Skin")
        case .perfusionIndex: VitalCode(mdc: "150488", mdcDisplay: "MDC_PULS_OXIM_PERF_REL", loinc: nil, loincDisplay: nil)
        case .systolicBP, .diastolicBP, .activity, .battery, .rssi: nil
        }
    }

    static let bloodPressure = VitalCode(mdc: "150020", mdcDisplay: "MDC_PRESS_BLD_NONINV", loinc: "85354-9",
                                         loincDisplay: "Blood pressure panel with all children optional", vitalSignsProfile: "bp")
    static let systolic = VitalCode(mdc: "150021", mdcDisplay: "MDC_PRESS_BLD_NONINV_SYS", loinc: "8480-6", loincDisplay: "Systolic blood pressure")
    static let diastolic = VitalCode(mdc: "150022", mdcDisplay: "MDC_PRESS_BLD_NONINV_DIA", loinc: "8462-4", loincDisplay: "Diastolic blood pressure")
    static let meanPressure = VitalCode(mdc: "150023", mdcDisplay: "MDC_PRESS_BLD_NONINV_MEAN", loinc: "8478-0", loincDisplay: "Mean blood pressure")
    /// The PHD IG's coincident time stamp codes (MDC clock types): a device with a wall clock
    /// reports absolute time, one with only a tick counter relative time (1 µs resolution).
    static let absoluteTime = VitalCode(mdc: "67975", mdcDisplay: "MDC_ATTR_TIME_ABS", loinc: nil, loincDisplay: nil)
    static let relativeTime = VitalCode(mdc: "68072", mdcDisplay: "MDC_ATTR_TIME_REL_HI_RES", loinc: nil, loincDisplay: nil)

    func write(_ json: inout JSONWriter) {
        json.object { json in
            json.key("coding")
            json.array { json in
                json.object { json in
                    json.field("system", Self.mdcSystem)
                    json.field("code", mdc)
                    json.field("display", mdcDisplay)
                }
                if let loinc {
                    json.object { json in
                        json.field("system", Self.loincSystem)
                        json.field("code", loinc)
                        if let loincDisplay { json.field("display", loincDisplay) }
                    }
                }
                for (code, display) in moreLoinc {
                    json.object { json in
                        json.field("system", Self.loincSystem); json.field("code", code); json.field("display", display)
                    }
                }
            }
        }
    }
}
