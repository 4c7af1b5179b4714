import Synchronization
import VigilUplink

/// How the hospital uplink is doing, for `vigil status` and the metrics: whether the last request
/// succeeded, when the last success and the last error were, and how fast records are confirmed.
package final class UplinkStatus: Sendable, UplinkObserver {
    package let kind: String
    package let target: String?

    private struct State {
        var connected: Bool?
        var lastSuccess: Int64?
        var lastError: String?
        var lastErrorAt: Int64?
        /// The first failure since the last success.
        var failingSince: Int64?
        var confirmed = RateWindow()
    }

    private let state = Mutex(State())

    package init(kind: String, target: String?) {
        self.kind = kind
        self.target = target
    }

    /// A request (or publish) the far end confirmed; `records` log records it completed.
    package func succeeded(records: Int, at time: Int64) {
        state.withLock { state in
            state.connected = true
            state.lastSuccess = time
            state.failingSince = nil
            if records > 0 { state.confirmed.add(UInt64(records), at: time) }
        }
    }

    /// A failed attempt: the reason is kept short and carries no payload (error texts only).
    package func failed(_ reason: String, at time: Int64) {
        state.withLock { state in
            state.connected = false
            state.lastError = String(reason.prefix(200))
            state.lastErrorAt = time
            if state.failingSince == nil { state.failingSince = time }
        }
    }

    /// When the current run of failures began (`nil` while requests succeed).
    package var failingSince: Int64? { state.withLock { $0.failingSince } }

    /// Whether any request succeeded or failed since start.
    package var hasReported: Bool { state.withLock { $0.connected != nil } }

    package func report(at time: Int64) -> StatusReport.Uplink {
        state.withLock { state in
            StatusReport.Uplink(kind: kind, target: target, connected: state.connected, lastSuccess: state.lastSuccess,
                                lastError: state.lastError, lastErrorAt: state.lastErrorAt,
                                recordsPerSecond: Double(state.confirmed.lastMinute(at: time)) / 60)
        }
    }
}
