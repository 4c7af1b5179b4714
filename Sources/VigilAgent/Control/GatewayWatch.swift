import Synchronization
import VigilScoring

/// The gateway's own facts for the technical conditions (``GatewayFacts``), sampled at each of
/// the pipeline's ticks: whether the local broker is reachable and since when, how long the
/// uplink has failed, whether the clock is synchronised, what the store evicted, the disk.
/// Each source is a closure, so tests drive it without a broker, an uplink or a kernel clock.
package final class GatewayWatch: Sendable {
    package struct Sources: Sendable {
        package var brokerConnected: @Sendable () -> Bool = { true }
        package var uplinkFailingSince: @Sendable () -> Int64? = { nil }
        /// Whether the uplink has succeeded or failed at all since start.
        package var uplinkKnown: @Sendable () -> Bool = { true }
        /// `nil`: the system cannot tell.
        package var clockSynchronized: @Sendable () -> Bool? = { nil }
        package var evictedReadings: @Sendable () -> UInt64 = { 0 }
        package var diskFreeMiB: @Sendable () -> Int? = { nil }

        package init() {}
    }

    private struct State {
        var connected: Bool?
        var downSince: Int64?
        var listeningSince: Int64
        var unsyncedSince: Int64?
    }

    private let sources: Sources
    private let state: Mutex<State>

    /// `startedAt`: silence is counted from here at the earliest (the gateway heard nothing before).
    package init(_ sources: Sources, startedAt: Int64) {
        self.sources = sources
        state = Mutex(State(listeningSince: startedAt))
    }

    /// Whether the clock is synchronised now (`nil`: the system cannot tell), without sampling.
    package var clockSynchronized: Bool? { sources.clockSynchronized() }

    /// The facts at `now`, and since when the gateway has been listening to the sensors' broker.
    package func sample(at now: Int64) -> (facts: GatewayFacts, listeningSince: Int64) {
        let connected = sources.brokerConnected()
        let synchronized = sources.clockSynchronized()
        return state.withLock { state in
            if connected, state.connected != true { state.listeningSince = max(state.listeningSince, now); state.downSince = nil }
            if !connected, state.downSince == nil { state.downSince = now }
            state.connected = connected
            if synchronized == false { state.unsyncedSince = state.unsyncedSince ?? now } else { state.unsyncedSince = nil }
            var facts = GatewayFacts()
            facts.brokerConnected = connected
            facts.brokerDownSince = state.downSince
            facts.uplinkFailingSince = sources.uplinkFailingSince()
            facts.uplinkKnown = sources.uplinkKnown()
            facts.clockUnsyncedSince = state.unsyncedSince
            facts.evictedReadings = sources.evictedReadings()
            facts.diskFreeMiB = sources.diskFreeMiB()
            return (facts, state.listeningSince)
        }
    }
}
