import DequeModule
import Foundation
import Logging
import VigilCore
import VigilScoring
import VigilStore
import VigilValidation

/// The state rebuilt at start: the checkpoint, then the log on top of it. Readings the
/// checkpoint does not account for (stored after it was written) are replayed through the
/// scorer, in log order, with the upstream acknowledgements that came after it interleaved by
/// time: scoring is a pure function of that sequence, so the scorer ends where it was, and an
/// episode open before the restart simply continues. Their alerts are already in the log.
struct RestoredState: Sendable {
    enum Replay: Sendable {
        case readings(ReadingBatch)
        case acknowledgement(AlertEntry)
        /// A technical event (no data, not worn, …): its episode continues after the restart.
        case technical(AlertEntry)
    }

    var scorer: ReadingScorer.State?
    var lastAcknowledgement: Int64 = .min
    var replay: [Replay] = []
    /// Readings not replayed because there were more than ``maxReplayed`` (a log without a
    /// checkpoint, after an upgrade): the scorer starts from the newest ones.
    var skipped = 0

    /// Bound on readings replayed at start (about 14 hours of a sensor sending every second).
    static let maxReplayed = 50_000

    /// Builds the state from `checkpoint` and the log's entries (through `restore`, in log order).
    struct Builder {
        private(set) var validator = Validator()
        private var state = RestoredState()
        /// A deque: past the bound the oldest go from the front, once per batch added (an array's
        /// `removeFirst` made that quadratic on a large log without a checkpoint).
        private var readings: Deque<ReadingBatch> = []
        private var replayedCount = 0
        private var acknowledgements: [AlertEntry] = []
        private var technical: [AlertEntry] = []

        init(checkpoint: GatewayState?) {
            if let checkpoint {
                validator.restore(checkpoint.validator)
                state.scorer = checkpoint.scorer
                state.lastAcknowledgement = checkpoint.lastAcknowledgement
            }
        }

        mutating func add(_ entry: Entry) {
            switch entry {
            case .readings(var batch):
                guard let device = DeviceID(batch.device) else { return }
                batch.readings.removeAll { validator.isKnown(device: device, boot: batch.boot, seq: $0.seq) }
                guard !batch.readings.isEmpty else { return }
                validator.restore(device: device, boot: batch.boot, seqs: batch.readings.map(\.seq))
                readings.append(batch)
                replayedCount += batch.readings.count
                while replayedCount > RestoredState.maxReplayed, readings.count > 1 {
                    let dropped = readings.removeFirst().readings.count
                    replayedCount -= dropped
                    state.skipped += dropped
                }
            case .alert(let alert) where alert.event.kind == .acknowledge && alert.time > state.lastAcknowledgement:
                acknowledgements.append(alert)
            case .alert(let alert) where alert.event.condition != nil:
                // An event the checkpoint already reflects changes nothing when applied again
                // (``TechnicalMonitor/restore(_:)``), so every one the log holds is replayed.
                technical.append(alert)
            default:
                break
            }
        }

        /// The replay: readings in log order, each acknowledgement before the first batch
        /// received after it.
        func build() -> RestoredState {
            var result = state
            // Stable by time: events of one episode keep their log order.
            let events = (acknowledgements.map { Replay.acknowledgement($0) } + technical.map { Replay.technical($0) })
                .enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
            var pending = events[...]
            for batch in readings {
                while let event = pending.first, event.time <= batch.receivedAt {
                    result.replay.append(event)
                    pending = pending.dropFirst()
                }
                result.replay.append(.readings(batch))
            }
            result.replay += pending
            return result
        }
    }
}

extension RestoredState.Replay {
    /// When an alert event was recorded (readings: when the batch was received).
    var time: Int64 {
        switch self {
        case .readings(let batch): batch.receivedAt
        case .acknowledgement(let alert), .technical(let alert): alert.time
        }
    }
}
