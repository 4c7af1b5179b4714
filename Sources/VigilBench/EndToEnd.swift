import ArgumentParser
import Foundation
import Logging
import Synchronization
import VigilCore
import VigilMQTT
import VigilProtocol

/// The whole gateway under load in one run, so every figure is a ratio within the same machine
/// state: a private broker, many simulated sensors (signed frames, within the per-device frame
/// budget), `vigil run` and a receiving FHIR endpoint. JSON on stdout.
///
/// 1. **Ingest against the broker's limit.** The same queued backlog of live frames (one reading
///    each) is drained by `mosquitto_sub` (QoS 1, the broker's raw delivery rate) and by the agent
///    (validated, scored, stored with its sync and acknowledged: its durable ingest), in
///    alternating rounds; the publisher is out of both measurements. The agent's rate runs from
///    its first ACK to the ACK of the last reading; CPU seconds and peak RSS are read from /proc.
///    The endpoint is down meanwhile, so the readings pile up for step 2.
/// 2. **Uplink drain.** The endpoint comes back and the agent (restarted) uploads the backlog.
/// 3. **Live.** `--live-devices` sensors at 1 reading/s each, some readings abnormal: alert and
///    reading latency from publish to the endpoint, CPU share and the process's peak RSS.
struct EndToEnd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e", abstract: "Broker limit vs durable ingest, uplink drain, alert latency, RSS and CPU, in one run.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "The vigil executable.") var vigil: String
    @Option(help: "Simulated sensors in the ingest rounds.") var devices = 1_000
    @Option(help: "Frames per sensor per round (at most 64, the per-device burst, so the frame budget never refuses one).")
    var framesPerDevice = 64
    @Option(help: "Rounds (each: mosquitto_sub and the agent drain the same backlog); medians are reported.") var rounds = 3
    @Option(help: "Sensors in the live phase (1 reading/s each).") var liveDevices = 100
    @Option(help: "Seconds of the live phase.") var liveSeconds = 120.0
    @Option(help: "In the live phase every Nth reading of a sensor is abnormal (NEWS2 6, an alert).") var abnormalEvery = 60
    @Option(help: "Seconds the uplink may take to drain the backlog.") var drainTimeout = 600.0
    @Option(help: "Path of mosquitto_sub.") var mosquittoSub = "/usr/bin/mosquitto_sub"
    @Option(help: "Directory for the agent's state.") var directory = ".build/bench-e2e"
    @Flag(help: "Keep the agent's state and log afterwards.") var keep = false

    func validate() throws {
        guard (1...64).contains(framesPerDevice) else { throw ValidationError("--frames-per-device: expected 1-64, got \(framesPerDevice)") }
        guard (1...devices).contains(liveDevices) else { throw ValidationError("--live-devices: expected 1-\(devices), got \(liveDevices)") }
    }

    func run() async throws {
        let root = directory + "/run-\(getpid())"
        defer { if !keep { try? FileManager.default.removeItem(atPath: root) } }
        let arrivals = Arrivals()
        let sink = try await FHIRSink(onArrival: { arrivals.record($0, at: $1) })
        let sinkTask = Task { try await sink.run() }
        defer { sinkTask.cancel() }
        sink.available.store(false, ordering: .relaxed)
        let agent = try AgentUnderTest(vigil: vigil, root: root, brokerHost: broker.host, brokerPort: broker.port,
                                       uplinkURL: "http://127.0.0.1:\(sink.port)/fhir", clientID: "vigil-e2e-\(getpid())",
                                       extra: "logging:\n  level: notice\n")
        defer { agent.stop() }
        let keys = try AckedFleet.provision(count: devices, prefix: "live", registry: agent.registry)
        let probeKey = try AckedFleet.provision(count: 1, prefix: "probe", registry: agent.registry)[0]
        var fleet = AckedFleet(keys: keys, boot: 1)
        let generator = MQTTClient(configuration: .init(host: broker.host, port: broker.port, clientID: "e2e-sensors-\(getpid())",
                                                        cleanSession: true, subscriptions: [.init(fleet.ackFilter)]),
                                   logger: Logger(label: "e2e-sensors"))
        try await generator.start()
        defer { Task { await generator.shutdown() } }

        // The agent's persistent session must exist before frames are queued for it.
        try agent.start()
        try await waitForProbe(agent: agent, generator: generator, key: probeKey)
        agent.stop()
        let rawID = "e2e-raw-\(getpid())"
        try runSubscriber(["-E"], id: rawID)

        var raw: [Double] = [], ingest: [Double] = [], cpuPerMillion: [Double] = [], peakKiB: [Int] = []
        for round in 0..<rounds {
            let frames = (0..<framesPerDevice).flatMap { _ in (0..<devices).map { fleet.sample($0, now: .now) } }
            // Broker limit: mosquitto_sub drains the queued frames.
            try await publish(frames.map { ($0.topic, $0.frame) }, with: generator)
            let clock = ContinuousClock()
            let started = clock.now
            try runSubscriber(["-C", "\(frames.count)"], id: rawID)
            raw.append(Double(frames.count) / (clock.now - started).seconds)
            // Durable ingest: the agent, stopped meanwhile, drains the same frames.
            try await publish(frames.map { ($0.topic, $0.frame) }, with: generator)
            try agent.start()
            let measured = try await drainAcks(fleet: &fleet, generator: generator, agent: agent)
            ingest.append(measured.rate)
            cpuPerMillion.append(measured.readings > 0 ? measured.cpuSeconds / Double(measured.readings) * 1_000_000 : 0)
            peakKiB.append(agent.stats?.peakResidentKiB ?? -1)
            agent.stop()
            FileHandle.standardError.write(Data("round \(round): mosquitto_sub \(Int(raw.last!)) frames/s, agent \(Int(measured.rate)) readings/s\n".utf8))
        }

        // Uplink drain: the endpoint returns; the restarted agent uploads what piled up.
        let backlog = fleet.sent
        let drainStart = ContinuousClock.now
        sink.available.store(true, ordering: .relaxed)
        try agent.start()
        let drained = try await arrivals.wait(agent: agent, timeout: .seconds(drainTimeout)) { $0.backlogReadings >= backlog }
        guard drained.backlogReadings >= backlog, let firstArrival = drained.firstBacklogArrival, let lastArrival = drained.lastBacklogArrival else {
            let missing = fleet.sensors.flatMap { sensor in
                (0..<sensor.next).map { "\(sensor.key.device)#\($0)" }.filter { !drained.backlogSeen.contains($0) }
            }
            throw ValidationError("\(missing.count) of \(backlog) readings never reached the endpoint (\(missing.prefix(10).joined(separator: ", ")))"
                                  + "; the agent's log ends:\n" + agent.logTail())
        }
        let firstUpload = firstArrival - drainStart
        let drainRate = Double(backlog) / (lastArrival - firstArrival).seconds

        // Live: a home's worth of sensors at 1 reading/s, in a new boot.
        var live = AckedFleet(keys: Array(keys.prefix(liveDevices)), boot: 2)
        let liveResult = try await runLive(fleet: &live, generator: generator, agent: agent, arrivals: arrivals)
        let duplicates = sink.totals.withLock { $0.duplicates }
        agent.stop()

        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let rawMedian = median(raw), ingestMedian = median(ingest)
        try printJSON([
            "devices": devices, "frames_per_device": framesPerDevice, "rounds": rounds, "readings_per_frame": 1,
            "raw_frames_per_s": Int(rawMedian), "raw_all": raw.map { Int($0) },
            "ingest_readings_per_s": Int(ingestMedian), "ingest_all": ingest.map { Int($0) },
            "ingest_ratio": (ingestMedian / rawMedian * 1_000).rounded() / 1_000,
            "ingest_cpu_s_per_million": (median(cpuPerMillion) * 10).rounded() / 10,
            "ingest_peak_rss_kib": peakKiB.max() ?? -1,
            "drain_readings": backlog, "drain_readings_per_s": Int(drainRate),
            "drain_first_upload_s": (firstUpload.seconds * 100).rounded() / 100,
            "live_devices": liveDevices, "live_seconds": liveSeconds, "live_readings": liveResult.readings,
            "live_readings_arrived": liveResult.readingsArrived,
            "live_cpu_percent": (liveResult.cpuPercent * 100).rounded() / 100, "live_peak_rss_kib": liveResult.peakKiB,
            "alerts_published": liveResult.alerts, "alerts_arrived": liveResult.alertLatencies.count,
            "alert_p50_ms": percentile(liveResult.alertLatencies, 0.5), "alert_p99_ms": percentile(liveResult.alertLatencies, 0.99),
            "reading_p50_ms": percentile(liveResult.readingLatencies, 0.5), "reading_p99_ms": percentile(liveResult.readingLatencies, 0.99),
            "endpoint_duplicates": duplicates,
        ])
    }

    // MARK: - Steps

    /// Publishes a probe reading from its own device until the agent acknowledges it: the agent
    /// is connected, subscribed and storing.
    private func waitForProbe(agent: AgentUnderTest, generator: MQTTClient, key: DeviceKey) async throws {
        let topics = Topics(prefix: "vigil/v1")
        let frame = FrameEncoder.readings(key: key, boot: 1, seq: 0, t0: UInt64(Date().timeIntervalSince1970 * 1_000),
                                          records: [.init(dt: 0, values: Vitals().values)], flags: .clockSynced)
        let deadline = ContinuousClock.now + .seconds(120)
        var lastSent = ContinuousClock.now - .seconds(10)
        while ContinuousClock.now < deadline {
            try agent.checkRunning()
            if ContinuousClock.now - lastSent > .seconds(1) {
                try? generator.enqueue(topic: topics.topic(key.device, .up), payload: frame)
                lastSent = .now
            }
            while let message = generator.messages.nextIfAvailable() {
                if topics.parse(message.topic)?.0 == key.device { return }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ValidationError("the agent never acknowledged the probe; its log ends:\n" + agent.logTail())
    }

    /// QoS 1 into the broker, every 1,000th publish awaited so the client's queue stays short; the
    /// last one awaited, so the broker holds them all on return.
    private func publish(_ frames: [(String, [UInt8])], with client: MQTTClient) async throws {
        for (number, (topic, frame)) in frames.enumerated() {
            if number % 1_000 == 999 || number == frames.count - 1 {
                try await client.publish(topic: topic, payload: frame)
            } else {
                try client.enqueue(topic: topic, payload: frame)
            }
        }
    }

    private func runSubscriber(_ extra: [String], id: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mosquittoSub)
        process.arguments = ["-h", broker.host, "-p", "\(broker.port)", "-i", id, "-c", "-q", "1", "-t", "vigil/v1/+/up"] + extra
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ValidationError("mosquitto_sub exited \(process.terminationStatus)") }
    }

    /// Waits until every reading of the fleet is acknowledged; the rate and CPU run from the
    /// first ACK to the last.
    private func drainAcks(fleet: inout AckedFleet, generator: MQTTClient, agent: AgentUnderTest) async throws
        -> (rate: Double, cpuSeconds: Double, readings: Int)
    {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(600)
        // From the end of the first group commit's ACKs: the agent's start-up and its first batch
        // (read while it started) are not steady state.
        var first: (at: ContinuousClock.Instant, cpu: Double, unacked: Int)?
        while !fleet.allAcknowledged {
            var any = false
            while let message = generator.messages.nextIfAvailable() {
                fleet.receive(topic: message.topic, payload: message.payload)
                any = true
            }
            if any && first == nil { first = (clock.now, agent.stats?.cpuSeconds ?? 0, fleet.unacknowledged) }
            if !any {
                guard clock.now < deadline else {
                    throw ValidationError("\(fleet.unacknowledged) readings never acknowledged; the agent's log ends:\n" + agent.logTail())
                }
                try agent.checkRunning()
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        let end = (at: clock.now, cpu: agent.stats?.cpuSeconds ?? 0)
        // A round so small that the first commit covered it all measures nothing.
        guard let first, first.unacked > 0 else { return (0, 0, 0) }
        return (Double(first.unacked) / (end.at - first.at).seconds, end.cpu - first.cpu, first.unacked)
    }

    struct LiveResult {
        var readings = 0
        var readingsArrived = 0
        var alerts = 0
        var alertLatencies: [Double] = []
        var readingLatencies: [Double] = []
        var cpuPercent = 0.0
        var peakKiB = 0
    }

    private func runLive(fleet: inout AckedFleet, generator: MQTTClient, agent: AgentUnderTest, arrivals: Arrivals) async throws -> LiveResult {
        let clock = ContinuousClock()
        let start = clock.now
        let count = fleet.sensors.count
        // Sensors spread over the second, like independent wearables.
        var due = (0..<count).map { start + .milliseconds(1_000 * $0 / count) }
        var taken = 0
        var cpuStart: (at: ContinuousClock.Instant, cpu: Double)?
        var result = LiveResult()
        while clock.now - start < .seconds(liveSeconds) {
            try agent.checkRunning()
            let now = clock.now
            // The first tenth is warm-up (connections, first scores): CPU is measured after it.
            if cpuStart == nil && now - start >= .seconds(liveSeconds / 10) { cpuStart = (now, agent.stats?.cpuSeconds ?? 0) }
            while let message = generator.messages.nextIfAvailable() { fleet.receive(topic: message.topic, payload: message.payload) }
            for number in 0..<count where due[number] <= now {
                let index = Int(fleet.sensors[number].next)
                let abnormal = (index + number) % abnormalEvery == abnormalEvery - 1
                let (topic, frame, t0) = fleet.sample(number, now: now, abnormal: abnormal)
                arrivals.published(device: fleet.sensors[number].key.device.rawValue, seq: UInt32(index), t0: t0, abnormal: abnormal, at: clock.now)
                try? generator.enqueue(topic: topic, payload: frame)
                if abnormal { result.alerts += 1 }
                due[number] += .seconds(1)
                taken += 1
            }
            for (topic, frame) in fleet.resendDue(now: now, after: .seconds(5)) { try? generator.enqueue(topic: topic, payload: frame) }
            try await Task.sleep(for: .milliseconds(5))
        }
        let cpuEnd = (at: clock.now, cpu: agent.stats?.cpuSeconds ?? 0)
        if let cpuStart { result.cpuPercent = (cpuEnd.cpu - cpuStart.cpu) / (cpuEnd.at - cpuStart.at).seconds * 100 }
        result.readings = taken
        let alerts = result.alerts
        let outcome = try await arrivals.wait(agent: agent, timeout: .seconds(60)) {
            $0.liveReadingLatencies.count >= taken && $0.alertLatencies.count >= alerts
        }
        result.readingsArrived = outcome.liveReadingLatencies.count
        result.alertLatencies = outcome.alertLatencies.map(\.milliseconds)
        result.readingLatencies = outcome.liveReadingLatencies.map(\.milliseconds)
        result.peakKiB = agent.stats?.peakResidentKiB ?? -1
        return result
    }

    private func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return -1 }
        let sorted = values.sorted()
        return (sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 10).rounded() / 10
    }
}
