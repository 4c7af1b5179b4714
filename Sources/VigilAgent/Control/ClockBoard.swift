import Synchronization
import VigilValidation

/// The gateway clock as the pipeline last saw it (jumps counted, the last one), and what the
/// uplink did with readings stored while it was unsynchronised, for status.
package final class ClockBoard: Sendable {
    private let clock = Mutex(GatewayClock())
    private let readings = Mutex((retimed: 0, uncertain: 0, held: 0))

    package init() {}

    package func update(_ value: GatewayClock) { clock.withLock { $0 = value } }

    package var current: GatewayClock { clock.withLock { $0 } }

    package func sent(retimed: Int, uncertain: Int) {
        readings.withLock { $0.retimed += retimed; $0.uncertain += uncertain }
    }

    package func holding(_ count: Int) { readings.withLock { $0.held = count } }

    /// Since start: readings sent with corrected times, sent as of uncertain time; held now.
    package var uplinkReadings: (retimed: Int, uncertain: Int, held: Int) { readings.withLock { $0 } }
}

extension StatusReport.Clock {
    /// The kernel's view with the agent's: how often the clock jumped, and the last jump.
    func with(_ board: ClockBoard) -> StatusReport.Clock {
        let clock = board.current
        var report = self
        let readings = board.uplinkReadings
        report.retimedReadings = readings.retimed
        report.uncertainReadings = readings.uncertain
        report.heldReadings = readings.held
        report.jumps = clock.jumps
        report.lastJumpAt = clock.lastJump?.at
        report.lastJumpMilliseconds = clock.lastJump?.by
        return report
    }
}
