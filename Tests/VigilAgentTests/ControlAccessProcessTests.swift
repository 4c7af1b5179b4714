import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilProvisioning
import VigilStore
import VigilTestSupport

/// The control socket's roles through the real agent, the real socket and the real CLI run as
/// other Unix accounts (setpriv; numeric ids, so the machine's account files stay untouched):
/// each role sees and is refused what it should, and the audit log names the caller of every
/// view of patient data and every refusal.
@Suite struct ControlAccessProcessTests {
    static let technician: UInt32 = 4_101, clinician: UInt32 = 4_102, auditor: UInt32 = 4_103, stranger: UInt32 = 4_104
    static let clinicianGroup: UInt32 = 4_200

    /// `gid`: the primary group, which the kernel reports with the uid (supplementary groups
    /// come from the account database, where these numeric accounts are not).
    func run(as uid: UInt32, gid: UInt32? = nil, _ arguments: [String]) async throws -> ProcessOutput {
        try await runProcess("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid ?? uid)", "--clear-groups", builtProduct("vigil")] + arguments,
                                    environment: ["PATH": "/usr/bin:/bin", "HOME": "/"])
    }

    func auditEntries(_ path: String) throws -> [[String: String]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String])
        }
    }

    @Test func eachRoleSeesWhatItMayAndEveryViewAndRefusalIsAudited() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("access")
        defer { dir.remove() }
        chmod(dir.path, 0o755)
        let keyring = Keyring.generate()
        try keyring.writeNewFile(at: dir.file("store.keys"))
        let key = Array(repeating: UInt8(0xB2), count: 32)
        try DeviceRegistry.write(.init(device: "ring-1", patient: "Patient/p-1", kind: "spo2-ring", key: hexString(key)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(in: dir, gateway: "gw-access", brokerPort: broker.port, metricsPort: metricsPort, sections: """
            access:
              technician: ["uid:\(Self.technician)"]
              clinician: ["gid:\(Self.clinicianGroup)"]
              auditor: ["uid:\(Self.auditor)"]

            """)
        chmod(config, 0o644)
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "ring-1"), logger: .init(label: "t"))
        try await sensor.start()
        #expect(await eventually { sensor.connectionState.isConnected })
        let deviceKey = DeviceKey(device: DeviceID("ring-1")!, bytes: key)!
        try await sensor.publish(topic: "vigil/v1/ring-1/up", payload: FrameEncoder.readings(
            key: deviceKey, boot: 1, seq: 0, t0: 1_795_350_000_000, records: [.init(dt: 0, values: [(.pulseRate, 720), (.spo2, 970)])],
            flags: .clockSynced))
        await sensor.shutdown()
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains(#"vigil_readings_accepted_total{device="ring-1"} 1"#)) == true })
        let auditPath = dir.path + "/state/audit/audit.log"
        let before = try auditEntries(auditPath).count

        // Technician: the sensor's health, not whose it is, and no readings.
        let techShow = try await run(as: Self.technician, ["sensor", "show", "ring-1", "--json", "--config", config])
        #expect(techShow.status == 0, "\(techShow.stderr)")
        let techReport = try ControlJSON.decoder().decode(SensorReport.self, from: Data(techShow.stdout.utf8))
        #expect(techReport.patient == nil && techReport.readingsStored == 1 && techReport.kind == "spo2-ring")
        let techStatus = try await run(as: Self.technician, ["status", "--json", "--config", config])
        #expect(!techStatus.stdout.contains("Patient/p-1") && techStatus.stdout.contains("ring-1"), "\(techStatus.stdout)")
        let techWatch = try await run(as: Self.technician, ["sensor", "watch", "ring-1", "--count", "1", "--config", config])
        #expect(techWatch.status != 0 && techWatch.stderr.contains("role technician may not see readings"), "\(techWatch.stderr)")
        #expect(!techWatch.stdout.contains("spo2=97"))

        // Clinician (by group): the patient and the readings; a watch that polls is one entry.
        let watch = try await run(as: Self.clinician, gid: Self.clinicianGroup, ["sensor", "watch", "ring-1", "--seconds", "3", "--config", config])
        #expect(watch.status == 0 && watch.stdout.contains("spo2=97"), "\(watch.stdout) \(watch.stderr)")
        let clinShow = try await run(as: Self.clinician, gid: Self.clinicianGroup, ["sensor", "show", "ring-1", "--config", config])
        #expect(clinShow.stdout.contains("Patient/p-1"), "\(clinShow.stdout) \(clinShow.stderr)")
        // Without the group, the same uid holds no role.
        let ungrouped = try await run(as: Self.clinician, ["sensor", "show", "ring-1", "--config", config])
        #expect(ungrouped.status != 0 && ungrouped.stderr.contains("holds no Vigil role"), "\(ungrouped.stderr)")

        // Auditor: verifies the chain through the agent (it cannot read the key), sees no readings.
        let verify = try await run(as: Self.auditor, ["audit", "verify", "--config", config])
        #expect(verify.status == 0 && verify.stdout.contains("MACs and chain intact"), "\(verify.stdout) \(verify.stderr)")
        let auditorWatch = try await run(as: Self.auditor, ["sensor", "watch", "ring-1", "--count", "1", "--config", config])
        #expect(auditorWatch.status != 0 && auditorWatch.stderr.contains("role auditor may not see readings"))
        // Nobody: refused everything.
        let strangerStatus = try await run(as: Self.stranger, ["status", "--config", config])
        #expect(strangerStatus.status != 0 && (strangerStatus.stdout + strangerStatus.stderr).contains("uid \(Self.stranger) holds no Vigil role"), "\(strangerStatus.stdout) \(strangerStatus.stderr)")
        // Root is the operator.
        let rootShow = try await runProcess(builtProduct("vigil"), ["sensor", "show", "ring-1", "--config", config])
        #expect(rootShow.stdout.contains("Patient/p-1"))

        // The audit log: one entry per view and refusal, naming the caller, before the data.
        let entries = Array(try auditEntries(auditPath).dropFirst(before))
        func matching(_ action: String, uid: UInt32, what: String) -> [[String: String]] {
            entries.filter { $0["action"] == action && $0["uid"] == "\(uid)" && $0["what"] == what }
        }
        #expect(matching("access.denied", uid: Self.technician, what: "readings").count == 1)
        #expect(matching("access.denied", uid: Self.technician, what: "readings").first?["role"] == "technician")
        #expect(entries.filter { $0["uid"] == "\(Self.technician)" && $0["action"] == "phi.view" }.isEmpty, "a technician saw no patient data")
        let views = matching("phi.view", uid: Self.clinician, what: "readings")
        #expect(views.count == 1, "the watch's polls are one entry: \(views)")
        #expect(views.first?["role"] == "clinician" && views.first?["subject"] == "ring-1" && views.first?["pid"] != nil)
        #expect(matching("phi.view", uid: Self.clinician, what: "sensor").count == 2, "the watch's and the show's")
        #expect(matching("access.denied", uid: Self.clinician, what: "sensor").first?["role"] == "none")
        #expect(matching("access.denied", uid: Self.auditor, what: "readings").count == 1)
        #expect(matching("access.denied", uid: Self.stranger, what: "status").count == 1)
        #expect(matching("phi.view", uid: 0, what: "sensor").first?["role"] == "operator")
        #expect(!(try String(contentsOfFile: auditPath, encoding: .utf8)).contains("spo2"), "no readings in the audit log")
        #expect(try AuditLog(directory: dir.path + "/state/audit", keys: AuditKeys(keyring: keyring)).verify().intact)
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
    }
}
