import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import VigilAgent
import VigilFuzzSupport
import VigilProvisioning

/// The fuzz targets inside the agent module, whose libFuzzer build takes minutes (the agent's
/// whole dependency tree): the configuration file and the control socket's HTTP requests.
/// scripts/fuzz runs them under libFuzzer in full mode; the suite runs a short mutating run.
@main
struct FuzzAgent {
    static func main() {
        FuzzMain.run([configuration, controlRequest])
    }
}

/// The configuration file: a clear error or a configuration, never a trap.
let configuration = FuzzTarget("config", seeds: {
    var seeds = [Array("gateway:\n  id: gw-1\nmqtt:\n  port: 1883\naccess:\n  clinician: [\"group:nurses\", \"uid:1001\"]\n".utf8)]
    for name in ["config/vigil.yaml"] {
        if let data = FileManager.default.contents(atPath: name) { seeds.append(Array(data)) }
    }
    return seeds
}) { bytes in
    do {
        _ = try VigilConfiguration.parse(yaml: String(decoding: bytes, as: UTF8.self), path: "/fuzz/vigil.yaml")
    } catch {
        precondition(!"\(error)".isEmpty, "an error without a reason")
    }
}

/// Bytes on the control socket: NIO's HTTP/1 decoder as the listener configures it, then each
/// request's route and every role's access decision.
let controlRequest = FuzzTarget("control-request", seeds: {
    ["GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n", "GET /v1/sensors/ring-1/readings?after=42 HTTP/1.1\r\nHost: x\r\n\r\n",
     "GET /v1/coverage?days=7&patient=Patient%2Fp-1 HTTP/1.1\r\nConnection: close\r\n\r\n",
     "GET /v1/audit/verify?anchor=12:\(String(repeating: "ab", count: 32)) HTTP/1.0\r\n\r\n",
     "POST /v1/status HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd", "GET /v1/sensors HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]
        .map { Array($0.utf8) }
}) { bytes in
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish() }
    do {
        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    } catch {
        return
    }
    while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
        guard case .head(let head) = part else { continue }
        let route = ControlServer.Route(head.uri)
        _ = route.name
        for roles in [Set<AccessRole>(), [.technician], [.auditor], [.clinician], [.operator]] {
            _ = AccessPolicy.allows(roles, route.subject)
        }
    }
}
