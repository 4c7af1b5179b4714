import Foundation

/// A private mosquitto for one test: its own loopback port, config and data directory, started
/// as a real process and always torn down. Persistence is on, so a stopped and restarted broker
/// keeps persistent sessions and their queued messages, as the gateway's broker does.
public final class MosquittoBroker: @unchecked Sendable {
    public struct Options: Sendable {
        /// `nil` means anonymous clients are allowed; otherwise user → password.
        public var users: [String: String]?
        public init(users: [String: String]? = nil) {
            self.users = users
        }
    }

    public let port: Int
    public let directory: TemporaryDirectory
    public let configPath: String
    private let lock = NSLock()
    private var process: ChildProcess?
    /// A broker that did not start leaves the caller's directory alone, so the caller can retry in it.
    private var removesDirectory = true

    public static var executable: String {
        ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto"]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "mosquitto"
    }

    /// Runs mosquitto on a complete configuration the caller wrote (e.g. the shipped one, with
    /// ports and paths replaced). `port` is the plain listener used to detect readiness.
    public init(configPath: String, port: Int, directory: TemporaryDirectory) throws {
        self.directory = directory
        self.port = port
        self.configPath = configPath
        do { try start() } catch {
            removesDirectory = false
            throw error
        }
    }

    public convenience init(options: Options = Options()) throws {
        // The free port can be taken between asking and binding (another test, or an outgoing
        // connection's ephemeral port): try another one.
        for attempt in 1... {
            do {
                try self.init(directory: try TemporaryDirectory("mosquitto"), port: try freeLoopbackPort(), options: options)
                return
            } catch BrokerError.didNotStart(let log) where log.contains("Address already in use") && attempt < 5 {
                continue
            }
        }
        fatalError("unreachable")
    }

    private init(directory: TemporaryDirectory, port: Int, options: Options) throws {
        self.directory = directory
        self.port = port
        // Started as root, mosquitto drops to the `mosquitto` user, which could not write this
        // private directory; keep the test user instead.
        let user = getuid() == 0 ? "user root\n" : ""
        var config = user + """
            listener \(port) 127.0.0.1
            persistence true
            persistence_location \(directory.path)/
            log_dest file \(directory.path)/mosquitto.log
            log_type error
            log_type warning
            log_type notice
            max_queued_messages 500000
            max_inflight_messages 100

            """
        if let users = options.users {
            let passwordFile = try directory.write("passwd", "")
            for (user, password) in users.sorted(by: { $0.key < $1.key }) {
                try Self.run("/usr/bin/mosquitto_passwd", ["-b", passwordFile, user, password])
            }
            config += "allow_anonymous false\npassword_file \(passwordFile)\n"
        } else {
            config += "allow_anonymous true\n"
        }
        configPath = try directory.write("mosquitto.conf", config)
        try start()
    }

    deinit {
        process?.terminate()
        process?.wait()
        if removesDirectory { directory.remove() }
    }


    /// Starts (or restarts) the broker on the same port and data directory.
    public func start() throws {
        let process = try ChildProcess(Self.executable, ["-c", configPath])
        lock.withLock { self.process = process }
        let deadline = Date().addingTimeInterval(10)
        while !isAcceptingConnections(port: port) {
            guard process.isRunning, Date() < deadline else {
                throw BrokerError.didNotStart(log: (try? String(contentsOfFile: directory.file("mosquitto.log"), encoding: .utf8)) ?? "")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// SIGTERM: mosquitto writes its persistence file and exits.
    public func stop() {
        let process = lock.withLock { () -> ChildProcess? in
            defer { self.process = nil }
            return self.process
        }
        process?.terminate()
        process?.wait()
    }

    public var log: String { (try? String(contentsOfFile: directory.file("mosquitto.log"), encoding: .utf8)) ?? "" }

    public enum BrokerError: Error { case didNotStart(log: String), toolFailed(String) }

    public static func run(_ tool: String, _ arguments: [String]) throws {
        guard try ChildProcess(tool, arguments).wait() == 0 else {
            throw BrokerError.toolFailed("\(tool) \(arguments.first ?? "")")
        }
    }
}
