import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import VigilCore
import VigilModels
import VigilMQTT
import VigilProtocol
import VigilStore
import VigilUplink
import VigilValidation
import VigilProvisioning

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
        // Before anything reads or writes the state directory: never misread a newer version's.
        try StateFormat.prepare(stateDirectory: configuration.gateway.stateDirectory, version: VigilVersion.current, logger: logger)
        let metrics = AgentMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let client = MQTTClient(configuration: configuration.mqtt, logger: logger)
        let readiness = Readiness(required: [.ingest, .metrics])
        let sensors = SensorBook()
        let (store, restored, keyring) = try openStore(metrics: metrics, sensors: sensors)
        let keeper = StateKeeper(file: CheckpointFile(directory: storeDirectory, keyring: keyring), sensors: sensors,
                                 logger: logger, metrics: metrics.factory)
        store.guardRemovals { lane, end in keeper.mayRemove(lane, through: end) }
        // Stopped once the group has finished (the store is closed on this thread of ours).
        let storeIO = BlockingIO()
        let audit = AuditLog(directory: configuration.gateway.stateDirectory + "/audit", keys: AuditKeys(keyring: keyring))
        ConfigurationAudit.record(configurationPath: configuration.sourcePath, audit: audit, logger: logger)
        let devices = DeviceRegistry(
            directory: URL(fileURLWithPath: configuration.gateway.stateDirectory).appendingPathComponent("devices"), logger: logger)
        let alertBoard = AlertBoard()
        let clockBoard = ClockBoard()
        let coverageBoard = CoverageBoard()
        let patients = PatientSettingsStore(stateDirectory: configuration.gateway.stateDirectory, auditKeys: audit.keys, logger: logger)
        let uplinkStatus = configuration.uplink.map { UplinkStatus(kind: "fhir", target: $0.baseURL) }
            ?? configuration.upstreamMQTT.map { UplinkStatus(kind: "mqtt", target: "\($0.broker.host):\($0.broker.port)") }
            ?? UplinkStatus(kind: "none", target: nil)
        let stateDirectory = configuration.gateway.stateDirectory
        let reserve = configuration.store.reserveBytes
        var watched = GatewayWatch.Sources()
        watched.brokerConnected = { client.connectionState.isConnected }
        watched.uplinkFailingSince = { uplinkStatus.failingSince }
        watched.uplinkKnown = { uplinkStatus.hasReported }
        let testClock = TestClock(environment: ProcessInfo.processInfo.environment)
        if let testClock {
            logger.warning("the wall clock is a test's (\(TestClock.variable)): never set this on a gateway")
            watched.clockSynchronized = { testClock.synchronized }
        } else if configuration.clockTrusted {
            // gateway.clock: rtc: nothing is held for a sync; jumps are still detected and logged.
            watched.clockSynchronized = { true }
        } else {
            watched.clockSynchronized = { HostFacts.clock().synchronized }
        }
        let wallClock: @Sendable () -> Int64 = { testClock?.wall ?? Int64(Date().timeIntervalSince1970 * 1_000) }
        watched.evictedReadings = { store.evictedReadings }
        watched.diskFreeMiB = { HostFacts.disk(stateDirectory).map { Int((($0.free - reserve) >> 20)) } }
        let gatewayWatch = GatewayWatch(watched, startedAt: GatewayInspector.now())
        let timeline = GatewayTimeline(.init(wallClock: wallClock, synchronized: watched.clockSynchronized),
                                       stateDirectory: stateDirectory, board: clockBoard, logger: logger)
        let pipeline = PipelineService(.init(
            messages: client.messages, topics: Topics(prefix: configuration.topicPrefix), registry: devices, metrics: metrics,
            logger: logger, summaryInterval: .seconds(configuration.pipeline.summaryIntervalSeconds),
            publish: { topic, payload in
                do {
                    try client.enqueue(topic: topic, payload: payload)
                } catch {
                    logger.warning("could not queue a message to a device", metadata: ["topic": "\(topic)", "error": "\(error)"])
                }
            },
            publishRetained: { topic, payload in
                do {
                    try client.enqueue(topic: topic, payload: payload, retain: true)
                } catch {
                    logger.warning("could not queue a message to a device", metadata: ["topic": "\(topic)", "error": "\(error)"])
                }
            },
            store: store, validator: restored.validator, commitWindow: .milliseconds(configuration.store.commitWindowMilliseconds),
            scoring: configuration.scoring,
            alertAckTopic: Topics(prefix: configuration.topicPrefix).gatewayAlertAck(configuration.gateway.id),
            patients: patients,
            patientSettingsTopic: Topics(prefix: configuration.topicPrefix).gatewayPatientSettings(configuration.gateway.id),
            sensors: sensors, alertBoard: alertBoard, coverageBoard: coverageBoard, clockBoard: clockBoard, gatewayWatch: gatewayWatch,
            models: loadModels(), storeIO: storeIO, restored: restored.state, keeper: keeper,
            checkpointInterval: .seconds(configuration.store.checkpointIntervalSeconds),
            tickInterval: .seconds(configuration.technicalTickSeconds), wallClock: wallClock, timeline: timeline))

        logger.notice("starting", metadata: [
            "gateway": "\(configuration.gateway.id)", "config": "\(configuration.sourcePath)",
            "broker": "\(configuration.mqtt.host):\(configuration.mqtt.port)",
        ])
        var uplink: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let heartbeat = HeartbeatFacts(sensors: sensors, registry: devices, alerts: alertBoard, technical: configuration.technical)
        let heartbeatInterval: Duration? = configuration.heartbeatIntervalSeconds > 0 ? .seconds(configuration.heartbeatIntervalSeconds) : nil
        let gatewayID = configuration.gateway.id
        let auditUpload = configuration.auditEvents ? AuditUpload(tail: AuditTail(log: audit), logger: logger) : nil
        let mapper = { (options: FHIRMapper.Options) in
            var options = options
            options.softwareVersion = VigilVersion.current
            return FHIRMapper(gateway: gatewayID, options: options) { device in
                devices.summaries[device].map { .init(kind: $0.kind, manufacturer: $0.manufacturer, model: $0.model) }
            }
        }
        if let settings = configuration.uplink {
            let transport = try FHIRTransport(.init(
                baseURL: settings.baseURL, auth: settings.auth, caFile: settings.caFile,
                clientCertificateFile: settings.clientCertificateFile, clientKeyFile: settings.clientKeyFile,
                connectTimeout: .seconds(settings.connectTimeoutSeconds), requestTimeout: .seconds(settings.requestTimeoutSeconds),
                gzip: settings.gzip))
            var uplinkSettings = UplinkService.Settings(maxEntries: settings.maxEntries, maxBytes: settings.maxBytes, backoff: settings.backoff,
                                                        routineBatch: .milliseconds(settings.routineBatchMilliseconds))
            uplinkSettings.heartbeatInterval = heartbeatInterval
            uplinkSettings.holdUnsynchronised = .seconds(configuration.holdUnsynchronisedSeconds)
            let deadLetters = try DeadLetters(directory: configuration.gateway.stateDirectory + "/uplink", keyring: keyring)
            uplink.append(.init(service: UplinkService(
                store: store, mapper: mapper(settings.fhirOptions), transport: transport, deadLetters: deadLetters,
                settings: uplinkSettings, logger: logger,
                metrics: metrics.factory, sensors: sensors, status: uplinkStatus, heartbeat: heartbeat, time: timeline, audit: auditUpload, storeIO: storeIO)))
        }
        if let upstream = configuration.upstreamMQTT {
            let local = Topics(prefix: configuration.topicPrefix)
            let localAckTopic = local.gatewayAlertAck(configuration.gateway.id)
            let localSettingsTopic = local.gatewayPatientSettings(configuration.gateway.id)
            var mqttSettings = MQTTUplinkService.Settings(topicPrefix: upstream.topicPrefix, gateway: configuration.gateway.id,
                                                          backoff: Backoff(initialMilliseconds: 500, maximumMilliseconds: 60_000, jitter: .full))
            mqttSettings.heartbeatInterval = heartbeatInterval
            mqttSettings.holdUnsynchronised = .seconds(configuration.holdUnsynchronisedSeconds)
            uplink.append(.init(service: MQTTUplinkService(
                store: store, mapper: mapper(upstream.fhirOptions),
                client: MQTTClient(configuration: upstream.broker, logger: logger),
                settings: mqttSettings,
                logger: logger, metrics: metrics.factory, status: uplinkStatus, heartbeat: heartbeat, time: timeline, audit: auditUpload,
                forwardUpstream: { topic, payload in
                    // Into the pipeline through the local broker, like a message published there.
                    let settings = topic.hasSuffix("/patient-settings")
                    do {
                        try client.enqueue(topic: settings ? localSettingsTopic : localAckTopic, payload: payload)
                    } catch {
                        logger.warning("could not forward an upstream message", metadata: [
                            "kind": "\(settings ? "patient-settings" : "alert-ack")", "error": "\(error)",
                        ])
                    }
                })))
        }
        let inspector = GatewayInspector(
            configuration: configuration, client: client, pipeline: pipeline, store: store, registry: devices, sensors: sensors,
            uplink: uplinkStatus, alerts: alertBoard, currentKey: keyring.currentID,
            keyFile: Keyring.locate(keyFile: configuration.store.keyFile, environment: ProcessInfo.processInfo.environment)
                == configuration.store.keyFile ? configuration.store.keyFile : nil,
            startedAt: GatewayInspector.now(), patients: patients, coverage: coverageBoard, clock: clockBoard)
        let statusMetrics = StatusMetrics(registry: registry, inspector: inspector)
        let control: [ServiceGroupConfiguration.ServiceConfiguration] = configuration.controlSocket.map {
            [.init(service: ControlServer(
                path: $0, inspector: inspector, access: ControlAccess(policy: configuration.access, audit: audit, logger: logger),
                audit: audit, logger: logger))]
        } ?? []
        let group = ServiceGroup(
            configuration: .init(
                services: uplink + control + [
                    .init(service: MetricsServer(registry: registry, listen: configuration.metrics, logger: logger, readiness: readiness,
                                                 refresh: { statusMetrics.refresh() })),
                    .init(service: pipeline),
                    .init(service: IngestService(client: client, metrics: metrics, logger: logger, readiness: readiness)),
                    .init(service: SupervisorService(client: client, pipeline: pipeline, store: store, notifier: notifier,
                                                     metrics: metrics, readiness: readiness, logger: logger)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            ).bounded(by: Self.shutdownBound)
        )
        do {
            try await group.run()
        } catch StoreError.syncFailed(let error) {
            // Not sealed: nothing written since the last good sync can be trusted; recovery at the
            // next start rescans the log.
            await storeIO.shutdown()
            throw StoreError.syncFailed(error)
        } catch {
            _ = try? await storeIO.run { try store.close() }
            await storeIO.shutdown()
            throw error
        }
        do {
            try await storeIO.run { try store.close() }
        } catch {
            await storeIO.shutdown()
            throw error
        }
        await storeIO.shutdown()
        logger.notice("stopped cleanly")
    }

    /// How long a graceful shutdown may take before the services still running are cancelled,
    /// and how long cancellation may take: together well inside the unit's TimeoutStopSec (30 s),
    /// so the store is sealed before systemd would kill the agent.
    public static let shutdownBound: (graceful: Duration, cancellation: Duration) = (.seconds(15), .seconds(5))

    public var storeDirectory: String { configuration.gateway.stateDirectory + "/log" }

    /// The quantized models in `models.directory`; a file that does not load is logged and skipped.
    private func loadModels() -> [QuantizedModel] {
        let fileSystem = PosixFileSystem()
        let directory = configuration.models.directory
        let names = (try? fileSystem.list(directory)) ?? []
        var models: [QuantizedModel] = []
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasSuffix(".testset.json") {
            do {
                let model = try QuantizedModel(json: Data(fileSystem.readFile(directory + "/" + name)))
                models.append(model)
                logger.notice("model loaded", metadata: ["model": "\(model.model)", "version": "\(model.version)"])
            } catch {
                logger.error("skipping a model file that does not load", metadata: ["file": "\(name)", "error": "\(error)"])
            }
        }
        return models
    }

    /// Opens (and recovers) the encrypted log and restores the gateway's state: the checkpoint,
    /// then the log on top of it (which readings are stored, the scorer's episodes, the sensors'
    /// facts).
    private func openStore(metrics: AgentMetrics, sensors: SensorBook) throws
        -> (Store, (validator: Validator, state: RestoredState), Keyring) {
        let keyring = try StoreKeys.load(keyFile: configuration.store.keyFile, storeDirectory: storeDirectory,
                                         environment: ProcessInfo.processInfo.environment, logger: logger)
        let options = StoreOptions(
            segmentBytes: configuration.store.segmentBytes, quotaBytes: configuration.store.quotaBytes,
            reserveBytes: configuration.store.reserveBytes,
            thinningIntervalMilliseconds: Int64(configuration.store.thinningIntervalSeconds) * 1_000)
        let opened = try RestoredState.open(directory: storeDirectory, keyring: keyring, options: options, logger: logger,
                                            metrics: StoreMetrics(factory: metrics.factory), sensors: sensors)
        let (store, report, restored, checkpoint) = (opened.store, opened.report, opened.state, opened.checkpoint)
        logger.notice("store opened", metadata: [
            "segments": "\(report.segments)", "records": "\(report.records)", "opened_from_seal": "\(report.trusted)",
            "sealed_at_start": "\(report.sealed)",
            "torn_tails_cut": "\(report.truncated.count)", "quarantined": "\(report.quarantined.count)",
            "recovered_records": "\(report.recoveredRecords)", "key_id": "\(keyring.currentID)",
        ])
        logger.notice("state restored", metadata: [
            "checkpoint": "\(checkpoint.map { ISOTime.seconds($0.takenAt) } ?? "none")",
            "replayed_batches": "\(restored.replay.count)", "skipped_readings": "\(restored.skipped)",
        ])
        return (store, (opened.validator, restored), keyring)
    }
}

extension ServiceGroupConfiguration {
    func bounded(by bound: (graceful: Duration, cancellation: Duration)) -> Self {
        var configuration = self
        configuration.maximumGracefulShutdownDuration = bound.graceful
        configuration.maximumCancellationDuration = bound.cancellation
        return configuration
    }
}
