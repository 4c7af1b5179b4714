import VigilCore

/// The MQTT topic scheme shared by the gateway, the broker ACL and the firmware:
/// `<prefix>/<device>/<kind>`, with the prefix `vigil/v1` by default.
///
/// Devices write `up` and `status`; the gateway writes `ack`, `config` and `cmd`. The broker's ACL
/// (`config/mosquitto/acl`) enforces the same split with `%u` patterns.
public struct Topics: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Device → gateway: reading frames.
        case up
        /// Device → gateway: birth and last-will messages (retained).
        case status
        /// Gateway → device: durable acknowledgement of stored readings.
        case ack
        /// Gateway → device: signed, versioned, retained settings.
        case config
        /// Gateway → device: commands such as resend requests.
        case cmd
    }

    public let prefix: String

    /// - Precondition: `prefix` has no wildcard and no leading or trailing `/`.
    public init(prefix: String = "vigil/v1") {
        precondition(!prefix.isEmpty && !prefix.contains("+") && !prefix.contains("#"))
        precondition(!prefix.hasPrefix("/") && !prefix.hasSuffix("/"))
        self.prefix = prefix
    }

    public func topic(_ device: DeviceID, _ kind: Kind) -> String {
        "\(prefix)/\(device.rawValue)/\(kind.rawValue)"
    }

    /// The subscription filter matching `kind` for every device.
    public func filter(_ kind: Kind) -> String { "\(prefix)/+/\(kind.rawValue)" }

    /// The topic on which the gateway itself announces online/offline (its birth and last will).
    public func gatewayStatus(_ gatewayID: String) -> String { "\(prefix)/_gateway/\(gatewayID)/status" }

    /// The topic on which upstream (the hospital side, through the uplink or a broker bridge)
    /// acknowledges the gateway's alerts: JSON `{"patient", "alert_id", "by"}`.
    public func gatewayAlertAck(_ gatewayID: String) -> String { "\(prefix)/_gateway/\(gatewayID)/alert-ack" }

    /// The topic on which a patient's clinical settings are changed (upstream, or a tool on the
    /// gateway): JSON `{"patient", "by", "spo2_scale", ...}` (README, "Per-patient clinical settings").
    public func gatewayPatientSettings(_ gatewayID: String) -> String { "\(prefix)/_gateway/\(gatewayID)/patient-settings" }

    /// Where the hospital changes a patient's clinical settings on an upstream broker.
    public static func upstreamPatientSettings(prefix: String, gateway: String) -> String { "\(prefix)/\(gateway)/patient-settings" }

    /// Where the hospital acknowledges this gateway's alerts on an upstream broker.
    public static func upstreamAlertAck(prefix: String, gateway: String) -> String { "\(prefix)/\(gateway)/alert-ack" }

    /// Splits a received topic into device and kind; `nil` for anything outside the scheme.
    ///
    /// Works on the UTF-8 bytes and allocates only the device id's string.
    public func parse(_ topic: String) -> (device: DeviceID, kind: Kind)? {
        var utf8 = Substring(topic).utf8
        guard utf8.starts(with: prefix.utf8) else { return nil }
        utf8 = utf8.dropFirst(prefix.utf8.count)
        guard utf8.first == UInt8(ascii: "/") else { return nil }
        utf8 = utf8.dropFirst()
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let deviceBytes = utf8[..<slash]
        let kindBytes = utf8[utf8.index(after: slash)...]
        guard DeviceID.isValid(deviceBytes),
            let kind = Kind(rawValue: String(Substring(kindBytes))),
            let device = DeviceID(Substring(deviceBytes))
        else { return nil }
        return (device, kind)
    }
}
