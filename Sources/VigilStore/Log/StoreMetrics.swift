import CoreMetrics

/// The store's metrics (Prometheus names), created from an injected factory.
public struct StoreMetrics: Sendable {
    let factory: any MetricsFactory
    let noSpace: Counter
    let quarantined: Gauge
    let oldestSeconds: Gauge
    let commits: Counter
    let damagedOnRead: Counter

    public init(factory: any MetricsFactory) {
        self.factory = factory
        noSpace = Counter(label: "vigil_store_no_space_total", factory: factory)
        quarantined = Gauge(label: "vigil_store_quarantined_segments", factory: factory)
        oldestSeconds = Gauge(label: "vigil_store_oldest_seconds", factory: factory)
        commits = Counter(label: "vigil_store_commits_total", factory: factory)
        damagedOnRead = Counter(label: "vigil_store_damaged_on_read_total", factory: factory)
    }

    func appended(lane: Lane, count: Int) {
        Counter(label: "vigil_store_appended_records_total", dimensions: [("lane", "\(lane)")], factory: factory).increment(by: count)
    }

    func dropped(lane: Lane, count: Int) {
        Counter(label: "vigil_store_dropped_records_total", dimensions: [("lane", "\(lane)")], factory: factory).increment(by: count)
    }

    func evicted(kind: DataGap.Reason, readings: Int) {
        Counter(label: "vigil_store_evictions_total", dimensions: [("kind", kind.rawValue)], factory: factory).increment()
        Counter(label: "vigil_store_evicted_readings_total", dimensions: [("kind", kind.rawValue)], factory: factory)
            .increment(by: readings)
    }

    func update(_ store: Store) {
        commits.increment()
        var oldest = Int64.max
        for (lane, state) in store.lanes {
            Gauge(label: "vigil_store_bytes", dimensions: [("lane", "\(lane)")], factory: factory)
                .record(state.segments.reduce(0) { $0 + $1.size })
            Gauge(label: "vigil_store_records", dimensions: [("lane", "\(lane)")], factory: factory)
                .record(Int(state.segments.reduce(0) { $0 + $1.records }))
            Gauge(label: "vigil_store_segments", dimensions: [("lane", "\(lane)")], factory: factory).record(state.segments.count)
            for segment in state.segments where segment.records > 0 { oldest = min(oldest, segment.created) }
        }
        oldestSeconds.record(oldest == .max ? 0 : max(0, (store.now() - oldest) / 1_000))
    }
}
