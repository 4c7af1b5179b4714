import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// SIGTERM while the uplink cannot reach the hospital: the agent stops within its shutdown
/// bound (well inside the unit's TimeoutStopSec), exits 0 and seals the store, instead of
/// waiting out a backoff of minutes (FHIR) or PUBACKs that only a reconnect would bring (MQTT).
@Suite struct ShutdownTests {
    /// A port nobody listens on: the hospital is down.
    func deadPort() throws -> Int { try freeLoopbackPort() }

    func runAgent(uplink: String, name: String, waitFor stuck: @escaping @Sendable (String) -> Bool) async throws {
        let local = try MosquittoBroker()
        let dir = try TemporaryDirectory(name)
        defer { dir.remove() }
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(in: dir, gateway: "gw-stop", brokerPort: local.port, metricsPort: metricsPort,
                                          sections: uplink)
        let keyBytes = Array(repeating: UInt8(0x4D), count: 32)
        try DeviceRegistry.write(.init(device: "dev-s", patient: "Patient/p-s", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        let log = { (try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? "" }
        #expect(await eventually { log().contains("agent ready") }, "\(log().suffix(2_000))")

        // One frame of readings, so the uplink has something to send.
        let key = DeviceKey(device: DeviceID("dev-s")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: local.port, clientID: "dev-s"), logger: .init(label: "t"))
        try await sensor.start()
        try await sensor.publish(topic: "vigil/v1/dev-s/up", payload: FrameEncoder.readings(
            key: key, boot: 1, seq: 0, t0: 1_795_350_000_000,
            records: [.init(dt: 0, values: [(.pulseRate, 720), (.spo2, 970)])], flags: .clockSynced))
        await sensor.shutdown()
        #expect(await eventually(timeout: .seconds(90)) { stuck(log()) }, "the uplink is stuck: \(log().suffix(2_000))")

        let clock = ContinuousClock()
        let start = clock.now
        agent.terminate()
        let status = await agent.waitAsync(timeout: .seconds(25))
        let took = clock.now - start
        #expect(status == 0, "exit status \(String(describing: status)) after \(took): \(log().suffix(2_000))")
        // Within the graceful part of the bound: nothing had to be cancelled (the bound itself
        // would end a stuck service, but only after its whole graceful allowance).
        #expect(took < Agent.shutdownBound.graceful, "stopped in \(took), graceful bound \(Agent.shutdownBound.graceful)")
        #expect(log().contains("stopped cleanly"), "the store was sealed: \(log().suffix(1_000))")
        let verify = try await runProcess(builtProduct("vigil"), ["store", "verify", "--config", config])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test func sigtermDuringTheLongestFHIRBackoffStopsPromptlyAndSeals() async throws {
        let port = try deadPort()
        try await runAgent(uplink: """
            uplink:
              request_timeout_seconds: 2
              retry:
                initial_ms: 300000
                max_ms: 300000
              fhir:
                base_url: http://127.0.0.1:\(port)/fhir

            """, name: "stop-fhir") { log in
            // Full jitter draws from 0 to 5 minutes: wait until a draw of at least 30 s, twice the
            // graceful bound (a shorter draw retries sooner and draws again).
            log.split(separator: "\n").contains { line in
                guard line.contains("uplink: request failed, will retry"),
                      let range = line.range(of: "retry_in_ms=") else { return false }
                return Int(line[range.upperBound...].prefix { $0.isNumber }).map { $0 >= 30_000 } ?? false
            }
        }
    }

    @Test func sigtermWhileTheUpstreamBrokerIsDownStopsPromptlyAndSeals() async throws {
        let port = try deadPort()
        try await runAgent(uplink: """
            uplink:
              mqtt:
                host: 127.0.0.1
                port: \(port)
                topic_prefix: up

            """, name: "stop-mqtt") { log in
            // The upstream client keeps failing to connect while resources wait for PUBACKs.
            log.components(separatedBy: "uplink (MQTT): could not connect to the upstream broker").count > 3
        }
    }
}
