import Foundation
import Testing
import VigilCore
import VigilMQTT
import VigilTestSupport

/// The shipped systemd unit and broker configuration, checked with the real tools.
@Suite struct DeploymentTests {
    let root = repositoryRoot()

    @Test func systemdUnitExposureIsAtMostTwo() async throws {
        let unit = root.appendingPathComponent("systemd/vigil.service").path
        let result = try await runProcess("/usr/bin/systemd-analyze", ["security", "--offline=yes", "--no-pager", unit])
        let line = try #require(result.stdout.split(separator: "\n").first { $0.contains("Overall exposure level") })
        // "→ Overall exposure level for vigil.service: 1.1 OK 🙂"
        let number = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        let exposure = try #require(number)
        #expect(exposure <= 2.0, "systemd-analyze: \(line)")
        let text = try String(contentsOf: root.appendingPathComponent("systemd/vigil.service"), encoding: .utf8)
        for directive in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "StateDirectory=vigil", "User=vigil",
                          "LimitCORE=0", "CapabilityBoundingSet=\n", "RestartPreventExitStatus=78"] {
            #expect(text.contains(directive), "missing \(directive)")
        }
    }

    /// The shipped broker config and ACL, run by a real mosquitto with only ports and paths
    /// changed: sensors need TLS and a password, and each may touch only its own topics.
    @Test func brokerConfigEnforcesTLSPasswordsAndPerDeviceACL() async throws {
        let dir = try TemporaryDirectory("broker")
        let shipped = try await ShippedBroker(in: dir, users: ["vigil-agent": "agent-pw", "dev-a": "a-pw", "dev-b": "b-pw"])
        let certs = shipped.certificates
        let (plainPort, tlsPort) = (shipped.plainPort, shipped.tlsPort)

        let fast = VigilCore.Backoff(initialMilliseconds: 20, maximumMilliseconds: 100)
        func client(_ id: String, user: String?, password: String?, tls: Bool, subscriptions: [String] = []) async throws -> MQTTClient {
            let client = MQTTClient(configuration: .init(
                host: "127.0.0.1", port: tls ? tlsPort : plainPort, clientID: id, username: user, password: password,
                tls: tls ? .init(caFile: certs.caFile) : nil, subscriptions: subscriptions.map { .init($0) }, reconnect: fast),
                logger: .init(label: "t"))
            try await client.start()
            return client
        }

        let agent = try await client("agent", user: "vigil-agent", password: "agent-pw", tls: false, subscriptions: ["vigil/v1/+/up"])
        let deviceA = try await client("dev-a", user: "dev-a", password: "a-pw", tls: true)
        let deviceB = try await client("dev-b", user: "dev-b", password: "b-pw", tls: true, subscriptions: ["vigil/v1/+/config"])
        for c in [agent, deviceA, deviceB] { #expect(await eventually { c.connectionState.isConnected }) }

        // dev-a may write its own readings; its attempt to write as dev-b is dropped by the ACL.
        try await deviceA.publish(topic: "vigil/v1/dev-b/up", payload: Array("forged".utf8))
        try await deviceA.publish(topic: "vigil/v1/dev-a/up", payload: Array("genuine".utf8))
        let iterator = agent.messages.makeAsyncIterator()
        let first = await iterator.next()
        #expect(first?.topic == "vigil/v1/dev-a/up")
        #expect(first.map { String(decoding: $0.payload, as: UTF8.self) } == "genuine")

        // dev-b subscribed to every device's config but receives only its own.
        try await agent.publish(topic: "vigil/v1/dev-a/config", payload: Array("for-a".utf8), retain: true)
        try await agent.publish(topic: "vigil/v1/dev-b/config", payload: Array("for-b".utf8), retain: true)
        let configIterator = deviceB.messages.makeAsyncIterator()
        let onlyOwn = await configIterator.next()
        #expect(onlyOwn?.topic == "vigil/v1/dev-b/config")
        #expect(deviceB.inboxDepth == 0)

        // No anonymous access, and no plain-text password guessing on the sensor listener.
        let anonymous = try await client("anon", user: nil, password: nil, tls: false)
        #expect(await eventually {
            if case .disconnected(let reason, _) = anonymous.connectionState { return reason.needsOperator }
            return false
        })
        let wrongCA = MQTTClient(configuration: .init(
            host: "127.0.0.1", port: tlsPort, clientID: "x", username: "dev-a", password: "a-pw",
            tls: .init(caFile: root.appendingPathComponent("Package.swift").path), reconnect: fast), logger: .init(label: "t"))
        try? await wrongCA.start()
        try await Task.sleep(for: .milliseconds(300))
        #expect(!wrongCA.connectionState.isConnected)
        for c in [agent, deviceA, deviceB, anonymous, wrongCA] { await c.shutdown() }
    }
}
