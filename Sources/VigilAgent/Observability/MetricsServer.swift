import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// Serves the Prometheus text exposition at `GET /metrics` on loopback or a Unix socket.
/// Nothing else is served: there is no reason for a metrics port to accept anything but reads.
public final class MetricsServer: Service {
    private let registry: PrometheusCollectorRegistry
    private let listen: VigilConfiguration.MetricsListen
    private let logger: Logger
    private let readiness: Readiness?
    /// Brings gauges computed from live state (sensors, backlog, disk) up to date before a scrape.
    private let refresh: @Sendable () -> Void

    public init(registry: PrometheusCollectorRegistry, listen: VigilConfiguration.MetricsListen, logger: Logger, readiness: Readiness? = nil,
                refresh: @escaping @Sendable () -> Void = {}) {
        self.registry = registry
        self.listen = listen
        self.logger = logger
        self.readiness = readiness
        self.refresh = refresh
    }

    public func run() async throws {
        let address: HTTPListener.Address
        switch listen {
        case .off:
            readiness?.mark(.metrics)
            try await gracefulShutdown()
            return
        case .tcp(let host, let port): address = .tcp(host: host, port: port)
        case .unix(let path): address = .unix(path: path, mode: 0o660)
        }
        let listener = HTTPListener(address: address, logger: logger, name: "metrics endpoint") { [registry, refresh] request in
            guard request.uri == "/metrics" || request.uri.hasPrefix("/metrics?") else { return .text(.notFound, "try /metrics\n") }
            refresh()
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return .init(status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: buffer)
        }
        try await listener.run { [readiness] _ in readiness?.mark(.metrics) }
    }
}
