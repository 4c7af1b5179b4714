import Foundation

/// Figures about this process read from /proc (Linux only; the gateway's platform).
enum ProcessStats {
    /// Resident set size in KiB.
    static var residentKiB: Int { statusField("VmRSS:") }
    /// Peak resident set size in KiB.
    static var peakResidentKiB: Int { statusField("VmHWM:") }

    static var openFileDescriptors: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    static var threads: Int { statusField("Threads:") }

    private static func statusField(_ name: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? ""
            return Int(digits) ?? -1
        }
        return -1
    }
}
