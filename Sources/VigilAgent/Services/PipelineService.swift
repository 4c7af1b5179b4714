import CoreMetrics
import Logging
import ServiceLifecycle
import Synchronization
import VigilCore
import VigilMQTT
import VigilProtocol

/// The per-message path. For now (before the protocol decoder lands) it classifies each message
/// by topic and counts and logs device ids and sizes, never payloads.
public final class PipelineService: Service {
    private let messages: MQTTMessages
    private let topics: Topics
    private let metrics: AgentMetrics
    private let logger: Logger
    private let summaryInterval: Duration
    private let processedCount = Atomic<UInt64>(0)
    /// Per device and kind, what arrived since the last summary line (shared with the ticker).
    private let interval = Mutex<[Key: Tally]>([:])

    /// Devices tracked individually in metrics; beyond this, counts go to `device="_other"` so an
    /// unexpected flood of ids cannot grow memory or the metrics page without bound.
    static let maxTrackedDevices = 256

    struct Key: Hashable, Comparable {
        var device: String
        var kind: Topics.Kind
        static func < (a: Key, b: Key) -> Bool { (a.device, a.kind.rawValue) < (b.device, b.kind.rawValue) }
    }

    struct Tally {
        var messages = 0
        var bytes = 0
    }

    public init(messages: MQTTMessages, topics: Topics, metrics: AgentMetrics, logger: Logger, summaryInterval: Duration) {
        self.messages = messages
        self.topics = topics
        self.metrics = metrics
        self.logger = logger
        self.summaryInterval = summaryInterval
    }

    /// Messages fully handled since start: the watchdog's measure of progress.
    public var processed: UInt64 { processedCount.load(ordering: .relaxed) }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.logSummaries() }
            await consume()
            group.cancelAll()
        }
        logSummary()
        logger.info("pipeline drained", metadata: ["processed": "\(processed)"])
        // The inbox closes when ingest stops, which happens first in a graceful shutdown; the
        // group expects services to finish in its order, so wait for our own turn.
        try? await gracefulShutdown()
    }

    /// Ends when the ingest service stops the client and the inbox is drained.
    private func consume() async {
        var counters: [Key: (messages: Counter, bytes: Counter)] = [:]
        var rejectLog = RateLimiter<String>(burst: 5, interval: .seconds(60))
        let unknownTopic = metrics.rejected(reason: "unknown_topic")
        let clock = ContinuousClock()
        let start = clock.now

        for await message in messages {
            if let (device, kind) = topics.parse(message.topic), kind == .up || kind == .status {
                var key = Key(device: device.rawValue, kind: kind)
                if counters[key] == nil && counters.count >= Self.maxTrackedDevices * 2 { key.device = "_other" }
                let pair = counters[key] ?? {
                    let created = (metrics.messages(device: key.device, kind: kind.rawValue), metrics.bytes(device: key.device, kind: kind.rawValue))
                    counters[key] = created
                    return created
                }()
                pair.messages.increment()
                pair.bytes.increment(by: message.payload.count)
                interval.withLock { tallies in
                    tallies[key, default: Tally()].messages += 1
                    tallies[key, default: Tally()].bytes += message.payload.count
                }
                logger.debug("message", metadata: ["device": "\(device)", "kind": "\(kind.rawValue)", "bytes": "\(message.payload.count)"])
            } else {
                unknownTopic.increment()
                if case .emit(let suppressed) = rejectLog.check("unknown_topic", now: clock.now - start) {
                    logger.warning("rejected a message on a topic outside the scheme", metadata: [
                        "reason": "unknown_topic", "topic": "\(String(message.topic.prefix(96)))",
                        "bytes": "\(message.payload.count)", "suppressed": "\(suppressed)",
                    ])
                }
            }
            processedCount.add(1, ordering: .relaxed)
        }
    }

    private func logSummaries() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: summaryInterval)
            logSummary()
        }
    }

    private func logSummary() {
        let tallies = interval.withLock { tallies in
            defer { tallies.removeAll(keepingCapacity: true) }
            return tallies
        }
        for key in tallies.keys.sorted() {
            logger.info("received", metadata: [
                "device": "\(key.device)", "kind": "\(key.kind.rawValue)",
                "messages": "\(tallies[key]!.messages)", "bytes": "\(tallies[key]!.bytes)",
            ])
        }
    }
}
