import CoreMetrics
import Metrics

/// The agent's metrics, created from an injected factory (the Prometheus registry in the agent,
/// a test factory or the no-op one elsewhere). Names follow Prometheus conventions.
public struct AgentMetrics: Sendable {
    public let factory: any MetricsFactory
    public let mqttConnected: Gauge
    public let mqttConnects: Counter
    public let mqttDisconnects: Counter
    public let inboxDepth: Gauge
    public let watchdogPingsWithheld: Counter
    public let duplicates: Counter
    public let gapsAbandoned: Counter
    public let resendRequests: Counter
    public let storeFull: Counter
    public let acksSent: Counter
    public let alertsRecorded: Counter
    public let jsonFrames: Counter
    public let gatewayClockJumps: Counter

    public init(factory: any MetricsFactory) {
        self.factory = factory
        mqttConnected = Gauge(label: "vigil_mqtt_connected", factory: factory)
        mqttConnects = Counter(label: "vigil_mqtt_connects_total", factory: factory)
        mqttDisconnects = Counter(label: "vigil_mqtt_disconnects_total", factory: factory)
        inboxDepth = Gauge(label: "vigil_ingest_inbox_depth", factory: factory)
        watchdogPingsWithheld = Counter(label: "vigil_watchdog_pings_withheld_total", factory: factory)
        duplicates = Counter(label: "vigil_frames_duplicate_total", factory: factory)
        gapsAbandoned = Counter(label: "vigil_gaps_abandoned_total", factory: factory)
        resendRequests = Counter(label: "vigil_resend_requests_total", factory: factory)
        storeFull = Counter(label: "vigil_frames_not_stored_total", factory: factory)
        acksSent = Counter(label: "vigil_acks_sent_total", factory: factory)
        alertsRecorded = Counter(label: "vigil_alerts_total", factory: factory)
        jsonFrames = Counter(label: "vigil_frames_json_accepted_total", factory: factory)
        gatewayClockJumps = Counter(label: "vigil_gateway_clock_jumps_total", factory: factory)
    }

    /// Per provisioned device only (ids from the registry), so labels stay bounded.
    func readingsAccepted(device: String) -> Counter {
        Counter(label: "vigil_readings_accepted_total", dimensions: [("device", device)], factory: factory)
    }

    func rejected(reason: String) -> Counter {
        Counter(label: "vigil_ingest_rejected_total", dimensions: [("reason", reason)], factory: factory)
    }
}
