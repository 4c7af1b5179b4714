import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import VigilStore

/// `vigil run` as a child process with its own state directory, store key and configuration, for
/// the end-to-end benchmark and the soak: started, stopped like systemd stops it (SIGTERM, then
/// wait), and observed through /proc.
final class AgentUnderTest {
    let root: String
    let vigil: String
    /// `VIGIL_*` overrides of configuration keys (the agent's own mechanism), for every start.
    let environment: [String: String]
    private var process: Process?

    var state: String { root + "/state" }
    var registry: String { state + "/devices" }
    var configPath: String { root + "/vigil.yaml" }
    var logPath: String { root + "/agent.log" }
    var pid: Int32? { process.flatMap { $0.isRunning ? $0.processIdentifier : nil } }
    var stats: ProcessStats? { pid.map { ProcessStats(pid: $0) } }

    /// - Parameters:
    ///   - keyring: the store's keys (a caller that fills the log beforehand passes its own).
    ///   - extra: YAML appended to the configuration (top-level sections).
    ///   - environment: `VIGIL_*` overrides of keys in sections the configuration already has.
    init(vigil: String, root: String, brokerHost: String, brokerPort: Int, uplinkURL: String, clientID: String,
         keyring: Keyring = .generate(), extra: String = "", environment: [String: String] = [:]) throws {
        self.vigil = vigil
        self.root = root
        self.environment = environment
        try FileManager.default.createDirectory(atPath: state + "/devices", withIntermediateDirectories: true)
        try keyring.writeNewFile(at: root + "/store.keys")
        let config = """
            gateway:
              id: gw-bench
              state_directory: \(state)
              clock: rtc
            store:
              key_file: \(root)/store.keys
            mqtt:
              host: \(brokerHost)
              port: \(brokerPort)
              client_id: \(clientID)
            metrics:
              listen: off
            control:
              socket: \(root)/control.sock
            models:
              directory: \(root)/no-models
              alert_reminder_minutes: 0
              # Each reading scored on its own (the chart's rule): these runs measure that every
              # abnormal reading's alert arrives, not the wearable aggregation.
              news2_window_seconds: 0
              news2_raise_after: 1
              news2_clear_after: 2
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
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = FileHandle(forWritingAtPath: logPath)!
        log.seekToEndOfFile()
        process.standardError = log
        process.standardOutput = log
        try process.run()
        self.process = process
    }

    /// SIGTERM and wait: the agent drains its pipeline and commits before it exits.
    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    /// SIGKILL and wait: a crash, a watchdog kill or a power cut as far as the agent can tell.
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Segments of the routine lane deleted so far (uploaded, or evicted): segment ids never go
    /// back, so every id below the newest that is no longer there.
    var routineSegmentsDeleted: Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: state + "/log/routine")) ?? []
        let ids = names.filter { $0.hasSuffix(".seg") }.compactMap { UInt64($0.prefix(16), radix: 16) }
        guard let newest = ids.max() else { return 0 }
        return Int(newest) - ids.count
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
