import Foundation
import Testing
import VigilAgent
import VigilTestSupport
import VigilProvisioning

/// The firmware against the broker as shipped: TLS on the sensor listener (verified against the
/// CA), the device's own user name and password, the per-device ACL, and the agent on the
/// loopback listener with its credentials. Readings reach the store and are acknowledged.
@Suite struct FirmwareTLSTests {
    let root = repositoryRoot()

    @Test func aDeviceOverTLSWithItsCredentialsIsStoredAndAcknowledged() async throws {
        let dir = try TemporaryDirectory("firmware-tls")
        let shipped = try await ShippedBroker(in: dir, users: ["vigil-agent": "agent-pw", "dev-t": "t-pw"])
        let password = try dir.write("agent-password", "agent-pw\n")
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(in: dir, gateway: "gw-tls", brokerPort: shipped.plainPort, metricsPort: metricsPort,
                                          mqtt: ["username: vigil-agent", "password_file: \(password)"])
        let key = String(repeating: "5a", count: 32)
        try DeviceRegistry.write(.init(device: "dev-t", patient: "Patient/t", kind: "spo2-ring", key: key),
                                 to: dir.url.appendingPathComponent("state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        func device(password: String, flash: String) async throws -> [String: Any] {
            try FileManager.default.createDirectory(atPath: dir.file(flash), withIntermediateDirectories: true)
            let deviceConfig = try dir.write("\(flash).json", """
                {"device": "dev-t", "key": "\(key)",
                 "broker": {"host": "localhost", "port": \(shipped.tlsPort), "password": "\(password)", "ca_file": "\(shipped.certificates.caFile)"},
                 "settings": {"sample_interval_ms": 100, "batch_max": 4}, "state_dir": "\(dir.file(flash))", "clock_synced": true}
                """)
            let firmware = root.appendingPathComponent("firmware-protocol/micropython").path
            let result = try await runProcess("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", firmware,
                                                          root.appendingPathComponent(".venv/bin/micropython").path,
                                                          "-X", "heapsize=64K", "device.py", deviceConfig, "--seconds", "3"])
            #expect(result.status == 0, "\(result.stderr)")
            return try jsonObject(result.stdout)
        }

        let stats = try await device(password: "t-pw", flash: "flash")
        let sampled = try #require(stats["sampled"] as? Int)
        #expect(stats["connects"] as? Int == 1 && stats["connect_failures"] as? Int == 0, "\(stats)")
        #expect((stats["acked"] as? Int ?? 0) > sampled / 2, "durable acks came back over TLS: \(stats)")
        #expect(await eventually {
            (try? httpGet(port: metricsPort, path: "/metrics").body.contains(#"vigil_readings_accepted_total{device="dev-t"} \#(sampled)"#)) == true
        }, "every reading sampled over TLS was accepted")

        // A wrong password is refused by the broker: the device keeps its readings and retries.
        let refused = try await device(password: "wrong", flash: "flash-2")
        #expect(refused["connects"] as? Int == 0 && (refused["connect_failures"] as? Int ?? 0) >= 1, "\(refused)")
        #expect(refused["pending"] as? Int == refused["sampled"] as? Int)

        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        _ = shipped
    }
}
