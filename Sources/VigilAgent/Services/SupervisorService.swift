import Logging
import ServiceLifecycle
import VigilCore
import VigilMQTT
import VigilStore

/// Talks to systemd and samples the agent's health: READY=1 once ingest and metrics are up,
/// STATUS= lines an operator sees in `systemctl status`, WATCHDOG=1 only while ``WatchdogPolicy``
/// judges the pipeline healthy, and STOPPING=1 on shutdown. Also refreshes sampled gauges.
public struct SupervisorService: Service {
    let client: MQTTClient
    let pipeline: PipelineService
    let store: Store
    let notifier: SystemdNotifier
    let metrics: AgentMetrics
    let readiness: Readiness
    let logger: Logger

    public func run() async throws {
        await readiness.wait()
        notifier.ready(status: statusLine())
        logger.notice("agent ready", metadata: ["watchdog": "\(notifier.watchdogInterval.map { "\($0)" } ?? "off")"])

        // Ping at half the watchdog period (systemd's advice), and sample no more often than
        // every 5 s: each wake-up costs an idle box. After each sample the MQTT loop thread is
        // probed, so the next sample sees a tick if and only if the thread is alive.
        let period = min(notifier.watchdogInterval.map { $0 / 2 } ?? .seconds(5), .seconds(5))
        var policy = WatchdogPolicy()
        var warnings = RateLimiter<String>(burst: 1, interval: .seconds(60))
        let clock = ContinuousClock()
        let start = clock.now
        var lastStatus = clock.now

        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let depth = client.inboxDepth
            metrics.inboxDepth.record(depth)
            let verdict = policy.check(.init(loopTicks: client.loopTicks, processed: pipeline.processed, inboxDepth: depth))
            client.probeLoop()
            if verdict == .healthy {
                if notifier.watchdogInterval != nil { notifier.watchdog() }
            } else {
                metrics.watchdogPingsWithheld.increment()
                if case .emit(let suppressed) = warnings.check("\(verdict)", now: clock.now - start) {
                    logger.error("withholding the watchdog ping: the pipeline is not making progress",
                                 metadata: ["verdict": "\(verdict)", "suppressed": "\(suppressed)"])
                }
            }
            if clock.now - lastStatus >= .seconds(5) {
                notifier.status(statusLine())
                lastStatus = clock.now
            }
            // Wakes early on graceful shutdown, so STOPPING goes out at once.
            try? await cancelWhenGracefulShutdown { try await Alarms.shared.sleep(for: period) }
        }
        notifier.stopping(status: "stopping: draining the pipeline")
    }

    private func statusLine() -> String {
        let broker = client.connectionState.isConnected ? "broker connected" : "broker not connected"
        let stats = store.stats
        let records = stats.lanes.values.reduce(0) { $0 + $1.records }
        let bytes = stats.lanes.values.reduce(0) { $0 + $1.bytes }
        var line = "\(broker); \(pipeline.processed) messages handled; store \(records) records, \(bytes >> 10) KiB"
        if stats.quarantined > 0 { line += "; \(stats.quarantined) segments quarantined (vigil store verify)" }
        return line
    }
}
