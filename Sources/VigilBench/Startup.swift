import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import VigilStore

/// Start to READY with a full log: the log is filled with `--mib` MiB of routine readings (one
/// per batch, 16 sensors interleaved, as a gateway in a long outage stores them), then the real
/// agent (`vigil run`, its uplink's endpoint down) is started three times and the time from
/// spawn to its READY=1 on a `NOTIFY_SOCKET` measured: without a checkpoint (the whole log read),
/// and with the checkpoint the first run wrote at its stop, with the page cache dropped (as after
/// a reboot, when this process may write /proc/sys/vm/drop_caches) and warm. JSON on stdout.
struct Startup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "startup", abstract: "Start to READY of the agent with a full log, with and without its checkpoint.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "The vigil executable.") var vigil: String
    @Option(help: "MiB of readings in the log before the agent starts.") var mib = 1_024
    @Option(help: "Directory for the agent's state.") var directory = ".build/bench-startup"
    @Flag(help: "Never drop the page cache (a short run inside the test suite).") var keepPageCache = false

    func run() async throws {
        let root = directory + "/run-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let state = root + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let keyring = Keyring.generate()

        let fillStart = ContinuousClock.now
        let (store, _) = try Store.open(directory: state + "/log", keyring: keyring,
                                        options: StoreOptions(segmentBytes: 4 << 20, quotaBytes: 1 << 40, reserveBytes: 0), logger: logger)
        let base: Int64 = 1_795_000_000_000
        var readings = 0
        while store.stats.lanes[.routine].map({ $0.bytes }) ?? 0 < mib << 20 {
            for _ in 0..<16_384 {
                let device = readings % 16, seq = UInt32(readings / 16)
                let time = base + Int64(seq) * 1_000
                store.append(.readings(ReadingBatch(
                    device: "sensor-\(device)", patient: "Patient/p\(device)", boot: 1, timeQuality: .device, receivedAt: time, readings: [
                        StoredReading(seq: seq, time: time, deviceTime: UInt64(time),
                                      values: [.init(channel: .pulseRate, raw: 720 + Int16(seq % 9)), .init(channel: .spo2, raw: 970),
                                               .init(channel: .respiratoryRate, raw: 150)]),
                    ])))
                readings += 1
                if readings % 4_096 == 0 { _ = try store.commit() }
            }
        }
        _ = try store.commit()
        let logBytes = store.stats.lanes.values.reduce(0) { $0 + $1.bytes }
        let segments = store.stats.lanes.values.reduce(0) { $0 + $1.segments }
        try store.close()
        let fillSeconds = (ContinuousClock.now - fillStart).seconds

        let notify = try NotifyListener(path: root + "/notify.sock")
        let agent = try AgentUnderTest(
            vigil: vigil, root: root, brokerHost: broker.host, brokerPort: broker.port,
            // A closed port: the hospital is unreachable, as after the outage that built the backlog.
            uplinkURL: "http://127.0.0.1:9/fhir", clientID: "vigil-startup-\(getpid())", keyring: keyring,
            extra: "logging:\n  level: notice\n", environment: [
                "NOTIFY_SOCKET": notify.path, "VIGIL_STORE_QUOTA_MIB": "\(max(1_024, mib * 2))",
            ])

        func startToReady(dropCaches: Bool) throws -> (seconds: Double, hwmKiB: Int, cold: Bool) {
            let cold = dropCaches && !keepPageCache && Self.dropPageCache()
            notify.drain()
            let start = ContinuousClock.now
            try agent.start()
            defer { agent.stop() }
            let deadline = start + .seconds(600)
            while !notify.receivedReady() {
                try agent.checkRunning()
                guard ContinuousClock.now < deadline else { throw ValidationError("no READY=1 within 600 s:\n" + agent.logTail()) }
            }
            let seconds = (ContinuousClock.now - start).seconds
            return (seconds, agent.stats?.peakResidentKiB ?? 0, cold)
        }
        let full = try startToReady(dropCaches: true)
        guard FileManager.default.fileExists(atPath: state + "/log/checkpoint") else {
            throw ValidationError("the first run left no checkpoint:\n" + agent.logTail())
        }
        let coldCheckpoint = try startToReady(dropCaches: true)
        let warmCheckpoint = try startToReady(dropCaches: false)
        let opened = agent.logTail(100_000).components(separatedBy: "\n").filter { $0.contains("store opened") }
        try printJSON([
            "log_mib": Double(logBytes) / 1_048_576, "segments": segments, "readings": readings, "fill_seconds": fillSeconds,
            "ready_seconds_without_checkpoint": full.seconds, "vmhwm_mib_without_checkpoint": Double(full.hwmKiB) / 1_024,
            "ready_seconds_with_checkpoint_cold": coldCheckpoint.seconds,
            "ready_seconds_with_checkpoint_warm": warmCheckpoint.seconds,
            "vmhwm_mib_with_checkpoint": Double(warmCheckpoint.hwmKiB) / 1_024,
            "page_cache_dropped": full.cold && coldCheckpoint.cold,
            "store_opened_lines": opened,
        ])
    }

    /// Empties the page cache (root only), so the next start reads the log from the disk.
    static func dropPageCache() -> Bool {
        sync()
        return (try? "3\n".write(toFile: "/proc/sys/vm/drop_caches", atomically: false, encoding: .utf8)) != nil
    }
}

/// The receiving end of `sd_notify`: a Unix datagram socket the agent finds in `NOTIFY_SOCKET`.
final class NotifyListener {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw ValidationError("bind \(path): \(String(cString: strerror(errno)))") }
        // Waits of 10 ms at most, so the caller can check that the agent still runs.
        var timeout = timeval(tv_sec: 0, tv_usec: 10_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Whether a datagram with READY=1 arrived (waiting up to 10 ms).
    func receivedReady() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return false }
        return String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").contains("READY=1")
    }

    /// Discards what an earlier run sent.
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
    }

    deinit {
        close(fd)
        unlink(path)
    }
}
