/// Decides whether the agent has earned a watchdog ping: pure, so every case is unit-tested.
///
/// Healthy means both halves of the ingest path move:
/// - the MQTT loop thread ticked since the last check (the supervisor probes it after every
///   check, and a live thread ticks at once, connected or not, so a broker outage is not a hang,
///   but a deadlocked thread is);
/// - the pipeline handled a message since the last check, or had nothing waiting (an idle
///   pipeline is not a stuck one; a pipeline with a backlog and no progress is).
public struct WatchdogPolicy: Sendable, Equatable {
    public struct Sample: Sendable, Equatable {
        public var loopTicks: UInt64
        public var processed: UInt64
        public var inboxDepth: Int

        public init(loopTicks: UInt64, processed: UInt64, inboxDepth: Int) {
            self.loopTicks = loopTicks
            self.processed = processed
            self.inboxDepth = inboxDepth
        }
    }

    public enum Verdict: Sendable, Equatable {
        case healthy
        case loopThreadStalled
        case pipelineStalled(backlog: Int)
    }

    private var previous: Sample?

    public init() {}

    public mutating func check(_ sample: Sample) -> Verdict {
        defer { previous = sample }
        guard let previous else { return .healthy }
        if sample.loopTicks == previous.loopTicks { return .loopThreadStalled }
        if sample.processed == previous.processed && sample.inboxDepth > 0 {
            return .pipelineStalled(backlog: sample.inboxDepth)
        }
        return .healthy
    }
}
