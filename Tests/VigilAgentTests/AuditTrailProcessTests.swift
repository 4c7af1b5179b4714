import Foundation
import Testing
import VigilAgent
import VigilCore
import VigilFormats
import VigilProvisioning
import VigilStore
import VigilTestSupport

/// The audit trail the hospital holds: the real agent uploads every audit entry as an AuditEvent
/// to the validating endpoint, after a restart without sending any again; the hospital-side check
/// (tools/fhir-endpoint/audit_check.py) then finds the box's log intact, and tells a truncated
/// tail, a removed entry, a forged line and a chain rewritten with the store key apart, the last
/// of which passes every check on the box but the anchor.
@Suite struct AuditTrailProcessTests {
    static let technician: UInt32 = 4_111

    func check(_ log: String, _ endpoint: FHIREndpoint) async throws -> (verdict: String, output: String) {
        let script = repositoryRoot().appendingPathComponent("tools/fhir-endpoint/audit_check.py").path
        let output = try await runProcess("/usr/bin/python3", [script, "--log", log, "--url", endpoint.auditURL, "--gateway", "gw-trail"])
        let verdict = output.stdout.split(separator: "\n").first { $0.hasPrefix("verdict: ") }.map { String($0.dropFirst(9)) } ?? "none"
        #expect((output.status == 0) == (verdict == "intact"), "\(output.stdout) \(output.stderr)")
        return (verdict, output.stdout)
    }

    @Test func theHospitalHoldsTheChainAndTellsEachAttackApart() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("audit-trail")
        defer { dir.remove() }
        chmod(dir.path, 0o755)
        let endpoint = try FHIREndpoint(directory: dir)
        defer { endpoint.stop() }
        let keyring = Keyring.generate()
        try keyring.writeNewFile(at: dir.file("store.keys"))
        try DeviceRegistry.write(.init(device: "ring-t", patient: "Patient/p-t", kind: "spo2-ring", key: hexString(Array(repeating: 0xC3, count: 32))),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(in: dir, gateway: "gw-trail", brokerPort: broker.port, metricsPort: metricsPort, sections: """
            access:
              technician: ["uid:\(Self.technician)"]
            uplink:
              heartbeat_interval_seconds: 0
              retry:
                initial_ms: 50
                max_ms: 400
              fhir:
                base_url: \(endpoint.baseURL)

            """)
        chmod(config, 0o644)
        let vigil = builtProduct("vigil")
        var agent = try ChildProcess(vigil, ["run", "--config", config], stderrPath: dir.file("agent-1.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        // Views by root (the operator) and a technician's refused request: each an entry.
        for arguments in [["sensor", "show", "ring-t"], ["sensor", "list"], ["status"]] {
            let output = try await runProcess(vigil, arguments + ["--config", config])
            // `status` exits 1 while the gateway is not healthy (this sensor never sent anything).
            #expect(output.status == 0 || arguments == ["status"] && output.stdout.contains("ring-t"), "\(arguments): \(output.stderr)")
        }
        let refused = try await runProcess("/usr/bin/setpriv", ["--reuid=\(Self.technician)", "--regid=\(Self.technician)", "--clear-groups",
                                                                vigil, "sensor", "watch", "ring-t", "--count", "1", "--config", config],
                                           environment: ["PATH": "/usr/bin:/bin", "HOME": "/"])
        #expect(refused.status != 0)
        let logPath = dir.path + "/state/audit/audit.log"
        func localEntries() -> Int { ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").count }
        #expect(localEntries() >= 5, "config, three views, a refusal")
        #expect(await eventually { (try? endpoint.auditEvents().count) == localEntries() }, "every entry reaches the hospital")
        let events = try endpoint.auditEvents()
        #expect(events.contains { ($0["type"] as? [String: Any])?["code"] as? String == "110113" && $0["outcome"] as? String == "4" },
                "the refusal as a security alert that failed")
        #expect(try endpoint.stats()["invalid"] as? Int == 0)

        // A restart: the cursor holds, nothing is sent twice; the next entry follows.
        agent.signal(SIGTERM)
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
        agent = try ChildProcess(vigil, ["run", "--config", config], stderrPath: dir.file("agent-2.log"))
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        #expect(try await runProcess(vigil, ["sensor", "show", "ring-t", "--config", config]).status == 0)
        #expect(await eventually { (try? endpoint.auditEvents().count) == localEntries() })
        let stats = try endpoint.stats()
        #expect(stats["audit_repeats"] as? Int == 0 && stats["audit_conflicts"] as? Int == 0, "\(stats)")
        agent.signal(SIGTERM)
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)

        let intact = try await check(logPath, endpoint)
        #expect(intact.verdict == "intact", "\(intact.output)")
        let anchorText = try #require(intact.output.split(separator: "\n").first { $0.hasPrefix("anchor: ") }).dropFirst(8)
        let anchor = try #require(AuditChain.Head(String(anchorText)))
        #expect(anchor.seq == UInt64(localEntries()))
        let cursor = try String(contentsOfFile: dir.path + "/state/audit/uploaded", encoding: .utf8)
        #expect(cursor == "\(anchor.seq) \(anchor.mac)\n", "the agent's cursor is the hospital's head")
        let boxVerify = try await runProcess(vigil, ["audit", "verify", "--anchor", anchor.description, "--config", config])
        #expect(boxVerify.status == 0, "\(boxVerify.stdout)")

        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n").map(String.init)
        func attack(_ name: String, _ changed: [String]) throws -> String {
            let path = dir.file(name + ".log")
            try (changed.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        #expect(try await check(try attack("truncated", Array(lines.dropLast(2))), endpoint).verdict == "truncated")
        #expect(try await check(try attack("removed", lines.enumerated().filter { $0.offset != 2 }.map(\.element)), endpoint).verdict == "removed")
        var edited = lines
        edited[1] = edited[1].replacingOccurrences(of: #""role":"operator""#, with: #""role":"auditor""#)
        #expect(edited[1] != lines[1])
        #expect(try await check(try attack("forged", edited), endpoint).verdict == "forged")

        // Root with the store key writes a history of its own, head record and all: the box
        // finds nothing wrong, the hospital's copy and its head do.
        let rewrittenDirectory = dir.path + "/rewritten"
        let rewritten = AuditLog(directory: rewrittenDirectory, keys: AuditKeys(keyring: keyring))
        for (index, line) in lines.enumerated() {
            var fields = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
            if index == 1 { fields["user"] = "someone-else" }
            let caller = AuditCaller(uid: UInt32(fields["uid"] ?? "0") ?? 0, user: fields["user"] ?? "", role: fields["role"] ?? "",
                                     pid: fields["pid"].flatMap(Int32.init))
            let details = fields.filter { !["seq", "time", "action", "uid", "user", "role", "pid", "key", "prev", "mac"].contains($0.key) }
                .sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let time = try #require(ISO8601DateFormatter().date(from: fields["time"] ?? ""))
            try rewritten.append(action: fields["action"] ?? "", details: details, caller: caller, at: time)
        }
        #expect(try rewritten.verify().intact, "the rewrite passes every check on the box")
        #expect(try rewritten.verify(anchor: anchor).problem == .rewrittenAgainstAnchor(seq: anchor.seq))
        #expect(try await check(rewritten.path, endpoint).verdict == "rewritten")
    }
}
