import Foundation

/// An acknowledgement of an alert from upstream, `{"patient", "alert_id", "by"}` on the gateway's
/// alert-ack topic (README "Alerts"): who took charge of which episode. Pure.
public struct AlertAcknowledgement: Sendable, Equatable {
    public let patient: String
    public let alertID: String
    public let by: String

    public static let maxBytes = 4_096

    /// nil for anything else: too long, not a JSON object, a field missing or not a string, an
    /// empty `by` or one longer than 128 characters.
    public static func parse(_ payload: [UInt8]) -> AlertAcknowledgement? {
        guard payload.count <= maxBytes,
              let fields = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let patient = fields["patient"] as? String, let alertID = fields["alert_id"] as? String,
              let by = fields["by"] as? String, !by.isEmpty, by.count <= 128 else { return nil }
        return AlertAcknowledgement(patient: patient, alertID: alertID, by: by)
    }
}
