import Foundation
import Logging
import Testing
import VigilAgent
import VigilProvisioning
import VigilTestSupport

/// The state directory's format: marked on a first start, vigil 0.1.0's directory (a fixture
/// that version wrote, tools/fixtures/make-state-format-1) migrated and read back in full, and a
/// newer version's refused untouched.
@Suite struct StateFormatTests {
    static let logger = Logger(label: "state-format-test")

    @Test func aFirstStartMarksTheDirectoryWithTheCurrentFormat() throws {
        let dir = try TemporaryDirectory("format-new")
        defer { dir.remove() }
        #expect(try StateFormat.prepare(stateDirectory: dir.path + "/state", version: "0.2.0", logger: Self.logger) == .created)
        let text = try String(contentsOfFile: dir.path + "/state/FORMAT", encoding: .utf8)
        #expect(text == "vigil state format \(StateFormat.current)\nwritten by vigil 0.2.0\n")
        #expect(try StateFormat.prepare(stateDirectory: dir.path + "/state", version: "0.2.0", logger: Self.logger) == .current)
    }

    @Test func aDirectoryWithDataButNoMarkerIsFormatOneAndMigrated() throws {
        let dir = try TemporaryDirectory("format-old")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/state/devices", withIntermediateDirectories: true)
        #expect(try StateFormat.prepare(stateDirectory: dir.path + "/state", version: "0.2.0", logger: Self.logger) == .migrated(from: 1))
        #expect(StateFormat(text: try String(contentsOfFile: dir.path + "/state/FORMAT", encoding: .utf8))?.format == StateFormat.current)
    }

    @Test(arguments: ["vigil state format 4\nwritten by vigil 0.9.0\n", "vigil state format 12\nwritten by vigil 2.0.0\n"])
    func aNewerVersionsDirectoryIsRefusedAndLeftAsItWas(marker: String) throws {
        let dir = try TemporaryDirectory("format-newer")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/state/log", withIntermediateDirectories: true)
        try marker.write(toFile: dir.path + "/state/FORMAT", atomically: true, encoding: .utf8)
        let error = try #require(throws: StartupError.self) {
            try StateFormat.prepare(stateDirectory: dir.path + "/state", version: "0.2.0", logger: Self.logger)
        }
        let parsed = try #require(StateFormat(text: marker))
        #expect(error.description.contains("written by vigil \(parsed.writtenBy) (state format \(parsed.format))"))
        #expect(error.description.contains("this is vigil 0.2.0, which reads formats up to \(StateFormat.current)"))
        #expect(try String(contentsOfFile: dir.path + "/state/FORMAT", encoding: .utf8) == marker)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/state").sorted() == ["FORMAT", "log"])
    }

    @Test func aMarkerThatIsNotOneIsRefused() throws {
        let dir = try TemporaryDirectory("format-garbage")
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/state", withIntermediateDirectories: true)
        try "format=2\n".write(toFile: dir.path + "/state/FORMAT", atomically: true, encoding: .utf8)
        #expect(throws: StartupError.self) {
            try StateFormat.prepare(stateDirectory: dir.path + "/state", version: "0.2.0", logger: Self.logger)
        }
    }

    /// The real agent on the directory vigil 0.1.0 left: it migrates it, starts, and afterwards
    /// the new binary exports every entry the old one exported, the registry and the patient's
    /// settings load, and the audit chain verifies.
    @Test func vigil010sStateOpensInThisVersionWithEveryEntry() async throws {
        let dir = try TemporaryDirectory("format-upgrade")
        defer { dir.remove() }
        let fixture = repositoryRoot().appendingPathComponent("Tests/Fixtures/state-format-1").path
        try FileManager.default.copyItem(atPath: fixture + "/state", toPath: dir.path + "/state")
        try FileManager.default.copyItem(atPath: fixture + "/store.keys", toPath: dir.path + "/store.keys")
        chmod(dir.path + "/store.keys", 0o600)
        let broker = try MosquittoBroker()
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(in: dir, gateway: "gw-fixture", brokerPort: broker.port, metricsPort: metricsPort,
                                          store: ["segment_kib: 8"])
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/state/FORMAT"), "vigil 0.1.0 wrote no marker")
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        let log = try String(contentsOfFile: dir.file("agent.log"), encoding: .utf8)
        #expect(log.contains("state directory migrated") && log.contains("from_format=1"), "\(log.suffix(2_000))")
        #expect(StateFormat(text: try String(contentsOfFile: dir.path + "/state/FORMAT", encoding: .utf8))?.format == StateFormat.current)

        let export = try await runProcess(builtProduct("vigil"), ["store", "export", "--config", config])
        #expect(export.status == 0, "\(export.stderr)")
        func entries(_ text: String) throws -> [NSDictionary] {
            try text.split(separator: "\n").map { try jsonObject(String($0)) as NSDictionary }
        }
        let old = try entries(try String(contentsOfFile: fixture + "/export-0.1.0.jsonl", encoding: .utf8))
        let new = try entries(export.stdout)
        #expect(old.count == 80)
        // Every entry as vigil 0.1.0 exported it, with the same fields and values.
        let missing = old.filter { entry in !new.contains { candidate in
            entry.allKeys.allSatisfy { key in (candidate[key] as? NSObject)?.isEqual(entry[key]) == true }
        } }
        #expect(missing.isEmpty, "\(missing.prefix(2))")
        let verify = try await runProcess(builtProduct("vigil"), ["store", "verify", "--config", config])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        let devices = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/state/devices").sorted()
        #expect(devices == ["ecg-patch-02.json", "spo2-ring-01.json"])
        let patient = try await runProcess(builtProduct("vigil"), ["patient", "show", "--config", config, "Patient/demo-1"])
        #expect(patient.status == 0 && patient.stdout.contains("2"), "\(patient.stdout) \(patient.stderr)")
    }

    /// The real agent refuses, with exit 78 (systemd does not restart it) and the reason.
    @Test func theAgentRefusesADirectoryFromANewerVersion() async throws {
        let dir = try TemporaryDirectory("format-refuse")
        defer { dir.remove() }
        let config = try writeAgentConfig(in: dir, gateway: "gw-r", brokerPort: 1)
        try FileManager.default.createDirectory(atPath: dir.path + "/state", withIntermediateDirectories: true)
        try "vigil state format 7\nwritten by vigil 1.4.0\n".write(toFile: dir.path + "/state/FORMAT", atomically: true, encoding: .utf8)
        let run = try await runProcess(builtProduct("vigil"), ["run", "--config", config], timeout: .seconds(60))
        #expect(run.status == 78)
        #expect(run.stderr.contains("written by vigil 1.4.0 (state format 7)") && run.stderr.contains("Refusing to start"), "\(run.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/state") == ["FORMAT"], "nothing written beside it")
    }
}
