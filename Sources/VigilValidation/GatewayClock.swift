import VigilCore

/// The gateway's own wall clock watched against its monotonic clock: a Raspberry-Pi-class box has
/// no battery-backed clock, so it boots with a stale time and jumps when NTP first syncs (or when
/// someone sets it). Pure; the caller passes both clocks' readings.
///
/// Wall minus monotonic stays put while the clock runs (NTP slews by at most 0.5 ms/s); a change of
/// more than ``tolerance`` between two samples is a jump, by that much. Sampled on every message
/// and tick, so slewing never adds up to a false jump.
public struct GatewayClock: Sendable, Equatable {
    public static let tolerance: Int64 = 1_000

    public struct Jump: Sendable, Equatable {
        /// The wall clock just after the jump (Unix ms).
        public var at: Int64
        /// How far it moved (ms; negative: backwards).
        public var by: Int64
    }

    /// Wall minus monotonic (ms) at the last sample.
    public private(set) var offset: Int64?
    public private(set) var jumps = 0
    public private(set) var lastJump: Jump?

    public init() {}

    /// A sample of both clocks; the jump since the previous sample, if the wall clock jumped.
    public mutating func observe(wall: Int64, monotonic: Int64) -> Jump? {
        let current = wall - monotonic
        defer { offset = current }
        guard let previous = offset, abs(current - previous) > Self.tolerance else { return nil }
        let jump = Jump(at: wall, by: current - previous)
        jumps += 1
        lastJump = jump
        return jump
    }
}
