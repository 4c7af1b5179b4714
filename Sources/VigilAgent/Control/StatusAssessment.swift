import Foundation

/// What in a status report needs someone's attention, and how much: the basis of `vigil status`'s
/// exit code (monitoring-plugin convention: 0 fine, 1 warning, 2 critical) and of a metric. Pure.
public struct StatusProblem: Sendable, Equatable {
    public enum Severity: Int, Sendable, Comparable {
        case warning = 1
        case critical = 2
        public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
    }

    public var severity: Severity
    /// What it concerns: `broker`, `uplink`, `disk`, `sensor <id>`, …
    public var subject: String
    public var message: String
}

public enum StatusAssessment {
    /// A sensor silent for longer than this is offline even without its last will.
    public static let silentAfterMilliseconds: Int64 = 5 * 60_000
    public static let lowBattery = 20
    public static let minimumCompleteness = 0.95
    public static let uplinkStaleMilliseconds: Int64 = 60 * 60_000
    public static let backlogOldMilliseconds: Int64 = 24 * 60 * 60_000
    public static let keyOldSeconds: Int64 = 365 * 24 * 3_600

    public static func problems(_ report: StatusReport, now: Int64) -> [StatusProblem] {
        var problems: [StatusProblem] = []
        func add(_ severity: StatusProblem.Severity, _ subject: String, _ message: String) {
            problems.append(.init(severity: severity, subject: subject, message: message))
        }
        if !report.broker.connected {
            add(.critical, "broker", "not connected to \(report.broker.address)" + (report.broker.problem.map { ": \($0)" } ?? ""))
        }
        if report.disk.freeBytes >= 0 && report.disk.freeBytes < report.disk.reserveBytes {
            add(.critical, "disk", "\(report.disk.freeBytes >> 20) MiB free, below the \(report.disk.reserveBytes >> 20) MiB reserve: routine readings are not stored")
        }
        if report.disk.storeBytes > Int(report.disk.quotaBytes) * 9 / 10 {
            add(.warning, "disk", "the log uses over 90% of its quota: old routine readings are being thinned")
        }
        let unsent = report.backlog.priorityRecords + report.backlog.routineRecords
        if report.uplink.kind != "none" {
            if report.uplink.connected == false {
                add(.warning, "uplink", "last request failed: \(report.uplink.lastError ?? "unknown error")")
            }
            if unsent > 0, now - (report.uplink.lastSuccess ?? report.agent.startedAt) > uplinkStaleMilliseconds {
                add(.warning, "uplink", "nothing confirmed for over an hour with \(unsent) records waiting")
            }
        }
        if let oldest = report.backlog.oldest, unsent > 0, now - oldest > backlogOldMilliseconds {
            add(.warning, "backlog", "unsent records are over a day old")
        }
        let unacknowledged = report.openAlerts.filter { !$0.acknowledged }
        if !unacknowledged.isEmpty {
            add(.warning, "alerts", "\(unacknowledged.count) open alert(s) not acknowledged")
        }
        if report.clock.synchronized == false {
            add(.warning, "clock", "not synchronized (NTP): reading times are the gateway's best guess")
        }
        if let age = report.keys.ageSeconds, age > keyOldSeconds {
            add(.warning, "keys", "the store key is over a year old: rotate it (vigil keys rotate)")
        }
        for sensor in report.sensors where sensor.provisioned {
            problems += sensorProblems(sensor, now: now)
        }
        return problems
    }

    public static func sensorProblems(_ sensor: SensorReport, now: Int64) -> [StatusProblem] {
        var problems: [StatusProblem] = []
        let subject = "sensor \(sensor.device)"
        if sensor.online == false {
            problems.append(.init(severity: .warning, subject: subject, message: "offline (its last will arrived)"))
        } else if let seen = sensor.lastSeen, now - seen > silentAfterMilliseconds {
            problems.append(.init(severity: .warning, subject: subject, message: "silent for \((now - seen) / 60_000) min"))
        } else if sensor.lastSeen == nil {
            problems.append(.init(severity: .warning, subject: subject, message: "never seen since the agent started"))
        }
        if let battery = sensor.battery, battery < lowBattery {
            problems.append(.init(severity: .warning, subject: subject, message: "battery at \(battery)%"))
        }
        if let completeness = sensor.completeness, completeness < minimumCompleteness {
            problems.append(.init(severity: .warning, subject: subject,
                                  message: "\(sensor.expected - sensor.received) of \(sensor.expected) readings missing"))
        }
        if sensor.configPending {
            problems.append(.init(severity: .warning, subject: subject,
                                  message: "settings version \(sensor.configWanted ?? 0) not applied yet (device reports \(sensor.configApplied.map(String.init) ?? "none"))"))
        }
        return problems
    }
}
