import Foundation
import Testing
import VigilTestSupport
@testable import VigilAgent

@Suite struct ConfigurationTests {
    @Test func theShippedExampleIsValidAndDocumentsEveryDefault() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let secret = try dir.write("mqtt-password", "s3cret\n")
        let example = repositoryRoot().appendingPathComponent("config/vigil.yaml").path
        let configuration = try VigilConfiguration.load(path: example, environment: ["VIGIL_MQTT_PASSWORD_FILE": secret])
        #expect(configuration.gateway.id == "gw-0001")
        #expect(configuration.mqtt.password == "s3cret")
        #expect(configuration.mqtt.username == "vigil-agent")
        #expect(configuration.mqtt.subscriptions.map(\.filter) == [
            "vigil/v1/+/up", "vigil/v1/+/status", "vigil/v1/_gateway/gw-0001/alert-ack", "vigil/v1/_gateway/gw-0001/patient-settings",
        ])
        #expect(configuration.metrics == .tcp(host: "127.0.0.1", port: 9464))
        #expect(!configuration.mqtt.cleanSession)

        // An empty file gives the same values: the example really shows the defaults.
        let minimal = try VigilConfiguration.parse(
            yaml: "gateway:\n  id: gw-0001\nmqtt:\n  client_id: vigil-gw-0001\n  username: vigil-agent\n", path: "min.yaml")
        #expect(minimal.mqtt.port == configuration.mqtt.port)
        #expect(minimal.mqtt.keepaliveSeconds == configuration.mqtt.keepaliveSeconds)
        #expect(minimal.mqtt.reconnect == configuration.mqtt.reconnect)
        #expect(minimal.mqtt.inboxCapacity == configuration.mqtt.inboxCapacity)
        #expect(minimal.logLevel == configuration.logLevel && minimal.logFormat == configuration.logFormat)
        #expect(minimal.pipeline == configuration.pipeline)
        #expect(minimal.models == configuration.models)
        #expect(minimal.store == configuration.store)
        #expect(minimal.gateway.stateDirectory == configuration.gateway.stateDirectory)
        #expect(minimal.controlSocket == configuration.controlSocket)
        #expect(minimal.broker == configuration.broker)
        #expect(configuration.controlSocket == "/run/vigil/control.sock")
        #expect(configuration.broker.pidFile == "/run/mosquitto/vigil.pid")
    }

    @Test func controlSocketAndBrokerFilesCanBeTurnedOffOrRejected() throws {
        let off = try VigilConfiguration.parse(
            yaml: "control:\n  socket: \"off\"\nbroker:\n  pid_file: \"off\"\n  device_ca_file: \"off\"\n", path: "off.yaml")
        #expect(off.controlSocket == nil)
        #expect(off.broker.pidFile == nil)
        #expect(off.broker.deviceCAFile == nil)
        let error = try #require(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(yaml: "control:\n  socket: relative.sock\nbroker:\n  device_port: 0\n", path: "bad.yaml")
        }
        #expect("\(error)".contains("control.socket: expected an absolute path or off, got \"relative.sock\""))
        #expect("\(error)".contains("broker.device_port: expected an integer from 1 to 65535"))
    }

    @Test func thePatientIdentifierSystemIsReadAndMustBeAURI() throws {
        let base = "uplink:\n  fhir:\n    base_url: https://fhir.hospital.example/r4\n"
        let set = try VigilConfiguration.parse(yaml: base + "    patient_identifier_system: https://hospital.example/mrn\n", path: "p.yaml")
        #expect(set.uplink?.patientIdentifierSystem == "https://hospital.example/mrn")
        #expect(try VigilConfiguration.parse(yaml: base, path: "p.yaml").uplink?.patientIdentifierSystem == nil)
        let error = try #require(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(yaml: base + "    patient_identifier_system: mrn|x\n", path: "p.yaml")
        }
        #expect("\(error)".contains("uplink.fhir.patient_identifier_system: expected a URI"))
    }

    @Test func alertRecipientsAreAListOfReferences() throws {
        let base = "uplink:\n  fhir:\n    base_url: https://fhir.hospital.example/r4\n"
        let set = try VigilConfiguration.parse(yaml: base + "    alert_recipients: [CareTeam/rpm-north, \"Organization?identifier=https://h.example|rpm\"]\n", path: "p.yaml")
        #expect(set.uplink?.alertRecipients == ["CareTeam/rpm-north", "Organization?identifier=https://h.example|rpm"])
        let environment = try VigilConfiguration.parse(yaml: base, path: "p.yaml", environment: ["VIGIL_UPLINK_FHIR_ALERT_RECIPIENTS": "CareTeam/a, CareTeam/b"])
        #expect(environment.uplink?.alertRecipients == ["CareTeam/a", "CareTeam/b"])
        #expect(try VigilConfiguration.parse(yaml: base, path: "p.yaml").uplink?.alertRecipients == [])
        let error = try #require(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(yaml: base + "    alert_recipients: [nurses]\n", path: "p.yaml")
        }
        #expect("\(error)".contains("uplink.fhir.alert_recipients: expected references such as CareTeam/"))
    }

    @Test func theUpstreamMQTTTakesTheNodesOfACluster() throws {
        let base = "uplink:\n  mqtt:\n    topic_prefix: up\n"
        let cluster = try VigilConfiguration.parse(yaml: base + "    brokers: [\"127.0.0.1:1884\", \"localhost:1885\", \"127.0.0.1:1886\"]\n", path: "p.yaml")
        let broker = try #require(cluster.upstreamMQTT?.broker)
        #expect(broker.endpoints.map { "\($0.host):\($0.port)" } == ["127.0.0.1:1884", "localhost:1885", "127.0.0.1:1886"])
        for (yaml, problem) in [("    brokers: [\"127.0.0.1\"]\n", "expected host:port items"),
                                ("    host: 127.0.0.1\n    brokers: [\"127.0.0.1:1\"]\n", "either host (and port) or brokers"),
                                ("    brokers: [\"iot.hospital.example:8883\"]\n", "expected uplink.mqtt.tls")] {
            let error = try #require(throws: ConfigurationError.self) { try VigilConfiguration.parse(yaml: base + yaml, path: "p.yaml") }
            #expect("\(error)".contains(problem), "\(error)")
        }
    }

    @Test func minuteGranularityTurnsOnRollups() throws {
        let base = "uplink:\n  fhir:\n    base_url: https://fhir.hospital.example/r4\n"
        let minute = try VigilConfiguration.parse(yaml: base + "    granularity: minute\n", path: "p.yaml")
        #expect(minute.uplink?.fhirOptions.granularity == .minute && minute.scoring.minuteRollups)
        let reading = try VigilConfiguration.parse(yaml: base, path: "p.yaml")
        #expect(reading.uplink?.granularity == .reading && !reading.scoring.minuteRollups)
        let error = try #require(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(yaml: base + "    granularity: hourly\n", path: "p.yaml")
        }
        #expect("\(error)".contains("uplink.fhir.granularity: expected one of reading, minute"))
    }

    @Test func everyProblemIsReportedWithFileLineKeyAndExpectation() throws {
        let yaml = """
            gateway:
              id: "bad id!"
            mqtt:
              port: 70000
              keepalive_seconds: soon
              prot: 3
            logging:
              level: loud
            metrics:
              listen: 0.0.0.0:9464
            models:
              drift: maybe
            """
        let error = try #require(throws: ConfigurationError.self) { try VigilConfiguration.parse(yaml: yaml, path: "v.yaml") }
        let text = error.issues.map(\.description)
        #expect(text.contains("v.yaml:2: gateway.id: expected 1 to 32 of A-Z a-z 0-9 _ -, got \"bad id!\""))
        #expect(text.contains("v.yaml:4: mqtt.port: expected an integer from 1 to 65535, got \"70000\""))
        #expect(text.contains("v.yaml:5: mqtt.keepalive_seconds: expected an integer from 5 to 3600, got \"soon\""))
        #expect(text.contains { $0.hasPrefix("v.yaml:6: mqtt.prot: unknown setting (known here:") && $0.contains("port") })
        #expect(text.contains("v.yaml:8: logging.level: expected one of trace, debug, info, notice, warning, error, critical, got \"loud\""))
        #expect(text.contains { $0.hasPrefix("v.yaml:10: metrics.listen: expected a loopback address") })
        #expect(text.contains("v.yaml:12: models.drift: expected true or false, got \"maybe\""))
        #expect(error.issues.count == 7)
    }

    @Test func environmentOverridesTheFileAndIsNamedInErrors() throws {
        let yaml = "mqtt:\n  port: 1883\n  host: broker.local\n"
        let overridden = try VigilConfiguration.parse(yaml: yaml, path: "v.yaml", environment: ["VIGIL_MQTT_PORT": "2883"])
        #expect(overridden.mqtt.port == 2883)
        #expect(overridden.mqtt.host == "broker.local")

        let error = try #require(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(yaml: yaml, path: "v.yaml", environment: ["VIGIL_MQTT_PORT": "many"])
        }
        #expect(error.issues.map(\.description) == ["environment VIGIL_MQTT_PORT: mqtt.port: expected an integer from 1 to 65535, got \"many\""])
        #expect(ConfigurationReader.variable(for: "mqtt.reconnect.max_ms") == "VIGIL_MQTT_RECONNECT_MAX_MS")
    }

    @Test func syntaxErrorsAndUnreadableFilesAreClear() throws {
        let syntax = try #require(throws: ConfigurationError.self) {
            try VigilConfiguration.parse(yaml: "gateway:\n  id: [a\n", path: "broken.yaml")
        }
        #expect(syntax.issues.count == 1)
        #expect(syntax.issues[0].description.hasPrefix("broken.yaml:3: (syntax): YAML syntax error:"))

        let missing = try #require(throws: ConfigurationError.self) { try VigilConfiguration.load(path: "/nonexistent/vigil.yaml") }
        #expect(missing.issues.map(\.description) == ["/nonexistent/vigil.yaml: (file): cannot read the file: no such file"])

        let notAMapping = try #require(throws: ConfigurationError.self) { try VigilConfiguration.parse(yaml: "- a\n- b\n", path: "list.yaml") }
        #expect(notAMapping.issues[0].key == "(document)")
    }

    @Test func tlsAndSecretFilesAreCheckedAtLoad() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let ca = try dir.write("ca.pem", "-----BEGIN CERTIFICATE-----\n")
        let empty = try dir.write("empty-password", "\n")
        let yaml = """
            mqtt:
              password_file: \(empty)
              tls:
                ca_file: \(ca)
                cert_file: \(dir.file("absent.pem"))
            """
        let error = try #require(throws: ConfigurationError.self) { try VigilConfiguration.parse(yaml: yaml, path: "t.yaml") }
        let text = error.issues.map(\.description)
        #expect(text.contains("t.yaml:2: mqtt.password_file: file \"\(empty)\" is empty"))
        #expect(text.contains("t.yaml:5: mqtt.tls.cert_file: file \"\(dir.file("absent.pem"))\" does not exist or is not readable"))
        #expect(text.contains("t.yaml:5: mqtt.tls.cert_file: a client certificate needs both cert_file and key_file"))

        let good = try VigilConfiguration.parse(yaml: "mqtt:\n  tls:\n    ca_file: \(ca)\n", path: "t.yaml")
        #expect(good.mqtt.tls?.caFile == ca)
    }

    @Test(arguments: [
        ("127.0.0.1:9464", VigilConfiguration.MetricsListen.tcp(host: "127.0.0.1", port: 9464)),
        ("[::1]:9000", .tcp(host: "::1", port: 9000)),
        ("unix:/run/vigil/metrics.sock", .unix(path: "/run/vigil/metrics.sock")),
        ("off", .off),
    ])
    func metricsListenForms(text: String, expected: VigilConfiguration.MetricsListen) throws {
        let configuration = try VigilConfiguration.parse(yaml: "metrics:\n  listen: \"\(text)\"\n", path: "m.yaml")
        #expect(configuration.metrics == expected)
    }

    @Test func theSummaryNeverShowsThePassword() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let secret = try dir.write("pw", "hunter2-very-secret")
        let configuration = try VigilConfiguration.parse(yaml: "mqtt:\n  password_file: \(secret)\n", path: "s.yaml")
        #expect(configuration.mqtt.password == "hunter2-very-secret")
        #expect(!configuration.summary.contains { $0.1.contains("hunter2") })
    }
}
