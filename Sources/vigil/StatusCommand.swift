import ArgumentParser
import Foundation
import VigilAgent

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The gateway at a glance: agent, broker, uplink, backlog, alerts, disk, keys, clock, sensors.",
        discussion: """
            Asks the running agent over its control socket and lists what needs attention. For \
            monitoring, the exit status follows the monitoring-plugin convention: 0 all well; 1 a \
            warning (an offline sensor, a failing uplink, an unacknowledged alert, an unsynchronized \
            clock, …); 2 critical (the agent is not running, the broker is unreachable, the disk is \
            below its reserve). `vigil doctor` suggests fixes.
            """)
    @OptionGroup var options: ConfigOption
    @Flag(help: "JSON for scripts: the report and its problems.") var json = false

    struct Output: Encodable {
        var report: StatusReport
        var problems: [Problem]
        struct Problem: Encodable {
            var severity: String
            var subject: String
            var message: String
        }
    }

    func run() async throws {
        let configuration = try? VigilConfiguration.load(path: options.path)
        let fetched: StatusReport
        do {
            fetched = try await ControlClient(configuration: configuration).get("/v1/status", as: StatusReport.self)
        } catch {
            if json {
                print(#"{"problems":[{"severity":"critical","subject":"agent","message":"not reachable"}]}"#)
            } else {
                print(Terminal.paint("CRITICAL", .red) + "  agent: \(error)")
            }
            throw ExitCode(2)
        }
        var report = fetched
        // The agent's sandbox may hide the clock's state; this process can usually ask.
        if report.clock.synchronized == nil { report.clock = HostFacts.clock() }
        let now = Terminal.now()
        let problems = StatusAssessment.problems(report, now: now)
        let worst = problems.map(\.severity).max()
        if json {
            print(try Terminal.json(Output(report: report, problems: problems.map {
                .init(severity: $0.severity == .critical ? "critical" : "warning", subject: $0.subject, message: $0.message)
            })))
        } else {
            print(Self.render(report, now: now))
            if problems.isEmpty {
                print("\n" + Terminal.paint("OK", .green) + "  nothing needs attention")
            } else {
                print("")
                for problem in problems.sorted(by: { $0.severity > $1.severity }) {
                    let label = problem.severity == .critical ? Terminal.paint("CRITICAL", .red) : Terminal.paint("WARNING ", .yellow)
                    print("\(label)  \(problem.subject): \(problem.message)")
                }
            }
        }
        if let worst { throw ExitCode(Int32(worst.rawValue)) }
    }

    static func render(_ report: StatusReport, now: Int64) -> String {
        let uplink = report.uplink
        var uplinkText = uplink.kind == "none" ? "none configured (everything stays in the log)" : "\(uplink.kind) \(uplink.target ?? "")"
        if uplink.kind != "none" {
            let state = uplink.connected.map { $0 ? Terminal.paint("connected", .green) : Terminal.paint("failing", .red) } ?? "no request yet"
            uplinkText += ", \(state), last success \(Terminal.ago(uplink.lastSuccess, now: now))"
            if let error = uplink.lastError { uplinkText += ", last error \(Terminal.ago(uplink.lastErrorAt, now: now)): \(error)" }
        }
        let backlog = report.backlog
        var backlogText = "\(backlog.priorityRecords) priority + \(backlog.routineRecords) routine records, \(Terminal.bytes(Int64(backlog.bytes)))"
        if let oldest = backlog.oldest, backlog.priorityRecords + backlog.routineRecords > 0 { backlogText += ", oldest \(Terminal.ago(oldest, now: now))" }
        if let drain = backlog.estimatedDrainSeconds, backlog.priorityRecords + backlog.routineRecords > 0 {
            backlogText += ", drains in ~\(Terminal.duration(seconds: drain))"
        }
        let unacknowledged = report.openAlerts.filter { !$0.acknowledged }.count
        let disk = report.disk
        let lines: [(String, String)] = [
            ("agent", "vigil \(report.agent.version), gateway \(report.agent.gateway), pid \(report.agent.pid), up since \(Terminal.ago(report.agent.startedAt, now: now)), \(report.agent.messagesProcessed) messages"),
            ("broker", report.broker.connected ? Terminal.paint("connected", .green) + " to \(report.broker.address)"
                : Terminal.paint("disconnected", .red) + " from \(report.broker.address)" + (report.broker.problem.map { ": \($0)" } ?? "")),
            ("uplink", uplinkText),
            ("backlog", backlogText),
            ("alerts", report.openAlerts.isEmpty ? "none open" : "\(report.openAlerts.count) open, \(unacknowledged) not acknowledged: "
                + report.openAlerts.map { "\($0.alertID) (\($0.patient))" }.joined(separator: ", ")),
            ("disk", "\(Terminal.bytes(disk.freeBytes)) free of \(Terminal.bytes(disk.totalBytes)) on \(disk.path); log \(Terminal.bytes(Int64(disk.storeBytes))) of \(Terminal.bytes(disk.quotaBytes)) quota"),
            ("keys", "store key \(report.keys.currentKey)" + (report.keys.ageSeconds.map { ", \($0 / 86_400) days old" } ?? " (systemd credential)")),
            ("clock", (report.clock.synchronized.map { $0 ? "synchronized" + (report.clock.maxErrorMicroseconds.map { " (max error \($0 / 1_000) ms)" } ?? "")
                : Terminal.paint("not synchronized", .yellow) } ?? "unknown") + Self.jumpText(report.clock) + Self.retimingText(report.clock)),
            ("sensors", "\(report.sensors.filter(\.provisioned).count) provisioned, \(report.sensors.filter { $0.provisioned && $0.online == true }.count) online"),
        ]
        let width = lines.map(\.0.count).max() ?? 0
        var text = lines.map { "\($0.0.padding(toLength: width, withPad: " ", startingAt: 0))  \($0.1)" }.joined(separator: "\n")
        if report.sensors.contains(where: \.provisioned) {
            text += "\n\n" + Terminal.table(SensorText.header, report.sensors.filter(\.provisioned).map { SensorText.row($0, now: now) })
        }
        return text
    }

    /// "; 3,600 readings re-timed after the sync, 12 sent of uncertain time, 40 waiting for the
    /// sync", or nothing when the clock was never unsynchronised.
    static func retimingText(_ clock: StatusReport.Clock) -> String {
        var parts: [String] = []
        if let retimed = clock.retimedReadings, retimed > 0 { parts.append("\(retimed) readings re-timed after the sync") }
        if let uncertain = clock.uncertainReadings, uncertain > 0 { parts.append(Terminal.paint("\(uncertain) sent of uncertain time", .yellow)) }
        if let held = clock.heldReadings, held > 0 { parts.append(Terminal.paint("\(held) waiting for the sync", .yellow)) }
        return parts.isEmpty ? "" : "; " + parts.joined(separator: ", ")
    }

    /// "; jumped +730 days at 2026-12-02T08:00:00Z (1 jump since start)", or nothing.
    static func jumpText(_ clock: StatusReport.Clock) -> String {
        guard let jumps = clock.jumps, jumps > 0, let at = clock.lastJumpAt, let by = clock.lastJumpMilliseconds else { return "" }
        let magnitude = abs(by) / 1_000
        let amount = magnitude >= 86_400 * 2 ? "\(magnitude / 86_400) days" : magnitude >= 7_200 ? "\(magnitude / 3_600) h" : "\(magnitude) s"
        let when = Date(timeIntervalSince1970: Double(at) / 1_000).formatted(.iso8601)
        return Terminal.paint("; jumped \(by < 0 ? "-" : "+")\(amount) at \(when) (\(jumps) jump\(jumps == 1 ? "" : "s") since start)", .yellow)
    }
}
