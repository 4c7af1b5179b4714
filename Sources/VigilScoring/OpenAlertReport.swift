/// An open alert episode, as status and the control socket report it.
public struct OpenAlertReport: Codable, Sendable, Equatable {
    public var patient: String
    public var alertID: String
    public var since: Int64
    public var acknowledged: Bool

    public init(patient: String, alertID: String, since: Int64, acknowledged: Bool) {
        self.patient = patient
        self.alertID = alertID
        self.since = since
        self.acknowledged = acknowledged
    }

    enum CodingKeys: String, CodingKey {
        // "alertId" so the snake-case strategies map it to and from "alert_id".
        case patient, since, acknowledged, alertID = "alertId"
    }
}
