import ArgumentParser
import Foundation
import Logging
import VigilStore

/// `vigil run` as a child process with its own state directory, store key and configuration, for
/// the end-to-end benchmark and the soak: started, stopped like systemd stops it (SIGTERM, then
/// wait), and observed through /proc.
final class AgentUnderTest {
    let root: String
    let vigil: String
    private var process: Process?
    private var starts = 0

    var state: String { root + "/state" }
    var registry: String { state + "/devices" }
    var configPath: String { root + "/vigil.yaml" }
    var logPath: String { root + "/agent.log" }
    var pid: Int32? { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }
    var stats: ProcessStats? { pid.map { ProcessStats(pid: $0) } }

    /// - Parameter extra: YAML appended to the configuration (top-level sections).
    init(vigil: String, root: String, brokerPort: Int, uplinkURL: String, clientID: String, extra: String = "") throws {
        self.vigil = vigil
        self.root = root
        try FileManager.default.createDirectory(atPath: state + "/devices", withIntermediateDirectories: true)
        try Keyring.generate().writeNewFile(at: root + "/store.keys")
        let config = """
            gateway:
              id: gw-bench
              state_directory: \(state)
            store:
              key_file: \(root)/store.keys
            mqtt:
              host: 127.0.0.1
              port: \(brokerPort)
              client_id: \(clientID)
            metrics:
              listen: off
            control:
              socket: \(root)/control.sock
            models:
              directory: \(root)/no-models
            uplink:
              fhir:
                base_url: \(uplinkURL)

            """
        try (config + extra).write(toFile: configPath, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: vigil)
        process.arguments = ["run", "--config", configPath]
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        self.process = process
        starts += 1
    }

    /// SIGTERM and wait: the agent drains its pipeline and commits before it exits.
    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// Fails with the end of the agent's log when it is no longer running.
    func checkRunning() throws {
        guard let process, process.isRunning else { throw ValidationError("the agent exited; its log ends:\n" + logTail()) }
    }

    func logTail(_ characters: Int = 3_000) -> String {
        String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(characters))
    }

    deinit {
        if let process, process.isRunning { process.terminate() }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var milliseconds: Double { seconds * 1_000 }
}
