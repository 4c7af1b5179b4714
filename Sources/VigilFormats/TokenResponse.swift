import Foundation

/// An OAuth 2.0 token endpoint's answer (RFC 6749 §5.1) as the uplink uses it. Pure.
public struct TokenResponse: Sendable, Equatable {
    public let accessToken: String
    /// `expires_in`, within 0…86,400 s; 300 when absent or not a whole number.
    public let lifetimeSeconds: Int

    /// nil unless HTTP 200 with a JSON object holding a non-empty string `access_token`.
    public static func parse(status: Int, body: [UInt8]) -> TokenResponse? {
        guard status == 200, let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
              let token = object["access_token"] as? String, !token.isEmpty, token.utf8.count <= 16_384 else { return nil }
        let lifetime = (object["expires_in"] as? NSNumber).flatMap { Int(exactly: $0.doubleValue) } ?? 300
        return TokenResponse(accessToken: token, lifetimeSeconds: min(max(lifetime, 0), 86_400))
    }
}
