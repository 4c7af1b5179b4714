import ArgumentParser
import Foundation
import Logging
import Synchronization
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilStore
import VigilProvisioning

/// Alert latency end to end while a backlog drains: from a sensor's publish of a reading that
/// raises a NEWS2 alert to that alert's Communication arriving at the receiving end, through the
/// broker, the real agent (`vigil run`: validate, score, store with its sync, uplink) and HTTP.
/// The agent's log is pre-filled with `--backlog` routine readings, which the uplink drains
/// oldest first meanwhile; alerts must not wait behind them. JSON on stdout.
struct AlertLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alert-latency", abstract: "Publish-to-endpoint alert latency while a backlog drains.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "The vigil executable.") var vigil: String
    @Option(help: "Readings in the backlog before the agent starts.") var backlog = 1_000_000
    @Option(help: "Alerts (NEWS2 raises) to measure.") var alerts = 1_000
    @Option(help: "Simulated patients raising them.") var devices = 50
    @Option(help: "Directory for the agent's state.") var directory = ".build/bench-alert-latency"
    @Flag(help: "Keep the agent's state and log afterwards.") var keep = false

    func run() async throws {
        let root = directory + "/run-\(getpid())"
        defer { if !keep { try? FileManager.default.removeItem(atPath: root) } }
        let state = root + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let keyring = Keyring.generate()

        // The backlog: routine readings already in the agent's log, not yet uploaded.
        let (store, _) = try Store.open(directory: state + "/log", keyring: keyring,
                                        options: StoreOptions(segmentBytes: 4 << 20, quotaBytes: 1 << 40, reserveBytes: 0), logger: logger)
        let base: Int64 = 1_795_000_000_000
        for index in 0..<backlog {
            let seq = UInt32(index / 8)
            store.append(.readings(ReadingBatch(
                device: "backlog-\(index % 8)", patient: "Patient/b\(index % 8)", boot: 1, timeQuality: .device, receivedAt: base, readings: [
                    StoredReading(seq: seq, time: base + Int64(seq) * 1_000, deviceTime: UInt64(base) + UInt64(seq) * 1_000,
                                  values: [.init(channel: .pulseRate, raw: 720), .init(channel: .spo2, raw: 970), .init(channel: .respiratoryRate, raw: 150)]),
                ])))
            if index % 4_096 == 4_095 { _ = try store.commit() }
        }
        _ = try store.commit()
        try store.close()

        // Patients whose sensors will raise the alerts.
        var keys: [DeviceKey] = []
        for index in 0..<devices {
            let id = DeviceID("live-\(index)")!
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
            try DeviceRegistry.write(.init(device: id.rawValue, patient: "Patient/a\(index)", kind: "vitals-patch",
                                           key: hexEncoded(bytes)),
                                     to: URL(fileURLWithPath: state + "/devices"))
            keys.append(DeviceKey(device: id, bytes: bytes)!)
        }

        // The receiving end: records when each alert's Communication arrives.
        let published = Mutex<[String: ContinuousClock.Instant]>([:])
        let latencies = Mutex<[Duration]>([])
        let readingLatencies = Mutex<[Duration]>([])
        let sink = try await FHIRSink(onArrival: { identifier, arrived in
            // A live routine reading: urn:vigil:<gw>:obs:live-<i>:1:<seq>:spo2
            if identifier.hasSuffix(":spo2"), let range = identifier.range(of: ":obs:") {
                let parts = identifier[range.upperBound...].split(separator: ":")
                guard parts.count == 4, let sent = published.withLock({ $0["\(parts[0])#\(parts[2])"] }) else { return }
                readingLatencies.withLock { $0.append(arrived - sent) }
                return
            }
            // urn:vigil:<gw>:alert:<patient>:news2@<ms>:raise:<ms>
            guard identifier.contains(":raise:"), let at = identifier.range(of: "news2@") else { return }
            let patient = identifier.components(separatedBy: ":alert:").last?.components(separatedBy: ":").first ?? ""
            let ms = identifier[at.upperBound...].prefix { $0.isNumber }
            guard let sent = published.withLock({ $0["\(patient)|\(ms)"] }) else { return }
            latencies.withLock { $0.append(arrived - sent) }
        })
        let sinkTask = Task { try await sink.run() }
        let agent = try AgentUnderTest(vigil: vigil, root: root, brokerHost: broker.host, brokerPort: broker.port,
                                       uplinkURL: "http://127.0.0.1:\(sink.port)/fhir", clientID: "vigil-alert-latency-\(getpid())",
                                       keyring: keyring, extra: "logging:\n  level: warning\n")
        try agent.start()
        defer { agent.stop() }

        let client = MQTTClient(configuration: .init(host: broker.host, port: broker.port, clientID: "alert-latency-\(getpid())",
                                                     cleanSession: true), logger: Logger(label: "alert-latency"))
        try await client.start()
        // Let the agent open its log, connect and get the drain going.
        let ready = ContinuousClock.now + .seconds(300)
        while sink.totals.withLock({ $0.entries }) < 10_000 {
            try agent.checkRunning()
            guard ContinuousClock.now < ready else {
                throw ValidationError("the agent did not start draining; its log ends:\n" + agent.logTail(2_000))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let clock = ContinuousClock()
        let drainStart = sink.totals.withLock { $0.entries }
        let start = clock.now
        // Each cycle per patient: a reading with pulse 135 and SpO2 84 % (NEWS2 6: a raise), then
        // two normal ones (the clear). Cycles are spread so every device stays within its budget.
        let cycles = (alerts + devices - 1) / devices
        var raised = 0
        for cycle in 0..<cycles {
            for (index, key) in keys.enumerated() where raised < alerts {
                for step in 0..<3 {
                    let seq = UInt32(cycle * 3 + step)
                    let t0 = UInt64(Date().timeIntervalSince1970 * 1_000) + UInt64(step)
                    let abnormal = step == 0
                    let frame = FrameEncoder.readings(
                        key: key, boot: 1, seq: seq, t0: t0,
                        records: [.init(dt: 0, values: [(.pulseRate, abnormal ? 1_350 : 720 + Int16(seq % 5)),
                                                        (.spo2, abnormal ? 840 : 970 + Int16(seq % 3)), (.respiratoryRate, 150)])],
                        flags: .clockSynced)
                    let sentAt = clock.now
                    published.withLock {
                        if abnormal { $0["Patient/a\(index)|\(t0)"] = sentAt } else { $0["\(key.device)#\(seq)"] = sentAt }
                    }
                    try await client.publish(topic: "vigil/v1/\(key.device)/up", payload: frame)
                }
                raised += 1
                try await Task.sleep(for: .milliseconds(30))
            }
        }
        let deadline = clock.now + .seconds(60)
        while (latencies.withLock({ $0.count }) < raised || readingLatencies.withLock({ $0.count }) < 2 * raised) && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = clock.now - start
        let drained = sink.totals.withLock { $0.entries } - drainStart
        let backlogLeft = sink.totals.withLock { $0.entries } < backlog * 4
        agent.stop()
        await client.shutdown()
        sinkTask.cancel()
        let sorted = latencies.withLock { $0 }.sorted()
        let readings = readingLatencies.withLock { $0 }.sorted()
        func ms(_ d: Duration?) -> Double {
            guard let d else { return -1 }
            return Double(d.components.seconds) * 1_000 + Double(d.components.attoseconds) / 1e15
        }
        func percentile(_ p: Double) -> Duration? { sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        try printJSON([
            "alerts_published": raised, "alerts_measured": sorted.count, "backlog_readings": backlog,
            "p50_ms": ms(percentile(0.5)), "p99_ms": ms(percentile(0.99)), "max_ms": ms(sorted.last),
            "backlog_resources_drained_meanwhile": drained,
            "live_readings_measured": readings.count,
            "live_reading_p50_ms": ms(readings.isEmpty ? nil : readings[readings.count / 2]),
            "live_reading_p99_ms": ms(readings.isEmpty ? nil : readings[min(readings.count - 1, Int(Double(readings.count) * 0.99))]), "backlog_still_draining_at_end": backlogLeft,
            "seconds": ms(elapsed) / 1_000,
        ])
    }
}
