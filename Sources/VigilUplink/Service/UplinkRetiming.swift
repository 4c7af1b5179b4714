import CoreMetrics
import VigilCore
import VigilStore

/// The gateway's clock for the uplink (``GatewayTimeBase``), and where what the uplink did with
/// readings of uncertain time is reported (status).
package protocol GatewayTimeSource: Sendable {
    func timeBase() -> GatewayTimeBase
    /// Readings the far end confirmed: corrected, and sent as of uncertain time.
    func confirmed(retimed: Int, uncertain: Int)
    /// Readings waiting for the clock to synchronise (their records and everything after them).
    func holding(_ readings: Int)
}

/// What both uplinks do with records before mapping them: correct the times of those stored
/// while the gateway's clock was unsynchronised (``Retimer``), and stop at the first that must
/// wait for the sync (the log is sent in order, so what follows it waits too; the priority lane
/// never waits: alerts carry the time they were raised).
package struct UplinkRetiming: Sendable {
    package struct Prepared {
        package var records: [StoredRecord]
        /// Per record sent: readings corrected, and readings of uncertain time.
        package var counts: [(retimed: Int, uncertain: Int)]
        /// A record had to wait: `records` ends before it.
        package var held: Bool

        /// The counts of the first `count` records, once the far end has them.
        package func counts(through count: Int) -> (retimed: Int, uncertain: Int) {
            counts.prefix(count).reduce((0, 0)) { ($0.0 + $1.retimed, $0.1 + $1.uncertain) }
        }
    }

    private let source: (any GatewayTimeSource)?
    private let retimer: Retimer
    private let retimedCounter: Counter
    private let uncertainCounter: Counter

    /// `source` nil: records go as stored (their tags say the clock was unsynchronised).
    package init(source: (any GatewayTimeSource)?, holdLimit: Duration, factory: any MetricsFactory) {
        self.source = source
        retimer = Retimer(holdLimit: holdLimit.components.seconds * 1_000)
        retimedCounter = Counter(label: "vigil_uplink_readings_retimed_total", factory: factory)
        uncertainCounter = Counter(label: "vigil_uplink_readings_uncertain_total", factory: factory)
    }

    package func prepare(_ records: [StoredRecord]) -> Prepared {
        var prepared = Prepared(records: [], counts: [], held: false)
        guard let source, records.contains(where: \.entry.hasReceipt) else {
            source?.holding(0)
            prepared.records = records
            prepared.counts = Array(repeating: (0, 0), count: records.count)
            return prepared
        }
        let base = source.timeBase()
        prepared.records.reserveCapacity(records.count)
        for (index, record) in records.enumerated() {
            guard let outcome = retimer.prepare(record.entry, base: base) else {
                prepared.held = true
                source.holding(records[index...].reduce(0) { $0 + $1.entry.readingCount })
                return prepared
            }
            prepared.records.append(record.with(outcome.entry))
            prepared.counts.append((outcome.retimed, outcome.uncertain))
        }
        source.holding(0)
        return prepared
    }

    /// The far end confirmed the first `count` records of `prepared`.
    package func confirmed(_ prepared: Prepared, through count: Int) {
        let (retimed, uncertain) = prepared.counts(through: count)
        guard retimed + uncertain > 0 else { return }
        retimedCounter.increment(by: retimed)
        uncertainCounter.increment(by: uncertain)
        source?.confirmed(retimed: retimed, uncertain: uncertain)
    }
}

extension Entry {
    var hasReceipt: Bool {
        switch self {
        case .readings(let batch): batch.receipt != nil
        case .rollup(let rollup): rollup.receipt != nil
        case .alert, .gap, .coverage: false
        }
    }

    var readingCount: Int {
        switch self {
        case .readings(let batch): batch.readings.count
        case .rollup(let rollup): rollup.readingCount
        case .alert, .gap, .coverage: 0
        }
    }
}
