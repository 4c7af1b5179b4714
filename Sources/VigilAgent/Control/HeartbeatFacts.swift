import VigilProvisioning
import VigilScoring
import VigilUplink

/// The heartbeat's contents from what the agent knows: every assigned sensor's state from the
/// sensor book (silent past its kind's `technical` silence threshold, offline after its last
/// will), and the open alert episodes.
package struct HeartbeatFacts: HeartbeatSource {
    let sensors: SensorBook
    let registry: DeviceRegistry
    let alerts: AlertBoard
    let technical: TechnicalSettings

    package init(sensors: SensorBook, registry: DeviceRegistry, alerts: AlertBoard, technical: TechnicalSettings) {
        self.sensors = sensors
        self.registry = registry
        self.alerts = alerts
        self.technical = technical
    }

    package func heartbeat(at time: Int64) -> GatewayHeartbeat {
        let reports = sensors.reports(registry: registry.summaries, at: time).filter(\.provisioned)
        return GatewayHeartbeat(time: time, sensors: reports.map { Self.sensor($0, at: time, technical: technical) },
                                openAlerts: alerts.alerts.count)
    }

    static func sensor(_ report: SensorReport, at time: Int64, technical: TechnicalSettings) -> GatewayHeartbeat.Sensor {
        let state: GatewayHeartbeat.Sensor.State
        if report.online == false {
            state = .offline
        } else if let seen = report.lastSeen {
            state = time - seen > Int64(technical.silence(kind: report.kind).after) * 1_000 ? .silent : .streaming
        } else {
            state = .never
        }
        return .init(device: report.device, patient: report.patient, state: state, lastSeen: report.lastSeen, battery: report.battery)
    }
}
