import ArgumentParser
import Foundation
import Logging
import VigilCore
import VigilMQTT

/// A day of a home gateway, time-compressed: `--devices` sensors at 1 reading/s each (keeping
/// every reading until durably acknowledged, as the firmware does) through a private broker,
/// `vigil run` and a receiving endpoint, with a broker outage, an agent restart and an endpoint
/// outage on the way. An "hour" lasts `--hour-seconds`; the load stays real time. The agent's
/// RSS, open descriptors and CPU are sampled throughout. At the end: every reading acknowledged
/// and at the endpoint (nothing lost), and the agent's idle CPU once the sensors fall silent.
/// JSON on stdout; a script judges it.
struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A time-compressed day with outages and a restart: nothing lost, RSS and descriptors flat, idle CPU.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "mosquitto's configuration (the soak stops and restarts the broker with it).") var brokerConfig: String
    @Option(help: "The mosquitto executable.") var mosquitto = "/usr/sbin/mosquitto"
    @Option(help: "The vigil executable.") var vigil: String
    @Option(help: "Simulated sensors, 1 reading/s each.") var devices = 100
    @Option(help: "Seconds per compressed hour (the day lasts 24 of them).") var hourSeconds = 60.0
    @Option(help: "Seconds between samples of the agent's RSS, descriptors and CPU.") var sampleSeconds = 10.0
    @Option(help: "Seconds of silence at the end to measure idle CPU.") var idleSeconds = 60.0
    @Option(help: "Every Nth reading of a sensor is abnormal (a NEWS2 alert).") var abnormalEvery = 900
    @Option(help: "Directory for the agent's state.") var directory = ".build/soak"
    @Option(help: "More agent restarts, spread over hours 10-22, alternately SIGKILL and SIGTERM.") var restarts = 0
    @Option(help: "The store's segment size in KiB (small: uploads delete segments within minutes).") var segmentKib: Int?
    @Option(help: "Sensors whose patient deteriorates from 10:00 to 20:00 (every reading NEWS2 6): one episode each.")
    var deteriorations = 0
    @Flag(help: "Keep the agent's state and log afterwards.") var keep = false

    struct Sample {
        let hour: Double
        let process: Int
        let rssKiB: Int
        let fds: Int
        let threads: Int
        let cpuSeconds: Double
    }

    func run() async throws {
        let root = directory + "/run-\(getpid())"
        defer { if !keep { try? FileManager.default.removeItem(atPath: root) } }
        let arrivals = Arrivals()
        let sink = try await FHIRSink(onArrival: { arrivals.record($0, at: $1) })
        let sinkTask = Task { try await sink.run() }
        defer { sinkTask.cancel() }
        // Retry and reconnect caps compressed with the day (5 minutes and 30 seconds of a real hour).
        let retryCap = max(1_000, Int(hourSeconds * 1_000 / 12))
        let reconnectCap = max(500, Int(hourSeconds * 1_000 / 120))
        let agent = try AgentUnderTest(
            vigil: vigil, root: root, brokerHost: broker.host, brokerPort: broker.port, uplinkURL: "http://127.0.0.1:\(sink.port)/fhir",
            clientID: "vigil-soak-\(getpid())", extra: "logging:\n  level: notice\n",
            environment: ["VIGIL_UPLINK_RETRY_INITIAL_MS": "100", "VIGIL_UPLINK_RETRY_MAX_MS": "\(retryCap)",
                          "VIGIL_MQTT_RECONNECT_INITIAL_MS": "100", "VIGIL_MQTT_RECONNECT_MAX_MS": "\(reconnectCap)"]
                .merging(segmentKib.map { ["VIGIL_STORE_SEGMENT_KIB": "\($0)"] } ?? [:]) { $1 })
        defer { agent.stop() }
        var brokerProcess = try startBroker()
        defer { kill(brokerProcess.processIdentifier, SIGKILL) }

        let keys = try AckedFleet.provision(count: devices, prefix: "live", registry: agent.registry)
        var fleet = AckedFleet(keys: keys, boot: 1)
        let client = MQTTClient(configuration: .init(host: broker.host, port: broker.port, clientID: "soak-sensors-\(getpid())",
                                                     cleanSession: true, subscriptions: [.init(fleet.ackFilter)],
                                                     reconnect: Backoff(initialMilliseconds: 50, maximumMilliseconds: 500)),
                                logger: Logger(label: "soak-sensors"))
        try await client.start()
        try agent.start()

        let clock = ContinuousClock()
        let start = clock.now
        func hour(_ instant: ContinuousClock.Instant) -> Double { (instant - start).seconds / hourSeconds }
        var samples: [Sample] = []
        var events: [String] = []
        var process = 1
        var nextSample = start
        var due = (0..<devices).map { start + .milliseconds(1_000 * $0 / devices) }
        var alerts = 0
        /// Per deteriorating sensor, the first and last reading time of its deterioration.
        var deteriorationWindow: [Int: (first: Int64, last: Int64)] = [:]
        var abnormalAt: [(key: String, hour: Double, sensor: Int, seq: UInt32)] = []
        // The day's events, by compressed hour.
        var brokerDown = false, restarted = false, endpointDown = false, endpointBack = false
        // Extra restarts: evenly spread over hours 10-22 with jitter, SIGKILL first, then alternating.
        var generator = SystemRandomNumberGenerator()
        var restartHours = (0..<restarts).map { 10 + (Double($0) + Double.random(in: 0.1...0.9, using: &generator)) * 12 / Double(max(restarts, 1)) }
        var kills = 0, terms = 1
        while hour(clock.now) < 24 {
            let now = clock.now
            let h = hour(now)
            if !brokerDown && h >= 4 {
                brokerDown = true
                // SIGKILL, a crash: what it held in memory (queued and in-flight messages, the
                // agent's session since its last save) is gone, so only resends keep readings.
                // (SIGTERM would not do: a child of this process inherits its blocked signals.)
                kill(brokerProcess.processIdentifier, SIGKILL)
                brokerProcess.waitUntilExit()
                events.append("04:00 broker killed")
            }
            if brokerDown && !brokerProcess.isRunning && h >= 4.5 {
                brokerProcess = try startBroker()
                events.append("04:30 broker started")
            }
            if !restarted && h >= 9 {
                restarted = true
                agent.stop()
                try agent.start()
                process += 1
                events.append("09:00 agent restarted (SIGTERM, start)")
            }
            if let next = restartHours.first, h >= next {
                restartHours.removeFirst()
                let kill = (restarts - restartHours.count) % 2 == 1
                if kill { agent.kill(); kills += 1 } else { agent.stop(); terms += 1 }
                try agent.start()
                process += 1
                let minutes = Int(h * 60)
                events.append(String(format: "%02d:%02d agent %@", minutes / 60, minutes % 60, kill ? "killed (SIGKILL), start" : "restarted (SIGTERM, start)"))
            }
            if !endpointDown && h >= 14 {
                endpointDown = true
                sink.available.store(false, ordering: .relaxed)
                events.append("14:00 endpoint down (connections reset)")
            }
            if endpointDown && !endpointBack && h >= 16 {
                endpointBack = true
                sink.available.store(true, ordering: .relaxed)
                events.append("16:00 endpoint back")
            }
            try agent.checkRunning()
            while let message = client.messages.nextIfAvailable() { fleet.receive(topic: message.topic, payload: message.payload) }
            for number in 0..<devices where due[number] <= now {
                let index = Int(fleet.sensors[number].next)
                let deteriorating = number < deteriorations && (10..<20).contains(h)
                if deteriorating {
                    let (topic, frame, t0) = fleet.sample(number, now: now, abnormal: true)
                    arrivals.published(device: fleet.sensors[number].key.device.rawValue, seq: UInt32(index), t0: t0, abnormal: false,
                                       at: clock.now)
                    try? client.enqueue(topic: topic, payload: frame)
                    deteriorationWindow[number] = (deteriorationWindow[number]?.first ?? Int64(t0), Int64(t0))
                    due[number] += .seconds(1)
                    continue
                }
                let abnormal = number >= deteriorations && (index + number * 37) % abnormalEvery == abnormalEvery - 1
                let (topic, frame, t0) = fleet.sample(number, now: now, abnormal: abnormal)
                arrivals.published(device: fleet.sensors[number].key.device.rawValue, seq: UInt32(index), t0: t0, abnormal: abnormal,
                                   at: clock.now)
                try? client.enqueue(topic: topic, payload: frame)
                if abnormal {
                    alerts += 1
                    abnormalAt.append(("Patient/\(fleet.sensors[number].key.device)|\(t0)", h, number, UInt32(index)))
                }
                due[number] += .seconds(1)
            }
            for (topic, frame) in fleet.resendDue(now: now, after: .seconds(3)) { try? client.enqueue(topic: topic, payload: frame) }
            if now >= nextSample, let stats = agent.stats {
                samples.append(Sample(hour: h, process: process, rssKiB: stats.residentKiB, fds: stats.openFileDescriptors,
                                      threads: stats.threads, cpuSeconds: stats.cpuSeconds))
                nextSample += .seconds(sampleSeconds)
            }
            try await Task.sleep(for: .milliseconds(10))
        }

        // The sensors fall silent; everything must reach the endpoint.
        let sent = fleet.sent
        let drainStart = clock.now
        while (!fleet.allAcknowledged || arrivals.state.withLock({ $0.backlogReadings }) < sent) && clock.now - drainStart < .seconds(300) {
            while let message = client.messages.nextIfAvailable() { fleet.receive(topic: message.topic, payload: message.payload) }
            for (topic, frame) in fleet.resendDue(now: clock.now, after: .seconds(3)) { try? client.enqueue(topic: topic, payload: frame) }
            try agent.checkRunning()
            try await Task.sleep(for: .milliseconds(20))
        }
        let drainSeconds = (clock.now - drainStart).seconds
        // Idle: sensors connected but silent, nothing left to upload.
        try await Task.sleep(for: .seconds(2))
        let idleStart = (clock.now, agent.stats?.cpuSeconds ?? 0)
        try await Task.sleep(for: .seconds(idleSeconds))
        let idleEnd = (clock.now, agent.stats?.cpuSeconds ?? 0)
        let final = agent.stats
        agent.stop()
        await client.shutdown()

        let arrived = arrivals.state.withLock { $0 }
        let missing = fleet.sensors.flatMap { sensor in
            (0..<sensor.next).map { "\(sensor.key.device)#\($0)" }.filter { !arrived.backlogSeen.contains($0) }
        }
        // Flatness: the process after the restart, before the endpoint outage (hours 11-13), after
        // its backlog drained (18-20) and at the end of the day (22-24).
        // With extra restarts no one process spans those hours: descriptors are compared across
        // processes (each settles at the same count), RSS is reported but not judged.
        let after = restarts > 0 ? samples.filter { $0.process > 1 } : samples.filter { $0.process == process }
        func median(_ values: [Int]) -> Int { values.isEmpty ? -1 : values.sorted()[values.count / 2] }
        let early = after.filter { (11..<13).contains($0.hour) }, late = after.filter { $0.hour >= 22 }
        let recovered = after.filter { (18..<20).contains($0.hour) }
        // Load CPU: hours 17-24 (after the outages, steady).
        let steady = after.filter { $0.hour >= 17 }
        let loadCPU = steady.count >= 2
            ? (steady.last!.cpuSeconds - steady.first!.cpuSeconds) / ((steady.last!.hour - steady.first!.hour) * hourSeconds) * 100 : -1
        let alertLatencies = arrived.alertLatencies.map(\.milliseconds).sorted()
        // An abnormal reading that reached the agent only after newer ones (resent after an
        // outage) is history by then: stored and uploaded flagged abnormal, scored, but it raises
        // no alert about the present. Any other one without an alert at the endpoint is a loss.
        let silent = abnormalAt.filter { !arrived.raises.contains($0.key) }
        // One episode per deterioration: more raises within its window are duplicates (the
        // condition never let up), none is a missed alert.
        var duplicateEpisodes = 0, missedDeteriorations = 0
        for (number, window) in deteriorationWindow {
            let patient = "Patient/\(fleet.sensors[number].key.device)"
            let raised = (arrived.episodes[patient] ?? []).filter { ($0 - 120_000...window.last).contains($0) && $0 >= window.first - 120_000 }
            if raised.isEmpty { missedDeteriorations += 1 } else { duplicateEpisodes += raised.count - 1 }
        }
        let silentLate = silent.filter { fleet.sensors[$0.sensor].replayed.contains($0.seq) }
        try printJSON([
            "devices": devices, "hour_seconds": hourSeconds, "events": events,
            "readings_sent": sent, "readings_unacknowledged": fleet.unacknowledged, "readings_resent": fleet.resent,
            "readings_at_endpoint": arrived.backlogReadings, "readings_missing": missing.count,
            "missing_samples": Array(missing.prefix(10)), "endpoint_duplicates": sink.totals.withLock { $0.duplicates },
            "alerts_published": alerts, "alerts_at_endpoint": alertLatencies.count,
            "abnormal_without_alert_at_hours": silent.map { ($0.hour * 100).rounded() / 100 },
            "abnormal_without_alert_resent_late": silentLate.count,
            "agent_runs": process, "restarts_sigkill": kills, "restarts_sigterm": terms,
            "routine_segments_deleted": agent.routineSegmentsDeleted,
            "deteriorations": deteriorationWindow.count, "duplicate_episodes": duplicateEpisodes,
            "missed_deteriorations": missedDeteriorations,
            "alert_p50_ms": alertLatencies.isEmpty ? -1 : alertLatencies[alertLatencies.count / 2],
            "alert_max_ms": alertLatencies.last ?? -1,
            "drain_after_day_s": (drainSeconds * 10).rounded() / 10,
            "rss_kib_early": median(early.map(\.rssKiB)), "rss_kib_recovered": median(recovered.map(\.rssKiB)),
            "rss_kib_late": median(late.map(\.rssKiB)),
            "rss_kib_max": after.map(\.rssKiB).max() ?? -1, "peak_rss_kib": final?.peakResidentKiB ?? -1,
            "fds_early": median(early.map(\.fds)), "fds_recovered": median(recovered.map(\.fds)), "fds_late": median(late.map(\.fds)),
            "fds_max": after.map(\.fds).max() ?? -1,
            "threads_max": samples.map(\.threads).max() ?? -1,
            "load_cpu_percent": (loadCPU * 100).rounded() / 100,
            "idle_cpu_percent": ((idleEnd.1 - idleStart.1) / (idleEnd.0 - idleStart.0).seconds * 100 * 100).rounded() / 100,
            "samples": samples.map { [($0.hour * 100).rounded() / 100, Double($0.process), Double($0.rssKiB), Double($0.fds), $0.cpuSeconds] },
        ])
    }

    private func startBroker() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mosquitto)
        process.arguments = ["-c", brokerConfig]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}
