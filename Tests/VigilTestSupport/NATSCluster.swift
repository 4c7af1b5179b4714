import Foundation

/// A real three-node NATS cluster (Debian's nats-server) with JetStream and MQTT on, all on
/// loopback: the clustered broker a hospital might run upstream. Nodes can be killed one by one.
public final class NATSCluster: @unchecked Sendable {
    public struct Node: Sendable {
        public let name: String
        public let clientPort: Int
        public let routePort: Int
        public let mqttPort: Int
    }

    public let nodes: [Node]
    public let directory: TemporaryDirectory
    private let lock = NSLock()
    private var processes: [ChildProcess?]

    public static var executable: String {
        ["/usr/bin/nats-server", "/usr/sbin/nats-server", "/usr/local/bin/nats-server"]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "nats-server"
    }

    public init(size: Int = 3) throws {
        directory = try TemporaryDirectory("nats")
        var nodes: [Node] = []
        for index in 1...size {
            nodes.append(Node(name: "n\(index)", clientPort: try freeLoopbackPort(), routePort: try freeLoopbackPort(), mqttPort: try freeLoopbackPort()))
        }
        self.nodes = nodes
        processes = Array(repeating: nil, count: size)
        let routes = nodes.map { "nats-route://127.0.0.1:\($0.routePort)" }.joined(separator: ", ")
        for (index, node) in nodes.enumerated() {
            let config = """
                server_name: \(node.name)
                listen: 127.0.0.1:\(node.clientPort)
                jetstream { store_dir: "\(directory.path)/\(node.name)" }
                cluster { name: vigil-test, listen: 127.0.0.1:\(node.routePort), routes: [\(routes)] }
                mqtt { listen: 127.0.0.1:\(node.mqttPort) }

                """
            let path = try directory.write("\(node.name).conf", config)
            processes[index] = try ChildProcess(Self.executable, ["-c", path],
                                                stdoutPath: directory.file("\(node.name).log"), stderrPath: directory.file("\(node.name).err"))
        }
        let deadline = Date().addingTimeInterval(30)
        for node in nodes {
            while !Self.accepts(port: node.mqttPort) {
                guard Date() < deadline else { throw POSIXError(.ETIMEDOUT) }
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }

    deinit { stop() }

    /// SIGKILL: the node is gone without a goodbye, as a crashed or unplugged one.
    public func kill(_ index: Int) {
        lock.withLock {
            processes[index]?.signal(SIGKILL)
            _ = processes[index]?.wait()
            processes[index] = nil
        }
    }

    public func stop() {
        for index in nodes.indices { kill(index) }
    }

    public func log(_ index: Int) -> String {
        (try? String(contentsOfFile: directory.file("\(nodes[index].name).log"), encoding: .utf8)) ?? ""
    }

    public func errors(_ index: Int) -> String {
        (try? String(contentsOfFile: directory.file("\(nodes[index].name).err"), encoding: .utf8)) ?? ""
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
