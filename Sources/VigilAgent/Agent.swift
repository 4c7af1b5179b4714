import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import VigilMQTT
import VigilProtocol

/// The composition root: builds every service from a validated configuration and runs them in
/// one `ServiceGroup` until SIGTERM or SIGINT.
///
/// Shutdown order is the reverse of the list: the supervisor says STOPPING first, then ingest
/// disconnects (nothing new arrives), then the pipeline drains what was already received, then
/// the metrics endpoint closes.
public struct Agent: Sendable {
    public let configuration: VigilConfiguration
    public let logger: Logger
    public let registry: PrometheusCollectorRegistry
    public let notifier: SystemdNotifier

    public init(configuration: VigilConfiguration, logger: Logger, registry: PrometheusCollectorRegistry = .init(),
                notifier: SystemdNotifier = SystemdNotifier()) {
        self.configuration = configuration
        self.logger = logger
        self.registry = registry
        self.notifier = notifier
    }

    public func run() async throws {
        let metrics = AgentMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let client = MQTTClient(configuration: configuration.mqtt, logger: logger)
        let readiness = Readiness(required: [.ingest, .metrics])
        let devices = DeviceRegistry(
            directory: URL(fileURLWithPath: configuration.gateway.stateDirectory).appendingPathComponent("devices"), logger: logger)
        let pipeline = PipelineService(.init(
            messages: client.messages, topics: Topics(prefix: configuration.topicPrefix), registry: devices, metrics: metrics,
            logger: logger, summaryInterval: .seconds(configuration.pipeline.summaryIntervalSeconds),
            publish: { topic, payload in
                do {
                    try client.enqueue(topic: topic, payload: payload)
                } catch {
                    logger.warning("could not queue a message to a device", metadata: ["topic": "\(topic)", "error": "\(error)"])
                }
            }))

        logger.notice("starting", metadata: [
            "gateway": "\(configuration.gateway.id)", "config": "\(configuration.sourcePath)",
            "broker": "\(configuration.mqtt.host):\(configuration.mqtt.port)",
        ])
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: MetricsServer(registry: registry, listen: configuration.metrics, logger: logger, readiness: readiness)),
                    .init(service: pipeline),
                    .init(service: IngestService(client: client, metrics: metrics, logger: logger, readiness: readiness)),
                    .init(service: SupervisorService(client: client, pipeline: pipeline, notifier: notifier,
                                                     metrics: metrics, readiness: readiness, logger: logger)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            )
        )
        try await group.run()
        logger.notice("stopped cleanly")
    }
}
