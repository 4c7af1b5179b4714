import Foundation

import CLinuxTime

/// Facts about the machine the status report needs: free disk space, whether the kernel clock is
/// synchronized, how old a file is. Each answers `nil` when the system cannot tell.
public enum HostFacts {
    /// Free (available to unprivileged writers) and total bytes of the file system holding `path`.
    package static func disk(_ path: String) -> (free: Int64, total: Int64)? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let unit = Int64(info.f_frsize)
        return (Int64(info.f_bavail) * unit, Int64(info.f_blocks) * unit)
    }

    /// The kernel's NTP state (adjtimex, changing nothing): synchronized unless STA_UNSYNC is set
    /// or it reports TIME_ERROR. Under the unit's seccomp filter (@clock denied) the call fails;
    /// then systemd-timesyncd's flag file answers, and without it the state is unknown (`nil`).
    public static func clock() -> StatusReport.Clock {
        var timex = CLinuxTime.timex()
        timex.modes = 0
        let result = adjtimex(&timex)
        if result == -1 {
            let flag = FileManager.default.fileExists(atPath: "/run/systemd/timesync/synchronized")
            return StatusReport.Clock(synchronized: flag ? true : nil, maxErrorMicroseconds: nil)
        }
        let unsynchronized = result == TIME_ERROR || (timex.status & Int32(STA_UNSYNC)) != 0
        return StatusReport.Clock(synchronized: !unsynchronized, maxErrorMicroseconds: Int64(timex.maxerror))
    }

    /// Seconds since `path` was last modified.
    package static func age(of path: String, now: Date = Date()) -> Int64? {
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date else { return nil }
        return Int64(now.timeIntervalSince(modified))
    }
}
