import Foundation
import Testing
import VigilAgent
import VigilTestSupport
import VigilProvisioning

/// A technician's visit, from nothing: `vigil sensor add` writes the broker's files and the boot
/// file; the MicroPython firmware boots from that file over TLS; readings arrive; `vigil sensor
/// set` changes the interval and waits until the device reports the new version; `sensor show`
/// says so; `sensor remove` revokes the device and the broker refuses it from then on.
@Suite struct ProvisioningEndToEndTests {
    let root = repositoryRoot()
    let vigil = builtProduct("vigil")

    @Test func fromNothingToReadingsToNewSettingsToRevoked() async throws {
        let dir = try TemporaryDirectory("provision")
        let shipped = try await ShippedBroker(in: dir, users: ["vigil-agent": "agent-pw"])
        let password = try dir.write("agent-password", "agent-pw\n")
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-prov", brokerPort: shipped.plainPort, metricsPort: try freeLoopbackPort(),
            mqtt: ["username: vigil-agent", "password_file: \(password)"],
            sections: """
                control:
                  socket: \(dir.file("control.sock"))
                broker:
                  password_file: \(shipped.passwordFile)
                  acl_file: \(shipped.aclFile)
                  pid_file: \(shipped.pidFile)
                  device_host: localhost
                  device_port: \(shipped.tlsPort)
                  device_ca_file: \(shipped.certificates.caFile)

                """)
        let agent = try ChildProcess(vigil, ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.signal(SIGKILL) }
        #expect(await eventually(poll: .milliseconds(300)) { (try? await runProcess(vigil, ["status", "--config", config, "--json"]))?.stdout.contains("\"connected\" : true") == true })

