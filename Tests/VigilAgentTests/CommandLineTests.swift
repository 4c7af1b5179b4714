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
        #expect(result.stdout.contains("home remote-patient-monitoring gateway agent"))
    }

    @Test(arguments: [
        (["run", "--help"], ["USAGE: vigil run [--config <path>]", "VIGIL_MQTT_PORT", "78 (EX_CONFIG)", "$NOTIFY_SOCKET"]),
        (["config", "--help"], ["USAGE: vigil config <subcommand>", "check"]),
        (["score", "--help"], ["USAGE: vigil score [--config <path>] [<file>]", "spo2_scale", "carried", "line number"]),
        (["config", "check", "--help"], ["USAGE: vigil config check [<file>]", "Secrets are never", "$VIGIL_CONFIG"]),
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
