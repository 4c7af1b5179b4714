import Foundation
import Testing
import VigilTestSupport

/// The `vigil` binary as a new user meets it: help texts, errors on bad arguments, outputs.
@Suite struct CommandLineTests {
    let vigil = builtProduct("vigil")

    @Test func topLevelHelpListsEveryCommand() async throws {
        let result = try await runProcess(vigil, ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("USAGE: vigil <subcommand>"))
        #expect(result.stdout.contains("run "))
        #expect(result.stdout.contains("Run the gateway agent until SIGTERM or SIGINT."))
        #expect(result.stdout.contains("config "))
        #expect(result.stdout.contains("score "))
        #expect(result.stdout.contains("store "))
        #expect(result.stdout.contains("keys "))
        for command in ["status ", "doctor ", "sensor ", "audit "] { #expect(result.stdout.contains(command), "top-level help lacks \(command)") }
        #expect(result.stdout.contains("home remote-patient-monitoring gateway agent"))
    }

    @Test(arguments: [
        (["run", "--help"], ["USAGE: vigil run [--config <path>]", "VIGIL_MQTT_PORT", "78 (EX_CONFIG)", "$NOTIFY_SOCKET"]),
        (["config", "--help"], ["USAGE: vigil config <subcommand>", "check"]),
        (["score", "--help"], ["USAGE: vigil score [--config <path>] [<file>]", "spo2_scale", "carried", "line number"]),
        (["config", "check", "--help"], ["USAGE: vigil config check [<file>]", "Secrets are never", "$VIGIL_CONFIG"]),
        (["sensor", "--help"], ["USAGE: vigil sensor <subcommand>", "add", "remove", "list", "show", "set", "watch", "(run\nthem as root)"]),
        (["sensor", "add", "--help"], ["USAGE: vigil sensor add [--config <path>] <id> --patient <Patient/id> --kind <kind>",
                                       "PBKDF2-SHA512", "--set <key=value>", "--output <path>", "spo2-ring (pr spo2 pi activity battery)",
                                       "69 the broker could not be reloaded"]),
        (["sensor", "remove", "--help"], ["USAGE: vigil sensor remove [--config <path>] <id>", "stored readings stay"]),
        (["sensor", "list", "--help"], ["USAGE: vigil sensor list [--config <path>] [--json]", "Completeness", "exits 69"]),
        (["sensor", "show", "--help"], ["USAGE: vigil sensor show [--config <path>] <id> [--json]", "1 unknown device"]),
        (["sensor", "set", "--help"], ["USAGE: vigil sensor set [--config <path>] <id> <key=value> ... [--timeout <seconds>] [--no-wait]",
                                       "interval=<5s|1500ms|2m>", "retained", "75 written but not yet applied"]),
        (["sensor", "watch", "--help"], ["USAGE: vigil sensor watch [--config <path>] <id> [--count <n>] [--seconds <s>]", "sparkline",
                                         "nothing is logged"]),
        (["status", "--help"], ["USAGE: vigil status [--config <path>] [--json]", "monitoring-plugin convention", "2 critical"]),
        (["doctor", "--help"], ["USAGE: vigil doctor [--config <path>]", "suggest", "0 every check passed; 1 at least one failed"]),
        (["audit", "--help"], ["USAGE: vigil audit <subcommand>", "verify"]),
    ])
    func subcommandHelpIsComplete(arguments: [String], expected: [String]) async throws {
        let result = try await runProcess(vigil, arguments)
        #expect(result.status == 0)
        for text in expected { #expect(result.stdout.contains(text), "\(arguments) help lacks \(text)") }
    }

    @Test func versionIsPrinted() async throws {
        let result = try await runProcess(vigil, ["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ".").count == 3)
    }

    @Test func badArgumentsNameTheArgumentAndWhatWasExpected() async throws {
        let unknown = try await runProcess(vigil, ["run", "--confg", "x.yaml"])
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("Unknown option '--confg'"))
        let missingValue = try await runProcess(vigil, ["run", "--config"])
        #expect(missingValue.status == 64)
        #expect(missingValue.stderr.contains("Missing value for '-c <path>'") || missingValue.stderr.contains("Missing value for '--config <path>'"))
        let unknownCommand = try await runProcess(vigil, ["frobnicate"])
        #expect(unknownCommand.status == 64)
        #expect(unknownCommand.stderr.contains("Unexpected argument 'frobnicate'"))
    }

    /// Each new command's mistakes, as a technician would make them: which argument, what was expected.
    @Test func sensorAndStatusCommandsExplainBadArguments() async throws {
        let dir = try TemporaryDirectory("cli")
        defer { dir.remove() }
        let acl = try dir.write("acl", try String(contentsOf: repositoryRoot().appendingPathComponent("config/mosquitto/acl"), encoding: .utf8))
        let config = try dir.write("vigil.yaml", """
            gateway:
              state_directory: \(dir.file("state"))
            control:
              socket: \(dir.file("control.sock"))
            broker:
              password_file: \(dir.file("passwd"))
              acl_file: \(acl)
              pid_file: "off"
              device_ca_file: "off"
            """)
        func run(_ arguments: [String]) async throws -> ProcessOutput {
            try await runProcess(vigil, arguments + ["--config", config], environment: ProcessInfo.processInfo.environment.merging(["HOME": dir.path]) { $1 })
        }
        let cases: [([String], Int32, String)] = [
            (["sensor", "add", "d1", "--patient", "Patient/1"], 64, "Missing expected argument '--kind <kind>'"),
            (["sensor", "add", "d1", "--patient", "Patient/1", "--kind", "toaster", "--output", dir.file("d1.json")], 64,
             "--kind: expected one of bp-cuff, spo2-ring, thermometer, vitals-patch (or give --channels), got \"toaster\""),
            (["sensor", "add", "d1", "--patient", "p1", "--kind", "spo2-ring", "--output", dir.file("d1.json")], 64,
             "--patient: expected a FHIR reference such as Patient/123, got \"p1\""),
            (["sensor", "add", "d1", "--patient", "Patient/1", "--kind", "spo2-ring", "--set", "interval=0s"], 64,
             "--set interval=0s: expected a sampling interval from 1s to 1h"),
            (["sensor", "set", "d1"], 64, "Missing expected argument '<key=value> ...'"),
            (["sensor", "set", "d1", "interval=5s", "--timeout", "0"], 64, "--timeout: expected 1 to 3600 seconds, got 0"),
            (["sensor", "set", "nobody", "interval=5s"], 1, "nobody is not provisioned (see `vigil sensor list`)"),
            (["sensor", "remove", "nobody"], 1, "nobody is not provisioned"),
            (["sensor", "watch", "d1", "--count", "0"], 64, "--count: expected at least 1, got 0"),
            (["sensor", "watch", "d1", "--seconds", "x"], 64, "The value 'x' is invalid for '--seconds <s>'"),
            (["sensor", "show", "d1"], 69, "the agent is not reachable on \(dir.file("control.sock")) (no socket file)"),
            (["sensor", "list"], 69, "the agent is not reachable"),
        ]
        for (arguments, status, message) in cases {
            let result = try await run(arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        // Without the agent, `status` is critical (2) and says so on stdout, where monitoring reads.
        let status = try await run(["status"])
        #expect(status.status == 2)
        #expect(status.stdout.hasPrefix("CRITICAL  agent: the agent is not reachable"))
        // A provisioned sensor; adding it again is refused (exit 1), its boot file is private.
        let added = try await run(["sensor", "add", "d1", "--patient", "Patient/1", "--kind", "thermometer", "--output", dir.file("d1.json")])
        #expect(added.status == 0, "\(added.stderr)")
        #expect(added.stdout.contains("provisioned d1 for Patient/1 (thermometer: core_temp battery)"))
        #expect(added.stdout.contains("broker.pid_file is off: reload the broker yourself"))
        let again = try await run(["sensor", "add", "d1", "--patient", "Patient/1", "--kind", "thermometer", "--output", dir.file("d1b.json")])
        #expect(again.status == 1 && again.stderr.contains("d1 is already provisioned"))
        let overwrite = try await run(["sensor", "add", "d2", "--patient", "Patient/1", "--kind", "thermometer", "--output", dir.file("d1.json")])
        #expect(overwrite.status == 64 && overwrite.stderr.contains("--output: \(dir.file("d1.json")) already exists"))
        let channel = try await run(["sensor", "set", "d1", "channels=spo2", "--no-wait"])
        #expect(channel.status == 64 && channel.stderr.contains("channels=spo2: expected channels this device is registered for (battery,core_temp)"))
        let pending = try await run(["sensor", "set", "d1", "interval=10s", "--timeout", "1"])
        #expect(pending.status == 75, "written, but nobody can confirm it: \(pending.stderr)")
        #expect(pending.stdout.contains("d1: settings version 1 written (interval=10s)"))
        // Doctor: names each failed check with a fix, and exits 1.
        let doctor = try await run(["doctor"])
        #expect(doctor.status == 1)
        #expect(doctor.stdout.contains("✓ configuration \(config) is valid"))
        #expect(doctor.stdout.contains("✗ broker password file: cannot read \(dir.file("passwd"))") == false, "sensor add created it")
        #expect(doctor.stdout.contains("✓ broker password file and ACL match the 1 provisioned sensors"))
        #expect(doctor.stdout.contains("✗ agent: the agent is not reachable"))
        #expect(doctor.stdout.contains("    fix: systemctl start vigil"))
        #expect(doctor.stdout.contains("✓ audit log intact (2 entries)"))
    }

    @Test func configCheckPrintsSettingsOrEveryProblem() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let secret = try dir.write("pw", "not-to-be-shown")
        let good = try dir.write("good.yaml", "gateway:\n  id: gw-9\nmqtt:\n  password_file: \(secret)\n")
        let ok = try await runProcess(vigil, ["config", "check", good])
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("\(good): valid"))
        #expect(ok.stdout.contains("gateway.id"))
        #expect(ok.stdout.contains("gw-9"))
        #expect(ok.stdout.contains("(set, from file)"))
        #expect(!ok.stdout.contains("not-to-be-shown"))

        let bad = try dir.write("bad.yaml", "mqtt:\n  port: zero\n  colour: blue\n")
        let failed = try await runProcess(vigil, ["config", "check", bad])
        #expect(failed.status == 78)
        #expect(failed.stderr.contains("configuration is invalid (2 problems):"))
        #expect(failed.stderr.contains("\(bad):2: mqtt.port: expected an integer from 1 to 65535, got \"zero\""))
        #expect(failed.stderr.contains("\(bad):3: mqtt.colour: unknown setting"))

        // The environment override applies to `config check` too, and is named in the error.
        let env = ProcessInfo.processInfo.environment.merging(["VIGIL_MQTT_KEEPALIVE_SECONDS": "1"]) { $1 }
        let overridden = try await runProcess(vigil, ["config", "check", good], environment: env)
        #expect(overridden.status == 78)
        #expect(overridden.stderr.contains("environment VIGIL_MQTT_KEEPALIVE_SECONDS: mqtt.keepalive_seconds"))
    }
}

@Suite struct ScoreCommandTests {
    @Test func scoresStandardInputAndReportsBadLinesButGoesOn() async throws {
        let input = """
            {"patient":"p","time":"2026-11-22T08:00:00Z","hr":135,"rr":26,"spo2":91,"temp":39.5,"sbp":88,"o2":true,"consciousness":"V"}
            {"patient":"p","time":"2026-11-22T08:05:00Z","hr":"fast"}

            {"patient":"p","time":"2026-11-22T08:10:00Z","hr":70}
            """
        let result = try await runProcess(builtProduct("vigil"), ["score"], stdin: input)
        #expect(result.status == 1)
        #expect(result.stderr.contains("vigil score: line 2: hr: expected a number from 0 to 400"))
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        let news2 = try #require(first["news2"] as? [String: Any])
        // 3 (rr) + 3 (SpO2) + 2 (oxygen) + 3 (SBP) + 3 (pulse) + 3 (voice) + 2 (39.5 °C) = 19.
        #expect(news2["total"] as? Int == 19)
        #expect(news2["risk"] as? String == "high")
        #expect((first["alerts"] as? [[String: Any]])?.first?["event"] as? String == "raise")
    }

    @Test func takesTheFreshnessWindowFromTheAgentConfiguration() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let config = try dir.write("v.yaml", "models:\n  news2_freshness_minutes: 5\n")
        let input = """
            {"patient":"p","time":"2026-11-22T08:00:00Z","rr":16}
            {"patient":"p","time":"2026-11-22T08:06:00Z","hr":70}
            """
        let result = try await runProcess(builtProduct("vigil"), ["score", "--config", config], stdin: input)
        #expect(result.status == 0, "\(result.stderr)")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.split(separator: "\n")[1].utf8)) as? [String: Any])
        #expect(((second["news2"] as? [String: Any])?["missing"] as? [String])?.contains("rr") == true)
    }
}
