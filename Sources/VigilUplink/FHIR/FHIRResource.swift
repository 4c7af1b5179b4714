import Crypto

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
    /// Sent as an update of this logical id (`PUT <type>/<id>`), for resources R4 gives no
    /// identifier (AuditEvent); `identifier` is then the id too.
    public let logicalID: String?
    /// Vigil resources this one refers to by conditional reference (``Link/reference``). When the
    /// target travels in the same Bundle, the Bundle points the reference at the target's
    /// `fullUrl` instead: a server resolves a conditional reference only against what it holds.
    public let links: [Link]

    public struct Link: Sendable, Equatable, Hashable {
        public let type: String
        public let identifier: String

        public init(type: String, identifier: String) {
            self.type = type
            self.identifier = identifier
        }

        /// `Observation?identifier=urn:ietf:rfc:3986|…`: resolvable on a server that holds it.
        public var reference: String { "\(type)?identifier=\(FHIRResource.identifierSystem)|\(identifier)" }
    }

    public init(type: String, identifier: String, json: [UInt8], replaces: Bool = false, links: [Link] = []) {
        self.type = type
        self.identifier = identifier
        self.json = json
        self.replaces = replaces
        self.links = links
        logicalID = nil
    }

    /// A resource sent by its logical id (`PUT <type>/<id>`).
    public init(type: String, logicalID: String, json: [UInt8], links: [Link] = []) {
        self.type = type
        identifier = logicalID
        self.json = json
        replaces = true
        self.links = links
        self.logicalID = logicalID
    }

    /// The entry's `fullUrl`: a UUID named by the identifier (RFC 4122 version 5 layout over
    /// SHA-1), so every retry of the same resource carries the same one.
    public var fullURL: String { Self.fullURL(identifier) }

    static func fullURL(_ identifier: String) -> String {
        var digest = Array(Insecure.SHA1.hash(data: Array(identifier.utf8)).prefix(16))
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = Array("urn:uuid:".utf8)
        for (index, byte) in digest.enumerated() {
            if [4, 6, 8, 10].contains(index) { text.append(UInt8(ascii: "-")) }
            text.append(hex[Int(byte >> 4)]); text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
