import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// A minimal HTTP/1.1 server for the agent's two local endpoints (metrics, control socket): one
/// request per connection, GET only, bodies small and built in memory. Runs until graceful
/// shutdown; a Unix socket file is removed at the end.
struct HTTPListener: Sendable {
    struct Response: Sendable {
        var status: HTTPResponseStatus
        var contentType: String
        var body: [UInt8]

        static func text(_ status: HTTPResponseStatus, _ text: String) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }
    }

    enum Address: Sendable {
        case tcp(host: String, port: Int)
        /// `mode`: the socket file's permissions, applied right after binding.
        case unix(path: String, mode: mode_t)
    }

    /// The kernel's word on who is at the other end of a Unix-socket connection (SO_PEERCRED).
    struct Peer: Sendable, Equatable {
        var uid: UInt32
        var gid: UInt32
        var pid: Int32
    }

    let address: Address
    let logger: Logger
    let name: String
    /// `peer`: `nil` on TCP (and if the kernel would not say).
    let handle: @Sendable (HTTPRequestHead, Peer?) async -> Response

    init(address: Address, logger: Logger, name: String, handle: @escaping @Sendable (HTTPRequestHead, Peer?) async -> Response) {
        self.address = address
        self.logger = logger
        self.name = name
        self.handle = handle
    }

    init(address: Address, logger: Logger, name: String, handle: @escaping @Sendable (HTTPRequestHead) async -> Response) {
        self.init(address: address, logger: logger, name: name) { request, _ in await handle(request) }
    }

    /// Binds, calls `ready` with the bound address, and serves until graceful shutdown.
    func run(ready: @Sendable (String) -> Void = { _ in }) async throws {
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
        switch address {
        case .tcp(let host, let port):
            server = try await bootstrap.bind(host: host, port: port, childChannelInitializer: configure)
        case .unix(let path, let mode):
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: configure)
            // The directory (RuntimeDirectoryMode=0750) is the first guard; the file's mode the second.
            chmod(path, mode)
        }
        let bound = server.channel.localAddress.map { "\($0)" } ?? "?"
        logger.info("\(name) listening", metadata: ["address": "\(bound)"])
        ready(bound)
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
        if case .unix(let path, _) = address { unlink(path) }
    }

    /// Linux's `struct ucred` (hidden behind _GNU_SOURCE in Glibc's module): three 32-bit fields.
    private struct PeerCredentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// SO_PEERCRED on every Linux architecture but these old ones (powerpc: 21, mips: 18).
    private static let soPeerCred: Int32 = 17

    private func peer(of channel: any Channel) async -> Peer? {
        guard case .unix = address, let provider = channel as? any SocketOptionProvider else { return nil }
        let credentials: PeerCredentials? = try? await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET),
                                                                                      name: SocketOptionName(Self.soPeerCred)).get()
        return credentials.map { Peer(uid: $0.uid, gid: $0.gid, pid: $0.pid) }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        let peer = await peer(of: connection.channel)
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let request): head = request
                    case .body: continue
                    case .end:
                        guard let request = head else { return }
                        let response = request.method == .GET ? await handle(request, peer) : .text(.methodNotAllowed, "only GET\n")
                        var headers = HTTPHeaders()
                        headers.add(name: "Content-Type", value: response.contentType)
                        headers.add(name: "Content-Length", value: "\(response.body.count)")
                        headers.add(name: "Connection", value: "close")
                        try await outbound.write(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers)))
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
                        try await outbound.write(.end(nil))
                        return
                    }
                }
            }
        } catch {
            logger.debug("\(name) connection ended with an error", metadata: ["error": "\(error)"])
        }
    }
}
