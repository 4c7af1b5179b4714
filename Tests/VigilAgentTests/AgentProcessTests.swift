import Foundation
import Testing
import VigilCore
import VigilAgent
import VigilMQTT
import VigilProtocol
import VigilTestSupport

#if canImport(Glibc)
import Glibc
import VigilProvisioning
#endif

/// `vigil run` as a real process against a real broker, driven by a second MQTT client.
@Suite struct AgentProcessTests {
    struct RunningAgent {
        let child: ChildProcess
        let directory: TemporaryDirectory
        let metricsPort: Int
        var log: String { (try? String(contentsOfFile: directory.file("agent.log"), encoding: .utf8)) ?? "" }
    }

    func startAgent(broker: MosquittoBroker, directory: TemporaryDirectory, extraEnvironment: [String: String] = [:]) throws -> RunningAgent {
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: directory, gateway: "gw-test", brokerPort: broker.port, metricsPort: metricsPort,
            mqtt: ["reconnect:", "  initial_ms: 20", "  max_ms: 200"],
            sections: "logging:\n  level: debug\n  format: journald\npipeline:\n  summary_interval_seconds: 1\n")
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extraEnvironment) { $1 }
        let child = try ChildProcess(
            builtProduct("vigil"), ["run", "--config", config], environment: environment,
            stdoutPath: directory.file("agent.out"), stderrPath: directory.file("agent.log"))
        return RunningAgent(child: child, directory: directory, metricsPort: metricsPort)
    }

    @Test func validatesCountsRequestsResendsAndStopsCleanlyUnderSystemd() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("agent")
        defer { dir.remove() }
        let devices = URL(fileURLWithPath: dir.path).appendingPathComponent("state/devices")
        let keyA = Array(repeating: UInt8(0xA1), count: 32)
        try DeviceRegistry.write(.init(device: "dev-a", patient: "Patient/p-a", kind: "spo2-ring", key: hexString(keyA)), to: devices)
        let notify = try NotifySocketListener(directory: dir)
        defer { notify.stop() }
        let agent = try startAgent(broker: broker, directory: dir, extraEnvironment: [
            "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000",
        ])
        #expect(await eventually { notify.messages.contains("READY=1") })
        #expect(notify.messages.contains { $0.hasPrefix("STATUS=") && $0.contains("; store 0 records, ") }, "\(notify.messages)")
        #expect(await eventually { agent.log.contains("connected to the broker") })
        #expect(agent.log.contains("device registry loaded devices=1"))

        let key = DeviceKey(device: DeviceID("dev-a")!, bytes: keyA)!
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-a", subscriptions: [.init("vigil/v1/dev-a/cmd")]),
                                logger: .init(label: "t"))
        try await sensor.start()
        let acks = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-a-acks", subscriptions: [.init("vigil/v1/dev-a/ack")]),
                              logger: .init(label: "t"))
        try await acks.start()
        #expect(await eventually { sensor.connectionState.isConnected && acks.connectionState.isConnected })
        // A reading whose values must never appear in a log line: SpO2 87.3 %, pulse 131.7 /min.
        func frame(seq: UInt32, count: Int = 1) -> [UInt8] {
            FrameEncoder.readings(key: key, boot: 4, seq: seq, t0: 1_795_350_000_000,
                                  records: (0..<count).map { .init(dt: UInt32($0) * 1_000, values: [(.pulseRate, 1317), (.spo2, 873)]) },
                                  flags: .clockSynced)
        }
        try await sensor.publish(topic: "vigil/v1/dev-a/up", payload: frame(seq: 0, count: 5))
        try await sensor.publish(topic: "vigil/v1/dev-a/up", payload: frame(seq: 0, count: 5))   // duplicate
        try await sensor.publish(topic: "vigil/v1/dev-a/up", payload: frame(seq: 8))             // gap 5...7
        var forged = frame(seq: 9)
        forged[forged.count - 1] ^= 1
        try await sensor.publish(topic: "vigil/v1/dev-a/up", payload: forged)
        try await sensor.publish(topic: "vigil/v1/dev-z/up", payload: frame(seq: 0))             // unprovisioned
        try await sensor.publish(topic: "vigil/v1/dev-a/status", payload: FrameEncoder.status(
            key: key, boot: 4, online: true, battery: 80, rssi: -60, configVersion: 0, uptimeMilliseconds: 1_000, firmware: "test-fw 1"))

        // The gap is requested on the device's cmd topic, signed with its key.
        let request = await receive(1, from: sensor)
        let resend = try request.first.map { try FrameDecoder.decode($0.payload, key: key) }
        guard case .resend(let r)? = resend else {
            Issue.record("expected a RESEND frame, got \(String(describing: resend))")
            return
        }
        #expect(r.boot == 4 && r.fromSeq == 5 && r.toSeq == 7)
        try await sensor.publish(topic: "vigil/v1/dev-a/up", payload: FrameEncoder.readings(
            key: key, boot: 4, seq: 5, t0: 1_795_350_000_000, records: (0..<3).map { .init(dt: UInt32($0), values: [(.spo2, 950)]) },
            flags: [.clockSynced, .replay]))
        await sensor.shutdown()

        // Durable acks, signed with the device's key, for the contiguous stored prefix only:
        // through 4 while 5...7 are missing, then through 8 once the resend filled the gap.
        let acked = await receive(from: acks, timeout: .seconds(30)) { received in
            received.contains { message in
                if case .ack(let ack)? = try? FrameDecoder.decode(message.payload, key: key) { return ack.seq == 8 }
                return false
            }
        }
        let ackSeqs = acked.compactMap { message -> UInt32? in
            guard case .ack(let ack)? = try? FrameDecoder.decode(message.payload, key: key), ack.boot == 4 else { return nil }
            return ack.seq
        }
        #expect(ackSeqs.count == acked.count, "every message on the ack topic is a valid ACK for boot 4")
        #expect(ackSeqs.last == 8 && ackSeqs.dropLast().allSatisfy { $0 == 4 }, "acks: \(ackSeqs)")
        await acks.shutdown()

        // Upstream acknowledges the NEWS2 alert the first frame raised (its episode id is the
        // model and the time the alert began); a malformed and an unknown acknowledgement are
        // rejected with their reasons.
        let clinical = MQTTClient(configuration: .init(port: broker.port, clientID: "clinical"), logger: .init(label: "t"))
        try await clinical.start()
        #expect(await eventually { clinical.connectionState.isConnected })
        let ackTopic = "vigil/v1/_gateway/gw-test/alert-ack"
        try await clinical.publish(topic: ackTopic, payload: Array("not json".utf8))
        try await clinical.publish(topic: ackTopic, payload: Array(#"{"patient":"Patient/p-a","alert_id":"news2@1","by":"nurse-7"}"#.utf8))
        try await clinical.publish(topic: ackTopic, payload: Array(#"{"patient":"Patient/p-a","alert_id":"news2@1795350000000","by":"nurse-7"}"#.utf8))
        #expect(await eventually { agent.log.contains("alert acknowledged alert_id=news2@1795350000000 model=news2") })
        await clinical.shutdown()

        #expect(await eventually {
            let metrics = try? httpGet(port: agent.metricsPort, path: "/metrics").body
            return metrics?.contains(#"vigil_readings_accepted_total{device="dev-a"} 9"#) == true
        })
        let metrics = try httpGet(port: agent.metricsPort, path: "/metrics").body
        #expect(metrics.contains("vigil_frames_duplicate_total 1"))
        #expect(metrics.contains(#"vigil_ingest_rejected_total{reason="bad_mac"} 1"#))
        #expect(metrics.contains(#"vigil_ingest_rejected_total{reason="unprovisioned"} 1"#))
        #expect(metrics.contains("vigil_resend_requests_total 1"))
        #expect(metrics.contains(#"vigil_ingest_rejected_total{reason="bad_alert_ack"} 1"#))
        #expect(metrics.contains(#"vigil_ingest_rejected_total{reason="unknown_alert"} 1"#))
        #expect(metrics.contains("vigil_mqtt_connected 1"))
        #expect(try httpGet(port: agent.metricsPort, path: "/other").status == 404)

        // The same facts through the control socket, as a technician reads them.
        let vigil = builtProduct("vigil")
        let config = dir.file("vigil.yaml")
        #expect(try FileManager.default.attributesOfItem(atPath: dir.file("control.sock"))[.posixPermissions] as? Int == 0o666, "any account may connect; roles decide")
        let show = try await runProcess(vigil, ["sensor", "show", "dev-a", "--config", config, "--json"])
        #expect(show.status == 0, "\(show.stderr)")
        let report = try ControlJSON.decoder().decode(SensorReport.self, from: Data(show.stdout.utf8))
        #expect(report.patient == "Patient/p-a" && report.kind == "spo2-ring" && report.provisioned)
        #expect(report.firmware == "test-fw 1" && report.battery == 80 && report.rssi == -60 && report.online == true)
        #expect(report.readingsStored == 9 && report.received == 9 && report.expected == 9 && report.completeness == 1)
        #expect(report.readingsPerMinute == 9)
        #expect(report.rejects == ["bad_mac": 1])
        let list = try await runProcess(vigil, ["sensor", "list", "--config", config])
        #expect(list.status == 0)
        let rows = list.stdout.split(separator: "\n").map(String.init)
        #expect(rows.first?.hasPrefix("DEVICE  PATIENT      KIND       STATE    LAST SEEN") == true, "\(list.stdout)")
        #expect(rows.contains { $0.hasPrefix("dev-a   Patient/p-a  spo2-ring  online") && $0.contains("100.0%") && $0.hasSuffix("bad_mac 1") },
                "\(list.stdout)")
        #expect(rows.contains { $0.hasPrefix("dev-z   -            -          removed") && $0.hasSuffix("unprovisioned 1") }, "\(list.stdout)")
        #expect(!list.stdout.contains("\u{1B}["), "no colour codes when the output is not a terminal")
        let status = try await runProcess(vigil, ["status", "--config", config, "--json"])
        let statusJSON = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        let problems = try #require(statusJSON["problems"] as? [[String: Any]])
        #expect(status.status == (problems.isEmpty ? 0 : 1), "exit status follows the worst problem: \(problems)")
        #expect(!problems.contains { ($0["subject"] as? String)?.hasPrefix("sensor") == true }, "\(problems)")
        let text = try await runProcess(vigil, ["status", "--config", config])
        for line in ["agent    vigil ", "broker   connected to 127.0.0.1:\(broker.port)", "uplink   none configured", "alerts   1 open, 0 not acknowledged",
                     "sensors  1 provisioned, 1 online"] {
            #expect(text.stdout.contains(line), "status lacks \(line): \(text.stdout)")
        }
        let scraped = try httpGet(port: agent.metricsPort, path: "/metrics").body
        for line in [#"vigil_sensor_online{device="dev-a"} 1"#, #"vigil_sensor_battery_percent{device="dev-a"} 80"#,
                     #"vigil_sensor_completeness_ratio{device="dev-a"} 1.0"#, "vigil_broker_connected 1",
                     #"vigil_open_alerts{acknowledged="true"} 1"#, #"vigil_backlog_records{lane="routine"} "#] {
            #expect(scraped.contains(line), "metrics lack \(line)")
        }

        #expect(await eventually { notify.messages.contains("WATCHDOG=1") })
        #expect(await eventually { agent.log.contains("device=dev-a") && agent.log.contains("readings=") })
        agent.child.terminate()
        #expect(await agent.child.waitAsync(timeout: .seconds(30)) == 0)
        #expect(notify.messages.contains("STOPPING=1"))

        let log = agent.log
        #expect(log.contains("<4>vigil: rejected a message bytes=48 device=dev-a reason=bad_mac suppressed=0"))
        #expect(log.contains("<4>vigil: rejected a message bytes=48 device=dev-z reason=unprovisioned suppressed=0"))
        #expect(log.contains("<6>vigil: requested a resend boot=4 device=dev-a from_seq=5 to_seq=7"))
        #expect(log.contains("<5>vigil: device online boot=4 config_version=0 device=dev-a firmware=\"test-fw 1\""))
        #expect(log.contains("stopped cleanly"))
        // Pulse 131.7 (3 points) and SpO2 87.3 % (3 points): NEWS2 6, a medium alert, stored in
        // the priority lane with its explanation; the readings are marked abnormal.
        #expect(log.contains("<5>vigil: alert device=dev-a model=news2"))
        let export = try await runProcess(builtProduct("vigil"), ["store", "export", "--config", config])
        let lines = export.stdout.split(separator: "\n").map(String.init)
        let alert = try #require(lines.first { $0.contains(#""type":"alert""#) }, "\(export.stdout)")
        #expect(alert.contains(#""event":"raise""#) && alert.contains(#""risk":"medium""#) && alert.contains(#""score":6"#))
        #expect(alert.contains(#""values":{"hr":1317,"spo2":873}"#), "\(alert)")
        #expect(alert.contains(#""alert_id":"news2@1795350000000""#) && alert.contains(#""notify":true"#), "\(alert)")
        let acknowledgement = try #require(lines.first { $0.contains(#""event":"acknowledge""#) }, "\(export.stdout)")
        #expect(acknowledgement.contains(#""by":"nurse-7""#) && acknowledgement.contains(#""alert_id":"news2@1795350000000""#))
        #expect(lines.filter { $0.contains(#""type":"reading""#) }.count == 9)
        #expect(lines.contains { $0.contains(#""seq":0,"#) && $0.contains(#""abnormal":true"#) })
        // Whole numbers only: "873" inside a port such as 48739 is not a leak.
        let numbers = Set(log.split(whereSeparator: { !($0.isNumber || $0 == ".") }).map(String.init))
        for secret in ["1317", "131.7", "873", "87.3"] { #expect(!numbers.contains(secret), "a reading leaked into the log") }
    }

    @Test func anInvalidConfigurationExitsWithExConfigAndSaysWhy() async throws {
        let dir = try TemporaryDirectory("agent")
        defer { dir.remove() }
        let config = try dir.write("bad.yaml", "mqtt:\n  port: -1\n")
        let result = try await runProcess(builtProduct("vigil"), ["run", "--config", config])
        #expect(result.status == 78)
        #expect(result.stderr.contains("\(config):2: mqtt.port: expected an integer from 1 to 65535, got \"-1\""))
    }

    @Test func keepsRunningWhileTheBrokerIsDownAndReconnects() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("agent")
        defer { dir.remove() }
        let agent = try startAgent(broker: broker, directory: dir)
        #expect(await eventually { agent.log.contains("connected to the broker") })
        broker.stop()
        try await Task.sleep(for: .milliseconds(500))
        #expect(agent.child.isRunning)
        try broker.start()
        #expect(await eventually { agent.log.components(separatedBy: "connected to the broker").count == 3 })
        let metrics = try httpGet(port: agent.metricsPort, path: "/metrics").body
        #expect(metrics.contains("vigil_mqtt_connects_total 2"))
        #expect(metrics.contains("vigil_mqtt_disconnects_total 1"))
        agent.child.signal(SIGINT)
        #expect(await agent.child.waitAsync(timeout: .seconds(30)) == 0)
    }
}
