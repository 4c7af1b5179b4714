import VigilCore
import VigilScoring
import VigilStore
import VigilValidation

/// What the gateway knows that must survive a restart, independent of which segments the uplink
/// has deleted (docs/STORE.md, "Checkpoint"): per device and boot the sequences stored (what the
/// ACK and the duplicate check need) and the clock offsets; the scorer's state, open alert
/// episodes included; the newest upstream acknowledgement applied; and the sensors' last facts.
///
/// It only ever describes committed entries: the pipeline hands it over after a group commit.
struct GatewayState: Codable, Sendable {
    static let currentVersion = 1

    var version = Self.currentVersion
    /// Unix ms when it was taken.
    var takenAt: Int64
    /// Per lane, the log position every entry before which it accounts for.
    var covered: [String: Position]
    /// Per lane, the sealed segments before `covered` as they were (absent from older
    /// checkpoints: the start after one reads the whole log).
    var segments: [String: [SegmentSummary]]?
    var validator: Validator.Checkpoint
    var scorer: ReadingScorer.State
    /// Time of the newest alert acknowledgement applied to `scorer` (log entries up to it are in).
    var lastAcknowledgement: Int64
    var sensors: [String: SensorBook.Remembered]

    /// What of the log this state already reflects, for ``Store/open(directory:keyring:options:fileSystem:logger:metrics:now:known:restore:)``.
    var known: KnownLog {
        var known = KnownLog(covered: [:], segments: [:])
        for lane in Lane.allCases {
            known.covered[lane] = covered["\(lane)"]
            known.segments[lane] = segments?["\(lane)"] ?? []
        }
        return known
    }
}

/// The part of the state the pipeline owns, handed over after each commit.
struct PipelineState: Sendable {
    var validator: Validator
    var scorer: ReadingScorer.State
    var lastAcknowledgement: Int64
}
