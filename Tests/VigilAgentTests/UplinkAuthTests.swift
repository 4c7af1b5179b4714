import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// The uplink authenticating with OAuth 2.0 client credentials and with SMART Backend Services
/// (`private_key_jwt`, ES384 and RS384) against the receiving endpoint's token endpoint, which
/// verifies the assertion with PyJWT; tokens live 2 s, so the agent must refresh them.
@Suite(.serialized) struct UplinkAuthTests {
    enum Method: String, CaseIterable { case clientSecret, es384, rs384, wrongSecret }

    @Test(arguments: Method.allCases)
    func readingsArriveWithEachAuthenticationMethodAndTokensAreRefreshed(method: Method) async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("uplink-auth")
        defer { dir.remove() }
        let secret = try dir.write("client-secret", "s3cr3t-\(UUID().uuidString)\n")
        var endpointArguments = ["--client-id", "gw-auth", "--token-lifetime", "2"]
        var authSection: String
        switch method {
        case .clientSecret, .wrongSecret:
            endpointArguments += ["--client-secret-file", secret]
            let agentSecret = method == .wrongSecret ? try dir.write("wrong-secret", "not-it\n") : secret
            authSection = """
                    oauth2:
                      token_url: TOKEN_URL
                      client_id: gw-auth
                      client_secret_file: \(agentSecret)
                      scope: system/*.write
                """
        case .es384, .rs384:
            let key = dir.file("gateway-key.pem"), publicKey = dir.file("gateway-public.pem")
            let generate = method == .es384
                ? ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", key]
                : ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]
            #expect(try await runProcess("/usr/bin/openssl", generate).status == 0)
            #expect(try await runProcess("/usr/bin/openssl", ["pkey", "-in", key, "-pubout", "-out", publicKey]).status == 0)
            endpointArguments += ["--client-public-key", publicKey]
            authSection = """
                    smart:
                      token_url: TOKEN_URL
                      client_id: gw-auth
                      private_key_file: \(key)
                      key_id: gateway-key-1
                      algorithm: \(method == .es384 ? "ES384" : "RS384")
                """
        }
        let endpoint = try FHIREndpoint(directory: dir, arguments: endpointArguments)
        defer { endpoint.stop() }
        authSection = authSection.replacingOccurrences(of: "TOKEN_URL", with: endpoint.tokenURL)
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-auth", brokerPort: broker.port, metricsPort: metricsPort,
            sections: """
                uplink:
                  retry:
                    initial_ms: 50
                    max_ms: 300
                  fhir:
                    base_url: \(endpoint.baseURL)
                \(authSection)

                """)
        let keyBytes = Array(repeating: UInt8(0x71), count: 32)
        try DeviceRegistry.write(.init(device: "dev-t", patient: "Patient/p-t", kind: "vitals-patch", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        let key = DeviceKey(device: DeviceID("dev-t")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "dev-t"), logger: .init(label: "t"))
        try await sensor.start()
        func publish(_ frame: Int) async throws {
            try await sensor.publish(topic: "vigil/v1/dev-t/up", payload: FrameEncoder.readings(
                key: key, boot: 1, seq: UInt32(frame), t0: 1_795_350_000_000 + UInt64(frame) * 1_000,
                records: [.init(dt: 0, values: [(.pulseRate, 720 + Int16(frame % 5)), (.spo2, 970)])], flags: .clockSynced))
        }
        func arrived(_ frame: Int) -> Bool {
            ((try? endpoint.identifiers(type: "Observation")) ?? []).contains("urn:vigil:gw-auth:obs:dev-t:1:\(frame):spo2")
        }
        try await publish(0)
        if method == .wrongSecret {
            let log = { (try? String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)) ?? "" }
            #expect(await eventually { log().contains("token request to \(endpoint.tokenURL) failed: HTTP 401") }, "\(log().suffix(1_500))")
            #expect(!arrived(0), "nothing is accepted without a valid token")
            #expect((try endpoint.stats()["token_refusals"] as? Int ?? 0) >= 1)
        } else {
            #expect(await eventually(timeout: .seconds(30)) { arrived(0) })
            // The token lives 2 s: a reading 3 s later needs a fresh one.
            try await Task.sleep(for: .seconds(3))
            try await publish(1)
            #expect(await eventually(timeout: .seconds(30)) { arrived(1) })
            let stats = try endpoint.stats()
            #expect((stats["token_requests"] as? Int ?? 0) >= 2, "the token was refreshed: \(stats)")
            #expect(stats["token_refusals"] as? Int == 0 && stats["invalid"] as? Int == 0)
        }
        await sensor.shutdown()
    }
}
