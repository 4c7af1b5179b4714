import ArgumentParser
import Foundation
import VigilAgent
import VigilProvisioning

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the gateway's setup and health, and suggest a fix for each problem.",
        discussion: """
            Checks the configuration, the store's key file, the broker (running, reachable, the \
            agent's password matching its entry, every provisioned sensor in the password file \
            and ACL and nothing else), the agent (running, connected), the uplink, the disk, the \
            clock, every sensor, and the audit log's hash chain. Run as root for the file checks.

            Exit status: 0 every check passed; 1 at least one failed.
            """)
    @OptionGroup var options: ConfigOption

    struct Check {
        var name: String
        var problem: String?
        var fix: String?
    }

    func run() async throws {
        var checks: [Check] = []
        func pass(_ name: String) { checks.append(Check(name: name)) }
        func fail(_ name: String, _ problem: String, fix: String) { checks.append(Check(name: name, problem: problem, fix: fix)) }

        let configuration: VigilConfiguration
        do {
            configuration = try VigilConfiguration.load(path: options.path)
            pass("configuration \(options.path) is valid")
        } catch {
            fail("configuration", "\(error)", fix: "edit \(options.path) (every problem is listed above), then `vigil config check`")
            report(checks)
            throw ExitCode.failure
        }
        checkKeys(configuration, pass: pass, fail: fail)
        checkBrokerFiles(configuration, pass: pass, fail: fail)
        checkBrokerProcess(configuration, pass: pass, fail: fail)

        let client = ControlClient(configuration: configuration)
        do {
            let status = try await client.get("/v1/status", as: StatusReport.self)
            pass("the agent answers on \(client.socket)")
            let problems = StatusAssessment.problems(status, now: Terminal.now())
            if problems.isEmpty { pass("the agent reports nothing that needs attention") }
            for problem in problems {
                fail(problem.subject, problem.message, fix: Self.fix(for: problem, configuration: configuration))
            }
        } catch {
            fail("agent", "\(error)", fix: "systemctl start vigil; if it stops again, `journalctl -u vigil -e` says why")
        }

        let audit = AuditLog(stateDirectory: configuration.gateway.stateDirectory, keyFile: configuration.store.keyFile)
        if FileManager.default.fileExists(atPath: audit.path) {
            switch Result(catching: { try audit.verify() }) {
            case .success(let result) where result.intact: pass("audit log intact (\(result.entries) entries)")
            case .success(let result):
                fail("audit log", result.problem.map { "\($0)" } ?? "",
                     fix: "treat it as a security incident: keep a copy of \(audit.path) and report it; do not edit it")
            case .failure: fail("audit log", "cannot read \(audit.path)", fix: "run as root")
            }
        }
        report(checks)
        if checks.contains(where: { $0.problem != nil }) { throw ExitCode.failure }
    }

    private func report(_ checks: [Check]) {
        for check in checks {
            if let problem = check.problem {
                print(Terminal.paint("✗", .red) + " \(check.name): \(problem)")
                if let fix = check.fix { print("    fix: \(fix)") }
            } else {
                print(Terminal.paint("✓", .green) + " \(check.name)")
            }
        }
        let failed = checks.filter { $0.problem != nil }.count
        print(failed == 0 ? "\nall \(checks.count) checks passed" : "\n\(failed) of \(checks.count) checks failed")
    }

    private func checkKeys(_ configuration: VigilConfiguration, pass: (String) -> Void, fail: (String, String, String) -> Void) {
        let path = configuration.store.keyFile
        var info = stat()
        guard stat(path, &info) == 0 else {
            if ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] == nil {
                fail("store key", "\(path) does not exist", "the agent creates it on its first start with an empty log; otherwise restore it from your backup (a new key cannot read old segments)")
            }
            return
        }
        if info.st_mode & 0o077 != 0 {
            fail("store key", "\(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8)))", "chmod 600 \(path)")
        } else {
            pass("store key file \(path) is private")
        }
    }

    private func checkBrokerFiles(_ configuration: VigilConfiguration, pass: (String) -> Void, fail: (String, String, String) -> Void) {
        let broker = configuration.broker
        guard let passwordText = try? String(contentsOfFile: broker.passwordFile, encoding: .utf8) else {
            fail("broker password file", "cannot read \(broker.passwordFile)", "run as root; the setup creates it (scripts/setup)")
            return
        }
        let passwords = MosquittoPasswordFile(text: passwordText)
        if let user = configuration.mqtt.username, let password = configuration.mqtt.password {
            if passwords.verify(user: user, password: password) {
                pass("the agent's broker password matches \(broker.passwordFile)")
            } else {
                fail("broker credentials", "the password in mqtt.password_file does not match \(user)'s entry in \(broker.passwordFile)",
                     "mosquitto_passwd -b \(broker.passwordFile) \(user) \"$(cat <mqtt.password_file>)\" && systemctl reload mosquitto")
            }
        }
        guard let aclText = try? String(contentsOfFile: broker.aclFile, encoding: .utf8),
              let acl = try? BrokerACL(text: aclText, topicPrefix: configuration.topicPrefix) else {
            fail("broker ACL", "cannot read \(broker.aclFile) or its sensors block is damaged", "restore it from config/mosquitto/acl, then add the sensors again")
            return
        }
        let registered = Set(Provisioner(configuration: configuration).records().map(\.device))
        let inPasswords = Set(passwords.users)
        let inACL = Set(acl.devices)
        let problems = registered.subtracting(inPasswords).sorted().map { "\($0) has no broker password" }
            + registered.subtracting(inACL).sorted().map { "\($0) has no ACL rules" }
            + inACL.subtracting(registered).sorted().map { "\($0) has ACL rules but is not provisioned" }
        if problems.isEmpty {
            pass("broker password file and ACL match the \(registered.count) provisioned sensors")
        } else {
            fail("broker files", problems.joined(separator: "; "), "`vigil sensor remove <id>` then `vigil sensor add <id> …` for each sensor named")
        }
    }

    private func checkBrokerProcess(_ configuration: VigilConfiguration, pass: (String) -> Void, fail: (String, String, String) -> Void) {
        guard let pidFile = configuration.broker.pidFile else { return }
        let pid = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        let command = pid.flatMap { try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8) }?.trimmingCharacters(in: .whitespacesAndNewlines)
        if command == "mosquitto" {
            pass("broker running (pid \(pid!))")
        } else {
            fail("broker", "no mosquitto process from \(pidFile)", "systemctl start mosquitto; `journalctl -u mosquitto -e` says why it stopped")
        }
    }

    static func fix(for problem: StatusProblem, configuration: VigilConfiguration) -> String {
        switch problem.subject {
        case "broker": "systemctl status mosquitto; check mqtt.host/port and that the agent's password matches (see above)"
        case "uplink": "check the network and DNS, then uplink.fhir.base_url and its credentials; `journalctl -u vigil | grep uplink` shows each failure"
        case "backlog": "the uplink has been failing for long: see the uplink check; nothing is lost while the disk holds"
        case "alerts": "the monitoring team acknowledges alerts upstream; reminders repeat until they do"
        case "clock": "timedatectl set-ntp true (and check that NTP can reach its servers)"
        case "keys": "vigil keys rotate, then systemctl restart vigil"
        case "disk": "free space on \(configuration.gateway.stateDirectory), or lower store.quota_mib; eviction keeps alerts longest"
        default:
            problem.message.contains("settings") ? "the device applies them when it next connects: check it is powered and in Wi-Fi range"
                : problem.message.contains("battery") ? "charge or replace the sensor's battery"
                : problem.message.contains("missing") ? "check Wi-Fi coverage where the patient is; gaps are recorded and uploaded as such"
                : "check the sensor is powered, worn and in Wi-Fi range; `vigil sensor show \(problem.subject.replacingOccurrences(of: "sensor ", with: ""))`"
        }
    }
}
