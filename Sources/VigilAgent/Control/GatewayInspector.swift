import Foundation
import VigilMQTT
import VigilStore
import VigilProvisioning

/// Gathers the live facts the control socket and the metrics report, from the parts the agent
/// runs: the broker client, the pipeline, the store, the sensor book, the uplink and the host.
package struct GatewayInspector: Sendable {
    package let configuration: VigilConfiguration
    package let client: MQTTClient
    package let pipeline: PipelineService
    package let store: Store
    package let registry: DeviceRegistry
    package let sensors: SensorBook
    package let uplink: UplinkStatus
    package let alerts: AlertBoard
    package let currentKey: UInt32
    /// The key file, or `nil` when the keys came from a systemd credential.
    package let keyFile: String?
    package let startedAt: Int64
    package var patients: PatientSettingsStore?
    package var coverage = CoverageBoard()
    package var clock = ClockBoard()

    package static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    package func sensorReports(at time: Int64 = now()) -> [SensorReport] {
        let clinical = patients?.current ?? [:]
        return sensors.reports(registry: registry.summaries, at: time).map { report in
            var report = report
            if let patient = report.patient, let settings = clinical[patient] {
                report.clinical = "v\(settings.version): \(settings.summary)"
            }
            return report
        }
    }

    package func status(at time: Int64 = now()) -> StatusReport {
        let brokerState = client.connectionState
        var problem: String?
        if case .disconnected(let reason, _) = brokerState { problem = "\(reason)" }
        let stats = store.stats
        let disk = HostFacts.disk(configuration.gateway.stateDirectory)
        let storeBytes = stats.lanes.values.reduce(0) { $0 + $1.bytes }
        let uplinkReport = uplink.report(at: time)
        return StatusReport(
            agent: .init(version: VigilVersion.current, gateway: configuration.gateway.id, pid: getpid(), startedAt: startedAt,
                         messagesProcessed: pipeline.processed),
            broker: .init(address: "\(configuration.mqtt.host):\(configuration.mqtt.port)", connected: brokerState.isConnected,
                          problem: problem),
            uplink: uplinkReport,
            backlog: backlog(uplink: uplinkReport),
            openAlerts: alerts.alerts,
            disk: .init(path: configuration.gateway.stateDirectory, freeBytes: disk?.free ?? -1, totalBytes: disk?.total ?? -1,
                        storeBytes: storeBytes, quotaBytes: configuration.store.quotaBytes, reserveBytes: configuration.store.reserveBytes),
            keys: .init(currentKey: currentKey, ageSeconds: keyFile.flatMap { HostFacts.age(of: $0) }),
            clock: HostFacts.clock().with(clock),
            sensors: sensorReports(at: time))
    }

    private func backlog(uplink: StatusReport.Uplink) -> StatusReport.Backlog {
        let priority = store.unsentCount(.priority)
        let routine = store.unsentCount(.routine)
        let unsent = store.unsentSegments
        let rate = uplink.recordsPerSecond
        return .init(priorityRecords: priority, routineRecords: routine, bytes: unsent.bytes, oldest: unsent.oldest,
                     estimatedDrainSeconds: rate > 0 ? Double(priority + routine) / rate : (priority + routine == 0 ? 0 : nil))
    }
}
