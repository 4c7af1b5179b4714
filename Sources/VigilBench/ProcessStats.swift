import Foundation

/// Figures about a process read from /proc (Linux only; the gateway's platform): this one by
/// default, or another (the agent under test) by pid.
struct ProcessStats {
    let pid: String

    init(pid: Int32? = nil) {
        self.pid = pid.map { "\($0)" } ?? "self"
    }

    /// Resident set size in KiB.
    var residentKiB: Int { statusField("VmRSS:") }
    /// Peak resident set size in KiB.
    var peakResidentKiB: Int { statusField("VmHWM:") }
    var threads: Int { statusField("Threads:") }

    var openFileDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }

    /// User + system CPU time in seconds (clock-tick resolution, 10 ms on Linux).
    var cpuSeconds: Double {
        // Fields after the command name, which is in parentheses and may contain spaces.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return -1 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // utime and stime are fields 14 and 15 of stat(5); the first field here is field 3.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return -1 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? ""
            return Int(digits) ?? -1
        }
        return -1
    }

    // This process (the figures the MQTT stress runs report about themselves).
    static var residentKiB: Int { ProcessStats().residentKiB }
    static var peakResidentKiB: Int { ProcessStats().peakResidentKiB }
    static var openFileDescriptors: Int { ProcessStats().openFileDescriptors }
    static var threads: Int { ProcessStats().threads }
}
