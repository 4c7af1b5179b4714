/// What the gateway tells the hospital every `uplink.heartbeat_interval`, so a hospital system can
/// alarm on the one failure the gateway cannot report itself: the gateway going dark (power,
/// internet, a crash loop). Sent live, never stored: a heartbeat delayed is no heartbeat.
public struct GatewayHeartbeat: Sendable, Equatable {
    /// A sensor as the gateway sees it at the heartbeat.
    public struct Sensor: Sendable, Equatable {
        public enum State: String, Sendable {
            /// Readings within its silence threshold.
            case streaming
            /// Nothing for longer than its silence threshold.
            case silent
            /// Its last will arrived (it dropped off the broker) and nothing since.
            case offline
            /// Assigned but never heard from since the gateway's data began.
            case never
        }

        public var device: String
        public var patient: String?
        public var state: State
        public var lastSeen: Int64?
        public var battery: Int?

        public init(device: String, patient: String?, state: State, lastSeen: Int64?, battery: Int?) {
            self.device = device
            self.patient = patient
            self.state = state
            self.lastSeen = lastSeen
            self.battery = battery
        }
    }

    /// Gateway time of the heartbeat (Unix ms).
    public var time: Int64
    public var sensors: [Sensor]
    /// Alert episodes open on the gateway (physiological and technical).
    public var openAlerts: Int

    public init(time: Int64, sensors: [Sensor], openAlerts: Int) {
        self.time = time
        self.sensors = sensors
        self.openAlerts = openAlerts
    }

    /// One line for people: "3 sensors: 2 streaming, 1 silent (ring-2); 1 open alert".
    public var summary: String {
        var parts: [String] = []
        for state in [Sensor.State.streaming, .silent, .offline, .never] {
            let named = sensors.filter { $0.state == state }
            guard !named.isEmpty else { continue }
            let label = state == .never ? "never seen" : state.rawValue
            parts.append(state == .streaming ? "\(named.count) \(label)" : "\(named.count) \(label) (\(named.map(\.device).joined(separator: ", ")))")
        }
        let count = sensors.count == 1 ? "1 sensor" : "\(sensors.count) sensors"
        let alerts = openAlerts == 1 ? "1 open alert" : "\(openAlerts) open alerts"
        return parts.isEmpty ? "no sensors assigned; \(alerts)" : "\(count): \(parts.joined(separator: ", ")); \(alerts)"
    }
}

/// Where the uplink gets the heartbeat's contents (the agent's sensor book, registry and alerts).
public protocol HeartbeatSource: Sendable {
    func heartbeat(at time: Int64) -> GatewayHeartbeat
}
