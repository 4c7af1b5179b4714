import Prometheus

/// The control socket's facts as Prometheus gauges, brought up to date at each scrape (they are
/// cheap to compute and only then needed). Per-sensor gauges carry the device id, never readings.
package struct StatusMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let inspector: GatewayInspector

    package init(registry: PrometheusCollectorRegistry, inspector: GatewayInspector) {
        self.registry = registry
        self.inspector = inspector
    }

    private func gauge(_ name: String, _ help: String, _ labels: [(String, String)] = [], _ value: Double) {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels).set(value)
    }

    package func refresh() {
        let now = GatewayInspector.now()
        let report = inspector.status(at: now)
        gauge("vigil_broker_connected", "1 while the agent is connected to the local broker", [], report.broker.connected ? 1 : 0)
        gauge("vigil_uplink_connected", "1 when the last uplink request succeeded", [], report.uplink.connected == true ? 1 : 0)
        gauge("vigil_backlog_records", "Records in the log not yet confirmed upstream", [("lane", "priority")],
              Double(report.backlog.priorityRecords))
        gauge("vigil_backlog_records", "Records in the log not yet confirmed upstream", [("lane", "routine")],
              Double(report.backlog.routineRecords))
        gauge("vigil_backlog_bytes", "Bytes of segments holding unsent records", [], Double(report.backlog.bytes))
        gauge("vigil_open_alerts", "Open alert episodes", [("acknowledged", "false")],
              Double(report.openAlerts.filter { !$0.acknowledged }.count))
        gauge("vigil_open_alerts", "Open alert episodes", [("acknowledged", "true")], Double(report.openAlerts.filter(\.acknowledged).count))
        gauge("vigil_disk_free_bytes", "Free bytes on the state directory's file system", [], Double(report.disk.freeBytes))
        if let age = report.keys.ageSeconds { gauge("vigil_store_key_age_seconds", "Seconds since the key file changed", [], Double(age)) }
        if let synchronized = report.clock.synchronized {
            gauge("vigil_clock_synchronized", "1 when the kernel reports NTP synchronization", [], synchronized ? 1 : 0)
        }
        let problems = StatusAssessment.problems(report, now: now)
        gauge("vigil_status_problems", "Problems vigil status reports", [("severity", "warning")],
              Double(problems.filter { $0.severity == .warning }.count))
        gauge("vigil_status_problems", "Problems vigil status reports", [("severity", "critical")],
              Double(problems.filter { $0.severity == .critical }.count))
        for sensor in report.sensors where sensor.provisioned {
            let device = [("device", sensor.device)]
            gauge("vigil_sensor_online", "1 after the sensor's birth message, 0 after its last will", device, sensor.online == true ? 1 : 0)
            if let seen = sensor.lastSeen {
                gauge("vigil_sensor_last_seen_timestamp_seconds", "When the sensor was last heard from", device, Double(seen) / 1_000)
            }
            if let battery = sensor.battery { gauge("vigil_sensor_battery_percent", "Battery the sensor reported", device, Double(battery)) }
            if let rssi = sensor.rssi { gauge("vigil_sensor_rssi_dbm", "Signal strength the sensor reported", device, Double(rssi)) }
            gauge("vigil_sensor_readings_per_minute", "Readings stored in the last minute", device, Double(sensor.readingsPerMinute))
            if let completeness = sensor.completeness {
                gauge("vigil_sensor_completeness_ratio", "Readings stored against expected from sequence numbers", device, completeness)
            }
            gauge("vigil_sensor_config_pending", "1 while the sensor has not applied its newest settings", device, sensor.configPending ? 1 : 0)
        }
    }
}