        // 1. Provision: credentials in the broker's files, the registry, and the boot file.
        let bootFile = dir.file("dev-p.json")
        let added = try await runProcess(vigil, [
            "sensor", "add", "dev-p", "--config", config, "--patient", "Patient/p-1", "--kind", "spo2-ring",
            "--set", "interval=1s", "--output", bootFile, "--device-state-dir", dir.file("flash"),
        ])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("provisioned dev-p for Patient/p-1 (spo2-ring: pr spo2 pi activity battery)"))
        #expect(added.stdout.contains("broker reloaded"))
        let boot = try jsonObject(String(contentsOfFile: bootFile, encoding: .utf8).replacingOccurrences(of: "\n", with: " "))
        let broker = try #require(boot["broker"] as? [String: Any])
        let devicePassword = try #require(broker["password"] as? String)
        #expect((broker["ca"] as? String)?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
        #expect(try FileManager.default.attributesOfItem(atPath: bootFile)[.posixPermissions] as? Int == 0o600)
        let passwords = MosquittoPasswordFile(text: try String(contentsOfFile: shipped.passwordFile, encoding: .utf8))
        #expect(passwords.verify(user: "dev-p", password: devicePassword))
        #expect(passwords.verify(user: "vigil-agent", password: "agent-pw"), "other users' entries are kept")
        #expect(try String(contentsOfFile: shipped.aclFile, encoding: .utf8).contains("user dev-p\ntopic write vigil/v1/dev-p/up"))

        // 2. The firmware boots from that file (TLS, its own credentials) and publishes.
        let firmware = root.appendingPathComponent("firmware-protocol/micropython").path
        let device = try ChildProcess("/bin/sh", [
            "-c", "cd \"$0\" && exec \"$@\"", firmware, root.appendingPathComponent(".venv/bin/micropython").path,
            "-X", "heapsize=64K", "device.py", bootFile, "--seconds", "45",
        ], stdoutPath: dir.file("device.out"), stderrPath: dir.file("device.err"))
        defer { device.signal(SIGKILL) }
        func show() async throws -> SensorReport? {
            let output = try await runProcess(vigil, ["sensor", "show", "dev-p", "--config", config, "--json"])
            return try? ControlJSON.decoder().decode(SensorReport.self, from: Data(output.stdout.utf8))
        }
        #expect(await eventually(timeout: .seconds(60), poll: .milliseconds(500)) { ((try? await show())??.readingsStored ?? 0) >= 3 }, "readings arrive")
        #expect(await eventually(timeout: .seconds(30), poll: .milliseconds(500)) { (try? await show())??.configApplied == 1 }, "the initial settings are applied")

        // 3. New settings: the command waits until the device reports version 2.
        let set = try await runProcess(vigil, ["sensor", "set", "dev-p", "interval=2s", "--config", config, "--timeout", "60"])
        #expect(set.status == 0, "\(set.stdout) \(set.stderr)")
        #expect(set.stdout.contains("dev-p: settings version 2 written (interval=2s)"))
        #expect(set.stdout.contains("dev-p applied settings version 2 after"))
        let shown = try await runProcess(vigil, ["sensor", "show", "dev-p", "--config", config])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("applied v2, wanted v2"), "\(shown.stdout)")
        #expect(shown.stdout.contains("firmware         vigil-ref 0.1.0"), "\(shown.stdout)")
        #expect(shown.stdout.contains("state            online"), "\(shown.stdout)")

        // The firmware really samples every 2 s now: the gap between its newest readings.
        try await Task.sleep(for: .seconds(5))
        let watched = try await runProcess(vigil, ["sensor", "watch", "dev-p", "--config", config, "--seconds", "2"], timeout: .seconds(60))
        let times = watched.stdout.split(separator: "\n").compactMap { line -> Date? in
            line.split(separator: " ").first.flatMap { ISO8601DateFormatter().date(from: String($0)) }
        }
        let last = Array(times.suffix(3))
        #expect(last.count == 3)
        if last.count == 3 {
            for gap in zip(last.dropFirst(), last).map({ $0.timeIntervalSince($1) }) { #expect(abs(gap - 2) < 0.5, "\(last)") }
        }
        #expect(watched.stdout.contains("quality="), "one line per reading with its quality")

        // 4. Revoke: the broker drops and then refuses the device; what it sent stays stored.
        let stored = try #require(try await show()?.readingsStored)
        let removed = try await runProcess(vigil, ["sensor", "remove", "dev-p", "--config", config])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(!MosquittoPasswordFile(text: try String(contentsOfFile: shipped.passwordFile, encoding: .utf8)).users.contains("dev-p"))
        #expect(!(try String(contentsOfFile: shipped.aclFile, encoding: .utf8)).contains("dev-p"))
        let archived = try String(contentsOfFile: dir.file("state/devices/removed/dev-p.json"), encoding: .utf8)
        #expect(archived.contains("\"key\" : \"\"") && archived.contains("Patient/p-1"))
        try await Task.sleep(for: .seconds(6))
        let after = try await show()
        #expect(after?.provisioned == false)
        #expect((after?.readingsStored ?? 0) <= stored + 1, "nothing more arrives once revoked (one frame may be in flight)")

        let exit = await device.waitAsync(timeout: .seconds(90))
        #expect(exit == 0, "\(["device.out", "device.err"].map { (try? String(contentsOfFile: dir.file($0), encoding: .utf8)) ?? "" })")
        let stats = try jsonObject(String(contentsOfFile: dir.file("device.out"), encoding: .utf8))
        #expect((stats["connect_failures"] as? Int ?? 0) >= 1, "the broker refuses the revoked device: \(stats)")
        #expect((stats["pending"] as? Int ?? 0) > 0, "it keeps what nobody acknowledged: \(stats)")
        #expect(stats["configs_applied"] as? Int == 2, "\(stats)")
        let brokerLog = try String(contentsOfFile: dir.file("mosquitto.log"), encoding: .utf8)
        #expect(brokerLog.contains("dev-p") && brokerLog.contains("not authorised"), "the broker log names the refusal")

        // The export still holds what the device sent before it was removed, with its patient.
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        let export = try await runProcess(vigil, ["store", "export", "--config", config, "--device", "dev-p"])
        #expect(export.stdout.split(separator: "\n").count >= Int(stored))
        #expect(export.stdout.contains("Patient/p-1"))

        let audit = try String(contentsOfFile: dir.file("state/audit/audit.log"), encoding: .utf8)
        let actions = audit.split(separator: "\n").compactMap { try? jsonObject(String($0))["action"] as? String }
        #expect(actions.filter { $0 != "phi.view" } == ["config.changed", "sensor.add", "sensor.set", "sensor.remove", "store.export"],
                "the agent's first start records its configuration")
        // Root's `sensor show/list` through the socket showed the patient: each is on record.
        #expect(actions.contains("phi.view"), "\(actions)")
        #expect(!audit.contains(devicePassword), "no secret in the audit log")
        _ = shipped
    }
}
