import CompressNIO
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A fast receiving end for the drain benchmark: accepts transaction Bundles (gzip or not),
/// keeps every entry's identifier (a repeat counts as a duplicate) and answers a
/// transaction-response with one status per entry. It does not validate: `UplinkTests` and the
/// demo use the fhir.resources endpoint for that; this one keeps the benchmark about the agent.
final class FHIRSink: Sendable {
    struct Totals: Sendable {
        var requests = 0
        var entries = 0
        var duplicates = 0
        var wireBytes = 0
        var jsonBytes = 0
        var identifiers: Set<String> = []
        var duplicateSamples: [String] = []
    }

    let totals = Mutex(Totals())
    /// While false the endpoint is "down": every connection is closed as soon as it is accepted
    /// (the uplink sees a connection reset, as from a hospital endpoint that is unreachable).
    let available = Atomic<Bool>(true)
    /// Called with each newly created identifier that names an alert (`:alert:`) or a reading of
    /// a device whose id starts with `live-`, when it arrives.
    let onArrival: (@Sendable (String, ContinuousClock.Instant) -> Void)?
    private let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>

    var port: Int { server.channel.localAddress?.port ?? 0 }

    init(port: Int = 0, onArrival: (@Sendable (String, ContinuousClock.Instant) -> Void)? = nil) async throws {
        self.onArrival = onArrival
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    guard available.load(ordering: .relaxed) else {
                        try? await connection.channel.close()
                        continue
                    }
                    group.addTask { try? await self.serve(connection) }
                }
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let request):
                    head = request
                    body.clear()
                case .body(var chunk): body.writeBuffer(&chunk)
                case .end:
                    // Down now: a keep-alive connection from before the outage fails too.
                    guard let request = head, available.load(ordering: .relaxed) else { return }
                    let wire = body.readableBytes
                    if request.headers.first(name: "Content-Encoding") == "gzip" { body = try body.decompress(with: .gzip()) }
                    let answer = record(Array(body.readableBytesView), wire: wire)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "application/fhir+json")
                    headers.add(name: "Content-Length", value: "\(answer.count)")
                    try await outbound.write(.head(HTTPResponseHead(version: request.version, status: .ok, headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: answer))))
                    try await outbound.write(.end(nil))
                }
            }
        }
    }

    /// Scans the Bundle for each entry's identifier, from its conditional create (`ifNoneExist`),
    /// conditional update (`PUT Device?identifier=`) or update by id (`PUT AuditEvent/<id>`), in
    /// order (no full JSON parse).
    private func record(_ json: [UInt8], wire: Int) -> [UInt8] {
        let markers = [Array(#""ifNoneExist":"identifier=urn:ietf:rfc:3986|"#.utf8),
                       Array(#""method":"PUT","url":"Device?identifier=urn:ietf:rfc:3986|"#.utf8),
                       Array(#""method":"PUT","url":"AuditEvent/"#.utf8)]
        var found: [String] = []
        var index = 0
        scan: while index < json.count {
            if json[index] == UInt8(ascii: "\"") {
                for marker in markers where index + marker.count <= json.count && json[index..<(index + marker.count)].elementsEqual(marker) {
                    let start = index + marker.count
                    var end = start
                    while end < json.count && json[end] != UInt8(ascii: "\"") { end += 1 }
                    found.append(String(decoding: json[start..<end], as: UTF8.self))
                    index = end
                    continue scan
                }
            }
            index += 1
        }
        var statuses: [Bool] = []
        totals.withLock { totals in
            totals.requests += 1
            totals.entries += found.count
            totals.wireBytes += wire
            totals.jsonBytes += json.count
            for identifier in found {
                let fresh = totals.identifiers.insert(identifier).inserted
                if !fresh {
                    totals.duplicates += 1
                    if totals.duplicateSamples.count < 5 { totals.duplicateSamples.append(identifier) }
                }
                statuses.append(fresh)
            }
        }
        if let onArrival {
            let now = ContinuousClock.now
            for (identifier, fresh) in zip(found, statuses) where fresh && (identifier.contains(":alert:") || identifier.contains(":obs:live-")) {
                onArrival(identifier, now)
            }
        }
        var answer = #"{"resourceType":"Bundle","type":"transaction-response","entry":["#
        answer += statuses.map { $0 ? #"{"response":{"status":"201 Created"}}"# : #"{"response":{"status":"200 OK"}}"# }
            .joined(separator: ",")
        answer += "]}"
        return Array(answer.utf8)
    }
}
