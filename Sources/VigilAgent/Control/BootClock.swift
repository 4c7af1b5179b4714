import Foundation

/// The gateway's clock that does not jump: CLOCK_BOOTTIME (ms since the kernel booted, counting
/// suspend), and which boot it counts from (the kernel's random `boot_id`). Together they place a
/// receipt on a time line the wall clock's jumps do not move, across agent restarts in one boot.
package enum BootClock {
    package static let milliseconds: @Sendable () -> Int64 = {
        var spec = timespec()
        clock_gettime(CLOCK_BOOTTIME, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// The first 8 bytes of `/proc/sys/kernel/random/boot_id` (a UUID the kernel draws at boot).
    /// The unit's `ProcSubset=pid` hides `/proc/sys`: then a random id kept in the runtime
    /// directory (`$RUNTIME_DIRECTORY/boot-id`: tmpfs, so gone at reboot, and kept across agent
    /// restarts by `RuntimeDirectoryPreserve=yes`). 0 when neither is there.
    package static let gatewayBoot: UInt64 = identify(environment: ProcessInfo.processInfo.environment)

    static func identify(bootIDFile: String = "/proc/sys/kernel/random/boot_id", environment: [String: String]) -> UInt64 {
        func parse(_ path: String) -> UInt64? {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
            return UInt64(text.filter(\.isHexDigit).prefix(16), radix: 16).flatMap { $0 == 0 ? nil : $0 }
        }
        if let id = parse(bootIDFile) { return id }
        guard let directory = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first.map(String.init) else { return 0 }
        let marker = directory + "/boot-id"
        if let id = parse(marker) { return id }
        let id = UInt64.random(in: 1...UInt64.max)
        let hex = String(id, radix: 16)
        let text = String(repeating: "0", count: 16 - hex.count) + hex + "\n"
        guard (try? text.write(toFile: marker, atomically: true, encoding: .utf8)) != nil else { return 0 }
        return id
    }
}
