import Synchronization
import VigilScoring

/// The open alert episodes as the pipeline last left them, for `vigil status` and the metrics.
package final class AlertBoard: Sendable {
    private let open = Mutex<[OpenAlertReport]>([])

    package init() {}

    package func replace(with alerts: [OpenAlertReport]) { open.withLock { $0 = alerts } }

    package var alerts: [OpenAlertReport] { open.withLock { $0 } }
}
