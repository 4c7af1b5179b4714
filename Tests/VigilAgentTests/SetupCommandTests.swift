import Foundation
import Testing
import VigilAgent
import VigilTestSupport

/// `vigil setup` against the real receiving endpoint: the connection test (metadata, a no-op
/// transaction with the token), then the configuration and the unit drop-in; a refused token
/// writes nothing.
@Suite struct SetupCommandTests {
    @Test func aWorkingEndpointIsTestedAndTheConfigurationAndDropInAreWritten() async throws {
        let dir = try TemporaryDirectory("setup")
        defer { dir.remove() }
        let token = try dir.write("token", "setup-token\n")
        let endpoint = try FHIREndpoint(directory: dir, arguments: ["--token-file", token])
        defer { endpoint.stop() }
        let config = dir.file("vigil.yaml")
        let run = try await runProcess(builtProduct("vigil"), [
            "setup", "--yes", "--no-start", "--gateway-id", "gw-setup", "--fhir-url", endpoint.baseURL, "--token-file", token,
            "--config", config, "--drop-in-directory", dir.file("vigil.service.d"), "--allow", "10.20.0.0/16",
            "--local-broker-password-file", try dir.write("mqtt-password", "secret\n"),
        ])
        #expect(run.status == 0, "\(run.stdout) \(run.stderr)")
        #expect(run.stdout.contains("ok   resolve 127.0.0.1: 127.0.0.1"))
        #expect(run.stdout.contains("ok   GET metadata: FHIR 4.0.1"), "\(run.stdout)")
        #expect(run.stdout.contains("ok   write access (an empty transaction): HTTP 200"), "\(run.stdout)")
        let configuration = try VigilConfiguration.load(path: config)
        #expect(configuration.gateway.id == "gw-setup" && configuration.uplink?.baseURL == endpoint.baseURL)
        #expect(configuration.models.directory == "/usr/share/vigil/models")
        #expect(try FileManager.default.attributesOfItem(atPath: config)[.posixPermissions] as? Int == 0o640)
        let dropIn = try String(contentsOfFile: dir.file("vigil.service.d/endpoint.conf"), encoding: .utf8)
        let allow = try #require(dropIn.split(separator: "\n").first { $0.hasPrefix("IPAddressAllow=") })
        #expect(allow.hasPrefix("IPAddressAllow=127.0.0.1 10.20.0.0/16"), "\(dropIn)")
        #expect(dropIn.contains("[Service]"))
        #expect(try endpoint.stats()["by_type"] as? [String: Int] == [:], "the probe created nothing")
    }

    @Test func aRefusedTokenWritesNothing() async throws {
        let dir = try TemporaryDirectory("setup-refused")
        defer { dir.remove() }
        let token = try dir.write("token", "the-right-one\n")
        let wrong = try dir.write("wrong", "a-wrong-one\n")
        let endpoint = try FHIREndpoint(directory: dir, arguments: ["--token-file", token])
        defer { endpoint.stop() }
        let config = dir.file("vigil.yaml")
        let run = try await runProcess(builtProduct("vigil"), [
            "setup", "--yes", "--no-start", "--gateway-id", "gw-setup", "--fhir-url", endpoint.baseURL, "--token-file", wrong,
            "--config", config, "--drop-in-directory", dir.file("vigil.service.d"),
            "--local-broker-password-file", try dir.write("mqtt-password", "secret\n"),
        ])
        #expect(run.status == 1)
        #expect(run.stdout.contains("FAIL write access (an empty transaction): HTTP 401"), "\(run.stdout)")
        #expect(run.stderr.contains("nothing written"))
        #expect(!FileManager.default.fileExists(atPath: config) && !FileManager.default.fileExists(atPath: dir.file("vigil.service.d")))
    }

    @Test func aMissingAnswerWithoutATerminalIsAClearError() async throws {
        let dir = try TemporaryDirectory("setup-missing")
        defer { dir.remove() }
        let run = try await runProcess(builtProduct("vigil"), ["setup", "--yes", "--config", dir.file("vigil.yaml")])
        #expect(run.status == 78)
        #expect(run.stderr.contains("missing answer: Gateway id"))
    }

    @Test func thePlanQuotesItsStringsAndAllowsResolversButNotLoopback() throws {
        var plan = SetupPlan(gatewayID: "gw-1", endpoint: .mqtt(brokers: ["iot-1.example:8883", "[2001:db8::1]:8883"]))
        plan.mqttUsername = #"gw "one""#
        #expect(plan.upstreamHosts == ["iot-1.example", "2001:db8::1"])
        #expect(plan.configurationText.contains(#"    username: "gw \"one\"""#))
        #expect(SetupPlan.resolvers(resolvConf: "# c\nnameserver 127.0.0.53\nnameserver 192.168.1.1\nnameserver ::1\nsearch home\n") == ["192.168.1.1"])
        let dropIn = SetupPlan.dropIn(addresses: ["198.51.100.7", "198.51.100.7"], resolvers: ["192.168.1.1"], hosts: ["x"], writtenAt: "t")
        #expect(dropIn.contains("IPAddressAllow=198.51.100.7 192.168.1.1\n"))
    }
}
