import Foundation
import Testing
import VigilCore
import VigilMQTT
import VigilTestSupport

#if canImport(Glibc)
import Glibc
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
        let config = try directory.write("vigil.yaml", """
            gateway:
              id: gw-test
              state_directory: \(directory.path)/state
            mqtt:
              port: \(broker.port)
              reconnect:
                initial_ms: 20
                max_ms: 200
            logging:
              level: debug
              format: journald
            metrics:
              listen: 127.0.0.1:\(metricsPort)
            pipeline:
              summary_interval_seconds: 1
            """)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extraEnvironment) { $1 }
        let child = try ChildProcess(
            builtProduct("vigil"), ["run", "--config", config], environment: environment,
            stdoutPath: directory.file("agent.out"), stderrPath: directory.file("agent.log"))
        return RunningAgent(child: child, directory: directory, metricsPort: metricsPort)
    }

    @Test func receivesCountsLogsWithoutPayloadsAndStopsCleanlyUnderSystemd() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("agent")
        defer { dir.remove() }
        let notify = try NotifySocketListener(directory: dir)
        defer { notify.stop() }
        let agent = try startAgent(broker: broker, directory: dir, extraEnvironment: [
            "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000",
        ])
        #expect(await eventually { notify.messages.contains("READY=1") })
        #expect(await eventually { agent.log.contains("connected to the broker") })

        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "sensor-sim"), logger: .init(label: "t"))
        try await sensor.start()
        #expect(await eventually { sensor.connectionState.isConnected })
        // A recognisable "reading" that must never appear in a log line.
        let secretReading = Array("SPO2=87;HR=131".utf8)
        for _ in 0..<5 { try await sensor.publish(topic: "vigil/v1/dev-a/up", payload: secretReading) }
        for _ in 0..<3 { try await sensor.publish(topic: "vigil/v1/dev-b/up", payload: [1, 2, 3, 4]) }
        try await sensor.publish(topic: "vigil/v1/dev-a/status", payload: Array("online".utf8))
        try await sensor.publish(topic: "vigil/v1/not a device/up", payload: [0])
        await sensor.shutdown()

        #expect(await eventually {
            let metrics = try? httpGet(port: agent.metricsPort, path: "/metrics").body
            return metrics?.contains(#"vigil_ingest_messages_total{device="dev-b",kind="up"} 3"#) == true
        })
        let metrics = try httpGet(port: agent.metricsPort, path: "/metrics").body
        #expect(metrics.contains(#"vigil_ingest_messages_total{device="dev-a",kind="up"} 5"#))
        #expect(metrics.contains(#"vigil_ingest_bytes_total{device="dev-a",kind="up"} 70"#))
        #expect(metrics.contains(#"vigil_ingest_messages_total{device="dev-a",kind="status"} 1"#))
        #expect(metrics.contains("vigil_mqtt_connected 1"))
        #expect(try httpGet(port: agent.metricsPort, path: "/other").status == 404)

        #expect(await eventually { notify.messages.contains("WATCHDOG=1") })
        #expect(await eventually { agent.log.contains("device=dev-b") && agent.log.contains("messages=3") })
        agent.child.terminate()
        #expect(await agent.child.waitAsync(timeout: .seconds(30)) == 0)
        #expect(notify.messages.contains("STOPPING=1"))

        let log = agent.log
        #expect(log.contains("<6>vigil: received bytes=70 device=dev-a kind=up messages=5"))
        #expect(log.contains("<7>vigil: message bytes=14 device=dev-a kind=up"))
        #expect(log.contains("stopped cleanly"))
        #expect(!log.contains("SPO2") && !log.contains("131"))
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
