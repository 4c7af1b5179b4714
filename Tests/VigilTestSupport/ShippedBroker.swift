import Foundation

/// The shipped `config/mosquitto/vigil.conf` and `acl`, run in a private mosquitto with only
/// paths and ports changed: a plain loopback listener for the agent, a TLS listener (a throwaway
/// test CA) for sensors, a password file and the per-device ACL.
public struct ShippedBroker: Sendable {
    public let broker: MosquittoBroker
    public let certificates: TestCertificates
    public let plainPort: Int
    public let tlsPort: Int

    /// - Parameter users: user name → password (the agent is `vigil-agent`, a device its id).
    public init(in directory: TemporaryDirectory, users: [String: String]) async throws {
        let root = repositoryRoot()
        certificates = try await TestCertificates(in: directory)
        plainPort = try freeLoopbackPort()
        tlsPort = try freeLoopbackPort()
        let passwd = try directory.write("passwd", "")
        for (user, password) in users.sorted(by: { $0.key < $1.key }) {
            try MosquittoBroker.run("/usr/bin/mosquitto_passwd", ["-b", passwd, user, password])
        }
        var config = try String(contentsOf: root.appendingPathComponent("config/mosquitto/vigil.conf"), encoding: .utf8)
        let replacements = [
            "persistence_location /var/lib/mosquitto/": "persistence_location \(directory.path)/",
            "password_file /etc/mosquitto/vigil/passwd": "password_file \(passwd)",
            "acl_file /etc/mosquitto/vigil/acl": "acl_file \(root.appendingPathComponent("config/mosquitto/acl").path)",
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
        broker = try MosquittoBroker(configPath: try directory.write("vigil.conf", config), port: plainPort, directory: directory)
    }
}
