import AsyncHTTPClient
import Foundation
import NIOCore

/// What `vigil setup` asks of the server before a gateway is configured for it.
extension FHIRTransport {
    /// A transaction with no entries: exercises TLS, the token and write access, creates nothing.
    public static let emptyTransaction = Array(#"{"resourceType":"Bundle","type":"transaction","entry":[]}"#.utf8)

    /// GET `<base>/metadata` (the CapabilityStatement), with the same TLS and token as uploads.
    public func capabilities() async throws -> Response {
        let timeout = Self.timeAmount(configuration.requestTimeout)
        var url = configuration.baseURL
        while url.hasSuffix("/") { url.removeLast() }
        var request = HTTPClientRequest(url: url + "/metadata")
        request.headers.add(name: "Accept", value: "application/fhir+json")
        if let authorization = try await tokens.authorization(client: client, timeout: timeout) {
            request.headers.add(name: "Authorization", value: authorization)
        }
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 8 << 20)
        return Response(status: Int(response.status.code), body: Array(body.readableBytesView), sentBytes: 0)
    }

    /// "FHIR 4.0.1, <software>" from a CapabilityStatement, or what came instead.
    public static func describeCapabilities(_ response: Response) -> String {
        guard response.status == 200,
              let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              object["resourceType"] as? String == "CapabilityStatement" else {
            return "HTTP \(response.status), not a CapabilityStatement"
        }
        let software = (object["software"] as? [String: Any])?["name"] as? String
        return "FHIR \(object["fhirVersion"] as? String ?? "?")" + (software.map { ", \($0)" } ?? "")
    }

    /// The first OperationOutcome diagnostic of a refusal, if the server sent one.
    public static func describeRefusal(_ response: Response) -> String {
        let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        let issue = (object?["issue"] as? [[String: Any]])?.first
        return (issue?["diagnostics"] as? String) ?? (issue?["code"] as? String) ?? "no OperationOutcome"
    }
}
