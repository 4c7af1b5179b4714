import Foundation
import VigilFuzzSupport
import VigilProtocol
import VigilScoring

/// Upstream's acknowledgement of an alert: what parses must survive a round trip.
let alertAcknowledgement = FuzzTarget("alert-ack", seeds: {
    [#"{"patient":"Patient/p-1","alert_id":"news2@1795350000000","by":"nurse.kim"}"#, #"{"patient":"","alert_id":"x","by":"a"}"#,
     #"{"patient":"Patient/p-1","alert_id":"drift@1","by":"\u00e9quipe","extra":[1,{"a":null}]}"#].map { Array($0.utf8) }
}) { bytes in
    guard let ack = AlertAcknowledgement.parse(bytes) else { return }
    precondition(!ack.by.isEmpty && ack.by.count <= 128 && bytes.count <= AlertAcknowledgement.maxBytes)
    let again = try! JSONSerialization.data(withJSONObject: ["patient": ack.patient, "alert_id": ack.alertID, "by": ack.by])
    precondition(AlertAcknowledgement.parse(Array(again)) == ack, "an acknowledgement does not survive a round trip")
}

/// Upstream's change of a patient's clinical settings: parsed, then applied to settings, which
/// either refuses it or yields settings that validate.
let patientSettings = FuzzTarget("patient-settings", seeds: {
    [#"{"patient":"Patient/p-1","by":"dr.o","spo2_scale":2,"spo2_target":"88-92","on_oxygen":true,"consciousness":"A","reason":"COPD"}"#,
     #"{"patient":"Patient/p-1","by":"dr.o","on_oxygen":null,"consciousness":null,"drift_effects":{"hr":{"up":200,"down":150}}}"#,
     #"{"patient":"Patient/p-2","by":"x","spo2_scale":1}"#].map { Array($0.utf8) }
}) { bytes in
    guard let (patient, change) = try? ClinicalSettings.Change.parse(json: bytes) else { return }
    guard let settings = try? ClinicalSettings(patient: patient).applying(change, at: 1_795_350_000_000) else { return }
    precondition((try? settings.validate()) != nil, "applied settings that do not validate")
}
