/// Which (boot, sequence) pairs of one device have been accepted, to tell new readings from
/// duplicates and replays and to find gaps. Pure; the caller persists it.
///
/// Per boot it keeps a contiguous prefix (every sequence below `next` was accepted) and the
/// accepted sequences above it (sparse). Sequences start at 0 on every boot (PROTOCOL.md).
/// The newest `bootsKept` boots are tracked, so a device that reboots with readings still in
/// its ring buffer can deliver them; a frame from an older boot is a replay.
public struct SequenceTracker: Sendable, Equatable, Codable {
    public static let bootsKept = 4
    /// Bound on sparse sequences held per boot; beyond it the oldest gap is given up (recorded).
    public static let maxSparse = 4_096

    public struct BootState: Sendable, Equatable, Codable {
        public internal(set) var next: UInt32 = 0
        var above: Set<UInt32> = []
        /// Highest sequence accepted in this boot, if any.
        public internal(set) var highest: UInt32?

        /// Missing sequence ranges between the prefix and the highest accepted sequence.
        /// Linear in the sparse set (bounded), never in the size of a gap.
        public var gaps: [ClosedRange<UInt32>] {
            var ranges: [ClosedRange<UInt32>] = []
            var expected = next
            for seq in above.sorted() {
                if seq > expected { ranges.append(expected...(seq - 1)) }
                expected = seq &+ 1
            }
            return ranges
        }

        /// Every sequence ≤ this was accepted: what a durable ack may cover once stored.
        public var contiguousThrough: UInt32? { next == 0 ? nil : next - 1 }

        mutating func accept(_ seq: UInt32) {
            highest = max(highest ?? seq, seq)
            if seq == next {
                next &+= 1
                while above.remove(next) != nil { next &+= 1 }
            } else {
                above.insert(seq)
            }
        }

        func contains(_ seq: UInt32) -> Bool { seq < next || above.contains(seq) }

        /// Gives up everything missing up to `last`: the prefix moves past it.
        mutating func skip(through last: UInt32) {
            guard last >= next else { return }
            above = above.filter { $0 > last }
            next = last &+ 1
            while above.remove(next) != nil { next &+= 1 }
        }

        /// Gives up the lowest gap when sparse state grows past its bound; returns what was skipped.
        mutating func compact() -> ClosedRange<UInt32>? {
            guard above.count > SequenceTracker.maxSparse, let lowest = above.min() else { return nil }
            let skipped = next...(lowest - 1)
            next = lowest
            while above.remove(next) != nil { next &+= 1 }
            return skipped
        }
    }

    public enum Admission: Sendable, Equatable {
        /// Every record is new.
        case new
        /// Every record was accepted before (a resend or an MQTT redelivery): acknowledge again.
        case duplicate
        /// Some records are new; `fresh` lists them.
        case partial(fresh: [UInt32])
        /// The boot is older than every boot tracked.
        case replayed
    }

    public private(set) var boots: [UInt32: BootState] = [:]

    public init() {}

    public var newestBoot: UInt32? { boots.keys.max() }

    public func state(boot: UInt32) -> BootState? { boots[boot] }

    /// Classifies the records `first...last` of `boot` without changing anything.
    public func classify(boot: UInt32, first: UInt32, last: UInt32) -> Admission {
        guard let state = boots[boot] else {
            if boots.count >= Self.bootsKept, let oldest = boots.keys.min(), boot < oldest { return .replayed }
            return .new
        }
        var fresh: [UInt32] = []
        for seq in first...last where !state.contains(seq) { fresh.append(seq) }
        if fresh.isEmpty { return .duplicate }
        return fresh.count == Int(last - first) + 1 ? .new : .partial(fresh: fresh)
    }

    /// Gives up the readings of `boot` still missing up to `last` (a gap the device could not fill
    /// after resend requests): the acknowledgeable prefix moves past them.
    public mutating func skip(boot: UInt32, through last: UInt32) {
        boots[boot]?.skip(through: last)
    }

    /// Records `first...last` of `boot` as accepted. Returns a range given up by compaction, if any.
    @discardableResult
    public mutating func accept(boot: UInt32, first: UInt32, last: UInt32) -> ClosedRange<UInt32>? {
        var state = boots[boot] ?? BootState()
        for seq in first...last { state.accept(seq) }
        let skipped = state.compact()
        boots[boot] = state
        if boots.count > Self.bootsKept, let oldest = boots.keys.min() { boots.removeValue(forKey: oldest) }
        return skipped
    }
}
