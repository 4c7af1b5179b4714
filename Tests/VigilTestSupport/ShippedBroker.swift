import Foundation

/// The shipped `config/mosquitto/vigil.conf` and `acl`, run in a private mosquitto with only
/// paths and ports changed: a plain loopback listener for the agent, a TLS listener (a throwaway
/// test CA) for sensors, a password file and the per-device ACL.
public struct ShippedBroker: Sendable {
    public let broker: MosquittoBroker
    public let certificates: TestCertificates
    public let plainPort: Int
    public let tlsPort: Int
    /// The broker's own copies of the shipped files, which provisioning edits.
    public let passwordFile: String
    public let aclFile: String
    public let pidFile: String

    /// - Parameter users: user name → password (the agent is `vigil-agent`, a device its id).
    public init(in directory: TemporaryDirectory, users: [String: String]) async throws {
        let root = repositoryRoot()
        certificates = try await TestCertificates(in: directory)
        let passwd = try directory.write("passwd", "")
        for (user, password) in users.sorted(by: { $0.key < $1.key }) {
            try MosquittoBroker.run("/usr/bin/mosquitto_passwd", ["-b", passwd, user, password])
        }
        // The shipped ACL with a section per device in its managed block, as `vigil sensor add` writes.
        var acl = try String(contentsOf: root.appendingPathComponent("config/mosquitto/acl"), encoding: .utf8)
        let end = "# --- end of sensors ---"
        guard acl.contains(end) else { throw MosquittoBroker.BrokerError.toolFailed("config/mosquitto/acl has no sensors block") }
        let devices = users.keys.filter { !$0.hasPrefix("vigil-") }.sorted()
        let sections = devices.map { device in
            ["user \(device)"] + ["write up", "write status", "read ack", "read config", "read cmd"].map { rule in
                let parts = rule.split(separator: " ")
                return "topic \(parts[0]) vigil/v1/\(device)/\(parts[1])"
            }
        }.joined().joined(separator: "\n")
        if !sections.isEmpty { acl = acl.replacingOccurrences(of: end, with: sections + "\n" + end) }
        aclFile = try directory.write("acl", acl)
        passwordFile = passwd
        pidFile = directory.file("mosquitto.pid")
        let shippedConfig = try String(contentsOf: root.appendingPathComponent("config/mosquitto/vigil.conf"), encoding: .utf8)
        // The free ports can be taken between asking and binding (another test's listener or an
        // outgoing connection's ephemeral port): try others.
        for attempt in 1... {
            let plain = try freeLoopbackPort(), tls = try freeLoopbackPort()
            try? FileManager.default.removeItem(atPath: directory.file("mosquitto.log"))
            do {
                broker = try Self.start(shippedConfig, plainPort: plain, tlsPort: tls, passwd: passwd,
                                        aclFile: aclFile, pidFile: pidFile, certificates: certificates, in: directory)
                plainPort = plain
                tlsPort = tls
                return
            } catch MosquittoBroker.BrokerError.didNotStart(let log) where log.contains("Address already in use") && attempt < 5 {
                continue
            }
        }
        fatalError("unreachable")
    }

    private static func start(_ shipped: String, plainPort: Int, tlsPort: Int, passwd: String, aclFile: String,
                              pidFile: String, certificates: TestCertificates, in directory: TemporaryDirectory) throws -> MosquittoBroker {
        var config = shipped
        let replacements = [
            "persistence_location /var/lib/mosquitto/": "persistence_location \(directory.path)/",
            "pid_file /run/mosquitto/vigil.pid": "pid_file \(pidFile)",
            "password_file /etc/mosquitto/vigil/passwd": "password_file \(passwd)",
            "acl_file /etc/mosquitto/vigil/acl": "acl_file \(aclFile)",
            "log_dest syslog": "log_dest file \(directory.path)/mosquitto.log",
            "listener 1883 127.0.0.1": "listener \(plainPort) 127.0.0.1",
            "listener 8883": "listener \(tlsPort) 127.0.0.1",
            "cafile /etc/mosquitto/vigil/tls/ca.pem": "cafile \(certificates.caFile)",
            "certfile /etc/mosquitto/vigil/tls/broker.pem": "certfile \(certificates.serverCertFile)",
            "keyfile /etc/mosquitto/vigil/tls/broker.key": "keyfile \(certificates.serverKeyFile)",
        ]
        for (shipped, local) in replacements {
            guard config.contains(shipped) else { throw MosquittoBroker.BrokerError.toolFailed("config/mosquitto/vigil.conf no longer has \(shipped)") }
            config = config.replacingOccurrences(of: shipped, with: local)
        }
        if getuid() == 0 { config = "user root\n" + config }
        return try MosquittoBroker(configPath: try directory.write("vigil.conf", config), port: plainPort, directory: directory)
    }
}
