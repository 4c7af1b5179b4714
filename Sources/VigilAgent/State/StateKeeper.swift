import CoreMetrics
import Foundation
import Logging
import Synchronization
import VigilCore
import VigilStore

/// Keeps the gateway's checkpoint (``GatewayState``) durable and in step with the log.
///
/// The pipeline hands over its state after every group commit (``update(_:covered:)``), with the
/// log positions that state accounts for. A checkpoint is written
/// - before any segment leaves the log (the store asks ``mayRemove(_:through:)``): deleted after
///   upload, thinned or evicted. So the checkpoint plus the log that is left always account for
///   every reading ever stored and acknowledged, and every episode;
/// - every `interval` while something changed, so a restart replays little of the log;
/// - at a graceful stop.
/// A segment whose entries the last handed-over state does not cover yet (committed but not
/// handed over, a moment's window) is refused and removed at the next attempt.
final class StateKeeper: Sendable {
    private struct Shared {
        var pipeline: PipelineState?
        var covered: [Lane: Position] = [:]
        var segments: [Lane: [SegmentSummary]] = [:]
        /// What the checkpoint on disk covers.
        var written: [Lane: Position] = [:]
        var dirty = false
    }

    private let shared = Mutex(Shared())
    /// Serializes writers (the store's guard on the uplink or pipeline thread, the periodic one).
    private let writing = Mutex(())
    private let file: CheckpointFile
    private let sensors: SensorBook?
    private let logger: Logger
    private let writes: Counter
    private let failures: Counter
    private let now: @Sendable () -> Int64

    init(file: CheckpointFile, sensors: SensorBook?, logger: Logger, metrics: any MetricsFactory,
         now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000) }) {
        self.file = file
        self.sensors = sensors
        self.logger = logger
        self.now = now
        writes = Counter(label: "vigil_checkpoint_writes_total", factory: metrics)
        failures = Counter(label: "vigil_checkpoint_failures_total", factory: metrics)
    }

    /// The pipeline's state after a commit, and the log it accounts for (``Store/known()``).
    func update(_ state: PipelineState, known: KnownLog) {
        shared.withLock {
            $0.pipeline = state
            $0.covered = known.covered
            $0.segments = known.segments
            $0.dirty = true
        }
    }

    /// Whether the entries of `lane` before `end` may leave the log: only once a durable
    /// checkpoint accounts for them (written now if the last one does not).
    func mayRemove(_ lane: Lane, through end: Position) -> Bool {
        let (covered, written) = shared.withLock { ($0.covered[lane], $0.written[lane]) }
        guard let covered, end <= covered else { return false }
        if let written, end <= written { return true }
        return write()
    }

    /// Writes a checkpoint if the state changed since the last one.
    func writeIfChanged() {
        guard shared.withLock({ $0.dirty }) else { return }
        _ = write()
    }

    /// Writes the checkpoint from the last handed-over state; `false` if there is none yet or the
    /// write failed (logged and counted: the log keeps everything meanwhile).
    @discardableResult
    func write() -> Bool {
        writing.withLock { _ in
            let (pipeline, covered, segments) = shared.withLock { shared in
                defer { shared.dirty = false }
                return (shared.pipeline, shared.covered, shared.segments)
            }
            guard let pipeline else { return false }
            let state = GatewayState(
                takenAt: now(), covered: Dictionary(uniqueKeysWithValues: covered.map { ("\($0.key)", $0.value) }),
                segments: Dictionary(uniqueKeysWithValues: segments.map { ("\($0.key)", $0.value) }),
                validator: pipeline.validator.checkpoint, scorer: pipeline.scorer,
                lastAcknowledgement: pipeline.lastAcknowledgement, sensors: sensors?.checkpoint ?? [:])
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = .sortedKeys
                try file.write(Array(try encoder.encode(state)))
            } catch {
                shared.withLock { $0.dirty = true }
                failures.increment()
                logger.error("could not write the checkpoint: segments stay in the log until it succeeds", metadata: [
                    "error": "\(error)",
                ])
                return false
            }
            shared.withLock { $0.written = covered }
            writes.increment()
            return true
        }
    }

    /// Reads the checkpoint at start. A missing one is a new gateway (or one from before
    /// checkpoints); an unreadable one is logged and the state is rebuilt from the log alone.
    static func load(_ file: CheckpointFile, logger: Logger) -> GatewayState? {
        do {
            guard let payload = try file.read() else { return nil }
            let state = try JSONDecoder().decode(GatewayState.self, from: Data(payload))
            guard state.version == GatewayState.currentVersion else {
                logger.error("ignoring a checkpoint of another version: state rebuilt from the log", metadata: [
                    "version": "\(state.version)",
                ])
                return nil
            }
            return state
        } catch {
            logger.error("ignoring an unreadable checkpoint: state rebuilt from the log", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
