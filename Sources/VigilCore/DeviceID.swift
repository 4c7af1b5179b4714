/// A sensor's identity as it appears in MQTT topics, the registry and logs.
///
/// Restricted to `[A-Za-z0-9_-]`, 1...32 characters, so that an id can never smuggle an MQTT
/// wildcard (`+`, `#`) or a level separator (`/`) into a topic or an ACL pattern, and is safe to
/// print in a log line or use as a file name.
public struct DeviceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public static let maxLength = 32

    public let rawValue: String

    /// Returns `nil` when `rawValue` is empty, too long or holds a character outside the set.
    public init?(_ rawValue: some StringProtocol) {
        guard Self.isValid(rawValue.utf8) else { return nil }
        self.rawValue = String(rawValue)
    }

    /// Validates raw UTF-8 without building a `String` first (used on the per-message path).
    public static func isValid(_ bytes: some Collection<UInt8>) -> Bool {
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: DeviceID, rhs: DeviceID) -> Bool { lhs.rawValue < rhs.rawValue }
}
