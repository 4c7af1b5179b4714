/// One resource ready for a transaction Bundle: its type, the business identifier that makes
/// the upload idempotent (`ifNoneExist`), and its JSON.
public struct FHIRResource: Sendable, Equatable {
    public static let identifierSystem = "urn:ietf:rfc:3986"

    public let type: String
    /// The identifier's value (system ``identifierSystem``): stable across retries.
    public let identifier: String
    public let json: [UInt8]
    /// Sent as a conditional update (`PUT <type>?identifier=…`: create or replace) instead of a
    /// conditional create: for Devices, whose firmware and battery change.
    public let replaces: Bool

    public init(type: String, identifier: String, json: [UInt8], replaces: Bool = false) {
        self.type = type
        self.identifier = identifier
        self.json = json
        self.replaces = replaces
    }
}
