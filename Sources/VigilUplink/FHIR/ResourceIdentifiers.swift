import VigilCore

/// Every identifier the mapper gives a resource or refers to (system `urn:ietf:rfc:3986`), in one
/// place. Each is built from what makes the resource what it is, never from when it was sent, so
/// an upload retried or repeated after a restart creates nothing twice (conditional create).
struct ResourceIdentifiers: Sendable {
    let gateway: String

    var gatewayDevice: String { "urn:vigil:\(gateway):gateway" }

    func device(_ device: String) -> String { "urn:vigil:\(gateway):device:\(device)" }

    /// A reading's Observation of one vital (`pr`, `spo2`, `bp`, …).
    func reading(device: String, boot: UInt32, seq: UInt32, vital: String) -> String {
        "urn:vigil:\(gateway):obs:\(device):\(boot):\(seq):\(vital)"
    }

    /// The coincident time stamp Observation of a stored batch, named by its first sequence.
    func timeStamp(device: String, boot: UInt32, firstSeq: UInt32) -> String {
        reading(device: device, boot: boot, seq: firstSeq, vital: "cts")
    }

    /// One event (raise, escalate, remind, clear, acknowledge) of an alert episode.
    func alert(patient: String, alertID: String, event: String, time: Int64) -> String {
        "urn:vigil:\(gateway):alert:\(patient):\(alertID):\(event):\(time)"
    }

    func news2Score(patient: String, time: Int64) -> String { "urn:vigil:\(gateway):news2:\(patient):\(time)" }

    func gap(_ gap: DataGap) -> String {
        "urn:vigil:\(gateway):gap:\(gap.device):\(gap.reason.rawValue):\(gap.from):\(gap.to):\(gap.count)"
    }

    /// A minute rollup's Observation of one vital (or its time stamp, `cts`), named by the
    /// minute as stored and its first reading (a late reading for the same minute is a rollup of
    /// its own; a corrected time does not make it a new resource).
    func rollup(_ rollup: MinuteRollup, vital: String) -> String {
        "urn:vigil:\(gateway):min:\(rollup.device):\(rollup.boot):\(rollup.storedStart):\(rollup.firstSeq):\(vital)"
    }

    /// A patient's coverage Observation for one day (the gateway's day, `YYYY-MM-DD`).
    func coverage(patient: String, day: String) -> String { "urn:vigil:\(gateway):coverage:\(patient):\(day)" }
}
