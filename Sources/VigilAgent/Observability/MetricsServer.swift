import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// Serves the Prometheus text exposition at `GET /metrics` on loopback or a Unix socket.
/// Nothing else is served: there is no reason for a metrics port to accept anything but reads.
public final class MetricsServer: Service {
    private let registry: PrometheusCollectorRegistry
    private let listen: VigilConfiguration.MetricsListen
    private let logger: Logger
    private let readiness: Readiness?

    public init(registry: PrometheusCollectorRegistry, listen: VigilConfiguration.MetricsListen, logger: Logger, readiness: Readiness? = nil) {
        self.registry = registry
        self.listen = listen
        self.logger = logger
        self.readiness = readiness
    }

    public func run() async throws {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let configure: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
            }
        }
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        switch listen {
        case .off:
            readiness?.mark(.metrics)
            try await gracefulShutdown()
            return
        case .tcp(let host, let port):
            server = try await bootstrap.bind(host: host, port: port, childChannelInitializer: configure)
        case .unix(let path):
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: configure)
        }
        logger.info("metrics endpoint listening", metadata: ["address": "\(server.channel.localAddress.map { "\($0)" } ?? "?")"])
        readiness?.mark(.metrics)

        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            // The normal end: graceful shutdown cancels the accept loop.
        }
        if case .unix(let path) = listen { unlink(path) }
    }

    /// The port actually bound (useful with port 0 in tests) is logged; this serves one client.
    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let request): head = request
                    case .body: continue
                    case .end:
                        guard let request = head else { return }
                        let (status, body) = respond(to: request)
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
                        headers.add(name: "Content-Length", value: "\(body.count)")
                        headers.add(name: "Connection", value: "close")
                        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
                        try await outbound.write(.end(nil))
                        return
                    }
                }
            }
        } catch {
            logger.debug("metrics connection ended with an error", metadata: ["error": "\(error)"])
        }
    }

    private func respond(to request: HTTPRequestHead) -> (HTTPResponseStatus, [UInt8]) {
        guard request.method == .GET else { return (.methodNotAllowed, Array("only GET\n".utf8)) }
        guard request.uri == "/metrics" || request.uri.hasPrefix("/metrics?") else { return (.notFound, Array("try /metrics\n".utf8)) }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return (.ok, buffer)
    }
}
