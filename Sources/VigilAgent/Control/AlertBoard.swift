import Synchronization
import VigilCore
import VigilScoring

/// The open alert episodes as the pipeline last left them, for `vigil status` and the metrics.
package final class AlertBoard: Sendable {
    private let open = Mutex<[OpenAlertReport]>([])

    package init() {}

    package func replace(with alerts: [OpenAlertReport]) { open.withLock { $0 = alerts } }

    package var alerts: [OpenAlertReport] { open.withLock { $0 } }
}

/// The coverage ledger as the pipeline last left it (each tick), for `vigil report coverage`.
package final class CoverageBoard: Sendable {
    private let ledger = Mutex(CoverageLedger())

    package init() {}

    package func replace(with ledger: CoverageLedger) { self.ledger.withLock { $0 = ledger } }

    package func report(patient: String?, days: Int, now: Int64) -> [CoverageDay] {
        ledger.withLock { $0.report(patient: patient, days: days, now: now) }
    }
}
