import AsyncHTTPClient
import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Posts transaction Bundles to a FHIR server over AsyncHTTPClient: TLS with an optional CA
/// bundle and client certificate (mTLS), authentication (``UplinkAuth``: a bearer token file,
/// OAuth 2.0 client credentials, or SMART Backend Services with cached, refreshed tokens),
/// connect and request timeouts, gzip bodies.
/// Where transaction Bundles go: the HTTPS transport, or an in-memory twin in tests.
public protocol FHIRPosting: Sendable {
    func post(_ body: [UInt8]) async throws -> FHIRTransport.Response
    func shutdown() async throws
}

public final class FHIRTransport: FHIRPosting {
    public struct Configuration: Sendable, Equatable {
        public var baseURL: String
        public var auth: UplinkAuth
        public var caFile: String?
        public var clientCertificateFile: String?
        public var clientKeyFile: String?
        public var connectTimeout: Duration
        public var requestTimeout: Duration
        /// Send bodies gzip-compressed (`Content-Encoding: gzip`): FHIR JSON shrinks about tenfold.
        public var gzip: Bool

        public init(baseURL: String, auth: UplinkAuth = .none, caFile: String? = nil, clientCertificateFile: String? = nil,
                    clientKeyFile: String? = nil, connectTimeout: Duration = .seconds(5), requestTimeout: Duration = .seconds(30),
                    gzip: Bool = true) {
            self.baseURL = baseURL
            self.auth = auth
            self.caFile = caFile
            self.clientCertificateFile = clientCertificateFile
            self.clientKeyFile = clientKeyFile
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.gzip = gzip
        }
    }

    public struct Response: Sendable {
        public let status: Int
        public let retryAfter: String?
        public let body: [UInt8]
        /// Bytes of the request body as sent (after compression).
        public let sentBytes: Int

        public init(status: Int, retryAfter: String? = nil, body: [UInt8], sentBytes: Int) {
            self.status = status
            self.retryAfter = retryAfter
            self.body = body
            self.sentBytes = sentBytes
        }
    }

    let configuration: Configuration
    let client: HTTPClient
    let tokens: TokenProvider

    public init(_ configuration: Configuration) throws {
        self.configuration = configuration
        tokens = TokenProvider(configuration.auth)
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caFile = configuration.caFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        if let certificate = configuration.clientCertificateFile, let key = configuration.clientKeyFile {
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        }
        var http = HTTPClient.Configuration(tlsConfiguration: tls)
        http.timeout = .init(connect: Self.timeAmount(configuration.connectTimeout),
                             read: nil)
        http.connectionPool = .init(idleTimeout: .seconds(60))
        http.decompression = .enabled(limit: .ratio(20))
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
    }

    /// POSTs `body` (a Bundle) to the server's base URL. A 401 drops the cached access token and
    /// tries once more with a fresh one (it may have been revoked or expired early).
    public func post(_ body: [UInt8]) async throws -> Response {
        let response = try await postOnce(body)
        guard response.status == 401, configuration.auth.usesTokenEndpoint else { return response }
        tokens.invalidate()
        return try await postOnce(body)
    }

    private func postOnce(_ body: [UInt8]) async throws -> Response {
        let timeout = Self.timeAmount(configuration.requestTimeout)
        var request = HTTPClientRequest(url: configuration.baseURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/fhir+json")
        request.headers.add(name: "Accept", value: "application/fhir+json")
        request.headers.add(name: "Prefer", value: "return=minimal")
        if let authorization = try await tokens.authorization(client: client, timeout: timeout) {
            request.headers.add(name: "Authorization", value: authorization)
        }
        var buffer = ByteBuffer(bytes: body)
        if configuration.gzip {
            // Level 1: most of gzip's gain on repetitive FHIR JSON at a fraction of the CPU.
            buffer = try buffer.compress(with: .gzip(configuration: .init(compressionLevel: .fastestCompression)))
            request.headers.add(name: "Content-Encoding", value: "gzip")
        }
        let sentBytes = buffer.readableBytes
        request.body = .bytes(buffer)
        let response = try await client.execute(request, timeout: timeout)
        let answer = try await response.body.collect(upTo: 64 << 20)
        return Response(status: Int(response.status.code), retryAfter: response.headers.first(name: "Retry-After"),
                        body: Array(answer.readableBytesView), sentBytes: sentBytes)
    }

    public func shutdown() async throws { try await client.shutdown() }

    /// NIO's time type for a Swift `Duration`.
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
