import VigilProtocol

/// Why validation refused a message. `code` is the reason code of PROTOCOL.md, used as the
/// metrics label and in log lines.
public enum ValidationReason: Sendable, Equatable, Hashable {
    case frame(FrameRejection)
    case unprovisioned
    case replayed
    case rateLimited
    /// A frame type this topic does not carry (e.g. an ACK on `up`).
    case wrongTopic
    /// A channel the device's registry entry does not allow.
    case channelNotAllowed
    /// The JSON debug form from a device whose registry entry does not enable it.
    case jsonDisabled

    public var code: String {
        switch self {
        case .frame(let rejection): rejection.rawValue
        case .unprovisioned: "unprovisioned"
        case .replayed: "replayed"
        case .rateLimited: "rate_limited"
        case .wrongTopic: "unknown_type"
        case .channelNotAllowed: "unknown_channel"
        case .jsonDisabled: "json_disabled"
        }
    }
}
