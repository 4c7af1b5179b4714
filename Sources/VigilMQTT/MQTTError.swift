import CMosquitto

#if canImport(Glibc)
import Glibc
#endif

/// A failure from libmosquitto or from the broker, with the library's own wording.
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The broker answered CONNECT with a non-zero CONNACK code (e.g. 5: not authorised).
        case connectionRefused(connackCode: Int32)
        /// A libmosquitto call failed with this `MOSQ_ERR_*` code.
        case library(code: Int32)
        /// Not connected right now (QoS 0 only: QoS 1 messages are queued until the reconnect).
        case notConnected
        /// The client is shutting down or was never started.
        case shutdown
        /// The configuration was rejected before any network activity (e.g. a missing CA file).
        case invalidConfiguration
        /// The broker answered SUBSCRIBE with failure (0x80) for this filter, e.g. its ACL.
        case subscriptionRefused(filter: String)
    }

    public let kind: Kind
    public let message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func library(_ code: Int32, _ context: String) -> MQTTError {
        if code == Int32(MOSQ_ERR_NO_CONN.rawValue) {
            return MQTTError(kind: .notConnected, message: "\(context): not connected to the broker")
        }
        var text = String(cString: mosquitto_strerror(code))
        if code == Int32(MOSQ_ERR_ERRNO.rawValue) {
            // libmosquitto's own text for ERRNO is just "Unknown error"; errno says what happened.
            text = String(cString: strerror(errno))
        }
        return MQTTError(kind: .library(code: code), message: "\(context): \(text)")
    }

    static func subscriptionRefused(_ filter: String) -> MQTTError {
        MQTTError(kind: .subscriptionRefused(filter: filter),
                  message: "broker refused the subscription to \(filter) (SUBACK 0x80: not allowed by its ACL?)")
    }

    static func refused(_ code: Int32) -> MQTTError {
        MQTTError(
            kind: .connectionRefused(connackCode: code),
            message: "broker refused the connection: \(String(cString: mosquitto_connack_string(code)))"
        )
    }

    static let shutdown = MQTTError(kind: .shutdown, message: "MQTT client is shut down")

    /// `true` when retrying cannot help until someone changes credentials or configuration.
    public var needsOperator: Bool {
        switch kind {
        case .connectionRefused(let code): return ConnackCode(rawValue: code)?.needsOperator ?? false
        case .invalidConfiguration, .subscriptionRefused: return true
        case .library, .shutdown, .notConnected: return false
        }
    }
}

/// MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
public enum ConnackCode: Int32, Sendable {
    case accepted = 0
    case unacceptableProtocolVersion = 1
    case identifierRejected = 2
    case serverUnavailable = 3
    case badUsernameOrPassword = 4
    case notAuthorized = 5

    /// Refusals no retry can cure: a person must fix the client id or the credentials.
    var needsOperator: Bool { self == .identifierRejected || self == .badUsernameOrPassword || self == .notAuthorized }
}
