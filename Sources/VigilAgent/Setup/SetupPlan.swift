import Foundation

/// What `vigil setup` writes, from the technician's answers: the configuration file and the
/// unit drop-in that lets the hardened service (IPAddressDeny=any) reach the hospital. Pure: the
/// command resolves names, tests the connection and writes the files.
public struct SetupPlan: Equatable, Sendable {
    public enum Endpoint: Equatable, Sendable {
        case fhir(baseURL: String)
        case mqtt(brokers: [String])
    }

    public struct FHIRAuth: Equatable, Sendable {
        public var tokenFile: String?
        public var tokenURL: String?
        public var clientID: String?
        public var clientSecretFile: String?
        public var scope: String?
        public init(tokenFile: String? = nil, tokenURL: String? = nil, clientID: String? = nil, clientSecretFile: String? = nil,
                    scope: String? = nil) {
            self.tokenFile = tokenFile
            self.tokenURL = tokenURL
            self.clientID = clientID
            self.clientSecretFile = clientSecretFile
            self.scope = scope
        }
    }

    public var gatewayID: String
    public var endpoint: Endpoint
    public var fhirAuth = FHIRAuth()
    public var caFile: String?
    public var patientIdentifierSystem: String?
    public var mqttUsername: String?
    public var mqttPasswordFile: String?
    public var mqttTopicPrefix: String?
    /// The local broker's password file, ACL and pid file (Debian's mosquitto with the package's drop-in).
    public var brokerPidFile = "/run/mosquitto/mosquitto.pid"
    public var modelsDirectory = "/usr/share/vigil/models"
    /// The agent's own password on the local broker (the package's postinst makes it).
    public var localBrokerPasswordFile = "/etc/vigil/mqtt-password"
    public var clock = "ntp"

    public init(gatewayID: String, endpoint: Endpoint) {
        self.gatewayID = gatewayID
        self.endpoint = endpoint
    }

    /// Host names the agent connects to upstream: the FHIR server, its token endpoint, or the brokers.
    public var upstreamHosts: [String] {
        var hosts: [String] = []
        switch endpoint {
        case .fhir(let url): if let host = Self.host(ofURL: url) { hosts.append(host) }
        case .mqtt(let brokers): hosts += brokers.compactMap { Self.splitHostPort($0)?.host }
        }
        if let token = fhirAuth.tokenURL, let host = Self.host(ofURL: token) { hosts.append(host) }
        var seen = Set<String>()
        return hosts.filter { seen.insert($0).inserted }
    }

    /// The configuration file: only what setup decided; every other key keeps its default
    /// (`config/vigil.yaml` in the documentation lists them). Strings are YAML double-quoted.
    public var configurationText: String {
        var lines = ["# Written by `vigil setup`; `vigil config check` validates changes. Every other key has its",
                     "# default (/usr/share/doc/vigil/examples/vigil.yaml lists them).",
                     "gateway:", "  id: \(q(gatewayID))", "  clock: \(clock)",
                     "store:", "  key_file: /etc/vigil/store.keys",
                     "mqtt:", "  client_id: \(q("vigil-" + gatewayID))", "  username: vigil-agent", "  password_file: \(q(localBrokerPasswordFile))",
                     "broker:", "  password_file: /etc/mosquitto/vigil/passwd", "  acl_file: /etc/mosquitto/vigil/acl",
                     "  pid_file: \(q(brokerPidFile))",
                     "models:", "  directory: \(q(modelsDirectory))",
                     "uplink:"]
        switch endpoint {
        case .fhir(let url):
            lines += ["  fhir:", "    base_url: \(q(url))"]
            if let system = patientIdentifierSystem { lines.append("    patient_identifier_system: \(q(system))") }
            if let file = fhirAuth.tokenFile { lines.append("    token_file: \(q(file))") }
            if let tokenURL = fhirAuth.tokenURL {
                lines += ["    oauth2:", "      token_url: \(q(tokenURL))", "      client_id: \(q(fhirAuth.clientID ?? gatewayID))"]
                if let secret = fhirAuth.clientSecretFile { lines.append("      client_secret_file: \(q(secret))") }
                if let scope = fhirAuth.scope { lines.append("      scope: \(q(scope))") }
            }
            if let caFile { lines.append("    ca_file: \(q(caFile))") }
        case .mqtt(let brokers):
            lines += ["  mqtt:", "    brokers: [\(brokers.map(q).joined(separator: ", "))]"]
            if let prefix = mqttTopicPrefix { lines.append("    topic_prefix: \(q(prefix))") }
            if let user = mqttUsername { lines.append("    username: \(q(user))") }
            if let file = mqttPasswordFile { lines.append("    password_file: \(q(file))") }
            if let caFile { lines += ["    tls:", "      ca_file: \(q(caFile))"] }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The unit drop-in: the unit denies all IP but localhost; this allows the upstream's
    /// addresses and the resolvers' (names are resolved by the agent itself), as resolved at setup.
    public static func dropIn(addresses: [String], resolvers: [String], hosts: [String], writtenAt: String) -> String {
        var allowed: [String] = []
        for address in addresses + resolvers where !allowed.contains(address) { allowed.append(address) }
        return """
            # Written by `vigil setup` at \(writtenAt) for \(hosts.joined(separator: ", ")).
            # The unit allows only localhost (IPAddressDeny=any); these are the hospital endpoint's
            # addresses and the DNS resolvers'. Run `vigil setup` again if they change.
            [Service]
            IPAddressAllow=\(allowed.joined(separator: " "))

            """
    }

    /// Non-loopback `nameserver` lines of resolv.conf (a loopback resolver is already allowed).
    public static func resolvers(resolvConf: String) -> [String] {
        resolvConf.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { return nil }
            let address = String(words[1])
            return address.hasPrefix("127.") || address == "::1" ? nil : address
        }
    }

    public static func host(ofURL url: String) -> String? {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else { return nil }
        return host
    }

    /// `host:port`, `[v6]:port`.
    public static func splitHostPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    private func q(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 { out += String(format: "\\x%02x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
