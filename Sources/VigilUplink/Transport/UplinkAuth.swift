import AsyncHTTPClient
import Crypto
import _CryptoExtras
import Foundation
import NIOCore
import Synchronization
import VigilFormats

/// How the uplink authenticates to the FHIR server.
public enum UplinkAuth: Sendable, Equatable {
    case none
    /// A bearer token read from a file on every request (a sidecar may rotate it).
    case bearerTokenFile(String)
    /// OAuth 2.0 client credentials with a client secret (HTTP Basic at the token endpoint).
    case clientCredentials(tokenURL: String, clientID: String, secretFile: String, scope: String?)
    /// SMART Backend Services: client credentials with a signed JWT assertion (`private_key_jwt`).
    case smartBackendServices(tokenURL: String, clientID: String, privateKeyFile: String, keyID: String,
                              algorithm: SigningAlgorithm, scope: String)

    public enum SigningAlgorithm: String, Sendable, CaseIterable { case es384 = "ES384", rs384 = "RS384" }

    /// Whether tokens come from a token endpoint (and can be refreshed).
    public var usesTokenEndpoint: Bool {
        switch self {
        case .clientCredentials, .smartBackendServices: true
        case .none, .bearerTokenFile: false
        }
    }
}

public struct UplinkAuthError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// The client assertion of SMART Backend Services: a JWT signed with the gateway's private key
/// (ES384 or RS384), `iss` = `sub` = the client id, `aud` = the token endpoint, valid five
/// minutes, with a unique `jti`. Pure apart from the key parsing.
public enum ClientAssertion {
    public static func make(clientID: String, tokenURL: String, privateKeyPEM: String, keyID: String,
                            algorithm: UplinkAuth.SigningAlgorithm, now: Date = Date(), jti: String = UUID().uuidString) throws -> String {
        let header = #"{"alg":"\#(algorithm.rawValue)","kid":\#(jsonString(keyID)),"typ":"JWT"}"#
        let expiry = Int(now.timeIntervalSince1970) + 300
        let claims = #"{"aud":\#(jsonString(tokenURL)),"exp":\#(expiry),"iss":\#(jsonString(clientID)),"jti":\#(jsonString(jti)),"sub":\#(jsonString(clientID))}"#
        let signingInput = base64URL(Data(header.utf8)) + "." + base64URL(Data(claims.utf8))
        let signature: Data
        switch algorithm {
        case .es384:
            let key = try P384.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
            signature = try key.signature(for: Data(signingInput.utf8)).rawRepresentation
        case .rs384:
            let key = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
            signature = try key.signature(for: SHA384.hash(data: Data(signingInput.utf8)), padding: .insecurePKCS1v1_5).rawRepresentation
        }
        return signingInput + "." + base64URL(signature)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func jsonString(_ text: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [text], options: []), as: UTF8.self).dropFirst().dropLast()
            .description
    }
}

/// Gets, caches and refreshes access tokens: a token is reused until 30 s (or a tenth of its
/// lifetime, if shorter) before it expires, and dropped when the server answers 401.
final class TokenProvider: Sendable {
    private let auth: UplinkAuth
    private let cached = Mutex<(token: String, refreshAt: ContinuousClock.Instant)?>(nil)

    init(_ auth: UplinkAuth) { self.auth = auth }

    func invalidate() { cached.withLock { $0 = nil } }

    /// The `Authorization` header value, or nil when the server needs none.
    func authorization(client: HTTPClient, timeout: TimeAmount) async throws -> String? {
        switch auth {
        case .none:
            return nil
        case .bearerTokenFile(let path):
            let token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            return token.isEmpty ? nil : "Bearer \(token)"
        case .clientCredentials, .smartBackendServices:
            if let current = cached.withLock({ $0 }), ContinuousClock.now < current.refreshAt { return "Bearer \(current.token)" }
            let (token, lifetime) = try await fetch(client: client, timeout: timeout)
            let margin = min(30, max(lifetime / 10, 0))
            cached.withLock { $0 = (token, ContinuousClock.now + .seconds(max(lifetime - margin, 0))) }
            return "Bearer \(token)"
        }
    }

    private func fetch(client: HTTPClient, timeout: TimeAmount) async throws -> (String, Int) {
        var form: [(String, String)] = [("grant_type", "client_credentials")]
        let tokenURL: String
        var request: HTTPClientRequest
        switch auth {
        case .clientCredentials(let url, let clientID, let secretFile, let scope):
            tokenURL = url
            request = HTTPClientRequest(url: url)
            let secret = try String(contentsOfFile: secretFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            request.headers.add(name: "Authorization", value: "Basic " + Data("\(formEncode(clientID)):\(formEncode(secret))".utf8).base64EncodedString())
            if let scope { form.append(("scope", scope)) }
        case .smartBackendServices(let url, let clientID, let keyFile, let keyID, let algorithm, let scope):
            tokenURL = url
            request = HTTPClientRequest(url: url)
            let pem = try String(contentsOfFile: keyFile, encoding: .utf8)
            form += [("scope", scope), ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                     ("client_assertion", try ClientAssertion.make(clientID: clientID, tokenURL: url, privateKeyPEM: pem,
                                                                   keyID: keyID, algorithm: algorithm))]
        case .none, .bearerTokenFile:
            return ("", 0)
        }
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        request.body = .bytes(ByteBuffer(string: form.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")))
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 1 << 20)
        guard let answer = TokenResponse.parse(status: Int(response.status.code), body: Array(body.readableBytesView)) else {
            throw UplinkAuthError(description: "token request to \(tokenURL) failed: HTTP \(response.status.code) "
                                  + String(decoding: body.readableBytesView.prefix(200), as: UTF8.self))
        }
        return (answer.accessToken, answer.lifetimeSeconds)
    }

    private func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
