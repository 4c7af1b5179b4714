import Foundation
import Logging
import Synchronization
import VigilCore
import VigilUplink

/// The gateway's clock for the uplink (``GatewayTimeSource``): wall minus boot-time now, whether
/// the wall clock is synchronised, and the synchronised offsets of earlier boots, remembered in
/// `<state>/clock-bases.json` so readings stored before a reboot are corrected after it too (a
/// box that loses power before its upload still knows how wrong its clock was, once it synced).
package final class GatewayTimeline: GatewayTimeSource {
    package struct Sources: Sendable {
        package var wallClock: @Sendable () -> Int64
        package var bootClock: @Sendable () -> Int64 = BootClock.milliseconds
        package var gatewayBoot: UInt64 = BootClock.gatewayBoot
        /// `nil`: the system cannot tell (trusted, as the pipeline does).
        package var synchronized: @Sendable () -> Bool?

        package init(wallClock: @escaping @Sendable () -> Int64, synchronized: @escaping @Sendable () -> Bool?) {
            self.wallClock = wallClock
            self.synchronized = synchronized
        }
    }

    /// Boots remembered (the newest): readings older than that many reboots are long uploaded.
    static let remembered = 8

    private struct Base: Codable, Equatable {
        var boot: UInt64
        var wallOffset: Int64
    }

    private let sources: Sources
    private let file: URL?
    private let board: ClockBoard?
    private let logger: Logger
    /// Newest last; the current boot's, once synchronised, is the last.
    private let bases: Mutex<[Base]>

    package init(_ sources: Sources, stateDirectory: String?, board: ClockBoard?, logger: Logger) {
        self.sources = sources
        file = stateDirectory.map { URL(fileURLWithPath: $0).appendingPathComponent("clock-bases.json") }
        self.board = board
        self.logger = logger
        let loaded = file.flatMap { try? Data(contentsOf: $0) }.flatMap { try? JSONDecoder().decode([Base].self, from: $0) }
        bases = Mutex(loaded ?? [])
    }

    package func timeBase() -> GatewayTimeBase {
        let bootTime = sources.bootClock()
        let offset = sources.wallClock() - bootTime
        let synchronized = sources.synchronized() != false
        let boot = sources.gatewayBoot
        let (earlier, changed) = bases.withLock { bases -> ([UInt64: Int64], [Base]?) in
            var changed: [Base]?
            if synchronized, bases.last.map({ $0.boot != boot || abs($0.wallOffset - offset) > 1_000 }) ?? true {
                // The first synchronised look of this boot, or the clock was set again since.
                bases.removeAll { $0.boot == boot }
                bases.append(Base(boot: boot, wallOffset: offset))
                bases.removeFirst(max(0, bases.count - Self.remembered))
                changed = bases
            }
            var earlier: [UInt64: Int64] = [:]
            for base in bases where base.boot != boot { earlier[base.boot] = base.wallOffset }
            return (earlier, changed)
        }
        if let changed { persist(changed) }
        return GatewayTimeBase(boot: boot, bootTime: bootTime, wallOffset: offset, synchronized: synchronized, earlier: earlier)
    }

    package func confirmed(retimed: Int, uncertain: Int) { board?.sent(retimed: retimed, uncertain: uncertain) }

    package func holding(_ readings: Int) { board?.holding(readings) }

    private func persist(_ bases: [Base]) {
        guard let file else { return }
        do {
            let temporary = file.appendingPathExtension("tmp")
            try JSONEncoder().encode(bases).write(to: temporary)
            guard rename(temporary.path, file.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            logger.warning("could not remember the gateway clock's offset for this boot", metadata: ["error": "\(error)"])
        }
    }
}
