import ArgumentParser
import Foundation
import Logging
import VigilAgent
import VigilMQTT
import VigilUplink

/// The technician's first run on an installed gateway: answers (flags, or prompts on a
/// terminal), a real connection test, then the configuration, the unit drop-in and the start.
struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Configure an installed gateway for its hospital, test the connection and start the service.",
        discussion: """
            Writes the configuration file (mode 0640, group vigil) and a drop-in for vigil.service \
            that allows the hospital endpoint's addresses and the DNS resolvers' (the unit denies \
            every other address), after testing the endpoint with the same code the agent uses: \
            name resolution, TLS, the token, and a no-op transaction (FHIR) or a CONNECT (MQTT). \
            Nothing is written when the test fails, unless --allow-unreachable. Run as root. \
            Without a terminal (or with --yes) every answer must come from the flags.

            Example: vigil setup --yes --gateway-id gw-0001 --fhir-url https://fhir.hospital.example/r4 \
            --token-file /etc/vigil/fhir-token
            """)

    @Option(help: "This gateway's id (1-32 of A-Z a-z 0-9 _ -).") var gatewayId: String?
    @Option(help: ArgumentHelp("The hospital's FHIR R4 base URL.", valueName: "url")) var fhirUrl: String?
    @Option(help: ArgumentHelp("Or a hospital MQTT broker (repeatable for a cluster's nodes).", valueName: "host:port"))
    var mqttBroker: [String] = []
    @Option(help: "FHIR: a file holding a bearer token.") var tokenFile: String?
    @Option(help: "FHIR: an OAuth 2.0 token endpoint (client credentials).") var oauth2TokenUrl: String?
    @Option(help: "FHIR: the OAuth 2.0 client id (default: the gateway id).") var clientId: String?
    @Option(help: "FHIR: a file holding the OAuth 2.0 client secret.") var clientSecretFile: String?
    @Option(help: "FHIR: the OAuth 2.0 scope.") var scope: String?
    @Option(help: "FHIR: the identifier system patients are referenced by (conditional references).")
    var patientIdentifierSystem: String?
    @Option(help: "MQTT: the gateway's username on the hospital broker.") var mqttUsername: String?
    @Option(help: "MQTT: a file holding that password.") var mqttPasswordFile: String?
    @Option(help: "MQTT: the topic prefix upstream.") var mqttTopicPrefix: String?
    @Option(help: "A CA bundle (PEM) for the endpoint's certificate instead of the system's.") var caFile: String?
    @Option(help: "ntp (no battery-backed clock: hold readings until NTP syncs) or rtc.") var clock = "ntp"
    @Option(help: "Where the configuration goes.") var config = "/etc/vigil/vigil.yaml"
    @Option(help: "The agent's password on the local broker (the package creates it).")
    var localBrokerPasswordFile = "/etc/vigil/mqtt-password"
    @Option(help: "The unit's drop-in directory.") var dropInDirectory = "/etc/systemd/system/vigil.service.d"
    @Option(help: ArgumentHelp("Another address or range the service may reach (repeatable).", valueName: "cidr"))
    var allow: [String] = []
    @Flag(help: "Never prompt: fail on a missing answer.") var yes = false
    @Flag(help: "Write the files even when the connection test fails (a hospital not reachable yet).")
    var allowUnreachable = false
    @Flag(help: "Write the files but do not (re)start the service.") var noStart = false

    mutating func run() async throws {
        let interactive = !yes && isatty(0) == 1
        let gateway = try answer(gatewayId, "Gateway id", interactive: interactive)
        var endpointURL = fhirUrl
        if endpointURL == nil && mqttBroker.isEmpty {
            endpointURL = try answer(nil, "Hospital FHIR base URL (https://...)", interactive: interactive)
        }
        var plan = SetupPlan(gatewayID: gateway, endpoint: endpointURL.map { .fhir(baseURL: $0) } ?? .mqtt(brokers: mqttBroker))
        plan.fhirAuth = .init(tokenFile: tokenFile, tokenURL: oauth2TokenUrl, clientID: clientId, clientSecretFile: clientSecretFile, scope: scope)
        plan.caFile = caFile
        plan.patientIdentifierSystem = patientIdentifierSystem
        plan.mqttUsername = mqttUsername
        plan.mqttPasswordFile = mqttPasswordFile
        plan.mqttTopicPrefix = mqttTopicPrefix
        plan.clock = clock
        plan.localBrokerPasswordFile = localBrokerPasswordFile

        // The configuration is validated exactly as the agent will read it, before anything is written.
        let candidate = config + ".setup"
        try write(plan.configurationText, to: candidate, mode: 0o640)
        defer { unlink(candidate) }
        let configuration: VigilConfiguration
        do {
            configuration = try VigilConfiguration.load(path: candidate)
        } catch {
            printError("setup: the answers do not make a valid configuration:\n\(error)")
            throw ExitCode(ExitStatus.configuration)
        }

        print("Testing the connection to the hospital:")
        var addresses: [String] = []
        var failed = false
        for host in plan.upstreamHosts {
            let found = HostResolver.addresses(of: host)
            report(!found.isEmpty, "resolve \(host)", found.isEmpty ? "no address" : found.joined(separator: " "))
            failed = failed || found.isEmpty
            addresses += found
        }
        if !failed { failed = !(await probe(configuration)) }
        if failed && !allowUnreachable {
            printError("setup: nothing written (fix the above, or pass --allow-unreachable to configure anyway)")
            throw ExitCode.failure
        }

        let resolvers = SetupPlan.resolvers(resolvConf: (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? "")
        let dropIn = SetupPlan.dropIn(addresses: addresses + allow, resolvers: resolvers, hosts: plan.upstreamHosts,
                                      writtenAt: ISO8601DateFormatter().string(from: Date()))
        try FileManager.default.createDirectory(atPath: dropInDirectory, withIntermediateDirectories: true)
        try write(dropIn, to: dropInDirectory + "/endpoint.conf", mode: 0o644)
        try write(plan.configurationText, to: config, mode: 0o640)
        print("wrote \(config) and \(dropInDirectory)/endpoint.conf (IPAddressAllow for \((addresses + allow + resolvers).count) addresses)")
        if noStart { return }
        try start()
    }

    private func answer(_ given: String?, _ question: String, interactive: Bool) throws -> String {
        if let given, !given.isEmpty { return given }
        guard interactive else {
            printError("setup: missing answer: \(question) (see vigil setup --help)")
            throw ExitCode(ExitStatus.configuration)
        }
        print("\(question): ", terminator: "")
        guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ExitCode(ExitStatus.configuration)
        }
        return line.trimmingCharacters(in: .whitespaces)
    }

    private func report(_ ok: Bool, _ what: String, _ detail: String) {
        print("  \(ok ? "ok  " : "FAIL") \(what): \(detail)")
    }

    /// The endpoint tested with the agent's own transport: TLS, token and a write.
    private func probe(_ configuration: VigilConfiguration) async -> Bool {
        if let settings = configuration.uplink {
            let transport: FHIRTransport
            do {
                transport = try FHIRTransport(.init(
                    baseURL: settings.baseURL, auth: settings.auth, caFile: settings.caFile,
                    clientCertificateFile: settings.clientCertificateFile, clientKeyFile: settings.clientKeyFile,
                    connectTimeout: .seconds(settings.connectTimeoutSeconds), requestTimeout: .seconds(settings.requestTimeoutSeconds),
                    gzip: settings.gzip))
            } catch {
                report(false, "TLS files", "\(error)")
                return false
            }
            var ok = false
            do {
                let metadata = try await transport.capabilities()
                report(metadata.status == 200, "GET metadata", FHIRTransport.describeCapabilities(metadata))
                let write = try await transport.post(FHIRTransport.emptyTransaction)
                ok = (200..<300).contains(write.status)
                report(ok, "write access (an empty transaction)",
                       ok ? "HTTP \(write.status)" : "HTTP \(write.status): \(FHIRTransport.describeRefusal(write))")
            } catch {
                report(false, "connect to \(settings.baseURL)", "\(error)")
            }
            try? await transport.shutdown()
            return ok
        }
        if let upstream = configuration.upstreamMQTT {
            let client = MQTTClient(configuration: upstream.broker, logger: Logger(label: "vigil-setup"))
            do { try await client.start() } catch {
                report(false, "MQTT connect", "\(error)")
                return false
            }
            var connected = false
            for _ in 0..<(100) {
                if client.connectionState.isConnected { connected = true; break }
                try? await Task.sleep(for: .milliseconds(100))
            }
            let state = "\(client.connectionState)"
            await client.shutdown()
            report(connected, "MQTT CONNECT (TLS, credentials)", connected ? "accepted" : state)
            return connected
        }
        return true
    }

    /// Reloads systemd, enables and (re)starts the service and waits until it is active (READY).
    private func start() throws {
        for arguments in [["daemon-reload"], ["enable", "vigil.service"], ["restart", "vigil.service"]] {
            guard Self.systemctl(arguments) == 0 else {
                printError("setup: systemctl \(arguments.joined(separator: " ")) failed")
                throw ExitCode.failure
            }
        }
        for _ in 0..<60 {
            if Self.systemctl(["is-active", "--quiet", "vigil.service"]) == 0 {
                print("vigil.service is running (READY); `vigil status` shows it")
                return
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        printError("setup: vigil.service did not become active: journalctl -u vigil says why")
        throw ExitCode.failure
    }

    static func systemctl(_ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/systemctl")
        process.arguments = arguments
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Writes the file atomically, root-owned and group vigil where that group exists.
    private func write(_ text: String, to path: String, mode: mode_t) throws {
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else {
            printError("setup: cannot write \(path) (run as root)")
            throw ExitCode.failure
        }
        chmod(temporary, mode)
        if let group = getgrnam("vigil") { chown(temporary, 0, group.pointee.gr_gid) }
        guard rename(temporary, path) == 0 else {
            printError("setup: cannot write \(path): \(String(cString: strerror(errno)))")
            throw ExitCode.failure
        }
    }
}
