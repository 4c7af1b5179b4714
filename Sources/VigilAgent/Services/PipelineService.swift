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
    private let clock = ContinuousClock()

    /// Devices tracked individually in metrics; beyond this, counts go to `device="_other"` so an
    /// unexpected flood of ids cannot grow memory or the metrics page without bound.
    static let maxTrackedDevices = 256

    public init(messages: MQTTMessages, topics: Topics, metrics: AgentMetrics, logger: Logger, summaryInterval: Duration) {
        self.messages = messages
        self.topics = topics
        self.metrics = metrics
        self.logger = logger
        self.summaryInterval = summaryInterval
    }

    /// Messages fully handled since start: the watchdog's measure of progress.
    public var processed: UInt64 { processedCount.load(ordering: .relaxed) }

    private struct DeviceCounters {
        var messages: Counter
        var bytes: Counter
        var intervalMessages = 0
        var intervalBytes = 0
    }

    public func run() async throws {
        var devices: [String: DeviceCounters] = [:]
        var rejectLog = RateLimiter<String>(burst: 5, interval: .seconds(60))
        let unknownTopic = metrics.rejected(reason: "unknown_topic")
        let start = clock.now
        var lastSummary = start

        // Ends when the ingest service stops the client and the inbox is drained.
        for await message in messages {
            let now = clock.now
            if let (device, kind) = topics.parse(message.topic), kind == .up || kind == .status {
                let key = devices.count < Self.maxTrackedDevices || devices[device.rawValue] != nil ? device.rawValue : "_other"
                let label = "\(key)/\(kind.rawValue)"
                var counters = devices[label] ?? DeviceCounters(
                    messages: metrics.messages(device: key, kind: kind.rawValue),
                    bytes: metrics.bytes(device: key, kind: kind.rawValue))
                counters.messages.increment()
                counters.bytes.increment(by: message.payload.count)
                counters.intervalMessages += 1
                counters.intervalBytes += message.payload.count
                devices[label] = counters
                logger.debug("message", metadata: ["device": "\(device)", "kind": "\(kind.rawValue)", "bytes": "\(message.payload.count)"])
            } else {
                unknownTopic.increment()
                if case .emit(let suppressed) = rejectLog.check("unknown_topic", now: now - start) {
                    logger.warning("rejected a message on a topic outside the scheme", metadata: [
                        "reason": "unknown_topic", "topic": "\(String(message.topic.prefix(96)))",
                        "bytes": "\(message.payload.count)", "suppressed": "\(suppressed)",
                    ])
                }
            }
            processedCount.add(1, ordering: .relaxed)
            if now - lastSummary >= summaryInterval {
                logSummary(&devices)
                lastSummary = now
            }
        }
        logSummary(&devices)
        logger.info("pipeline drained", metadata: ["processed": "\(processed)"])
        // The inbox closes when ingest stops, which happens first in a graceful shutdown; the
        // group expects services to finish in its order, so wait for our own turn.
        try? await gracefulShutdown()
    }

    private func logSummary(_ devices: inout [String: DeviceCounters]) {
        for label in devices.keys.sorted() where devices[label]!.intervalMessages > 0 {
            let parts = label.split(separator: "/")
            logger.info("received", metadata: [
                "device": "\(parts[0])", "kind": "\(parts[1])",
                "messages": "\(devices[label]!.intervalMessages)", "bytes": "\(devices[label]!.intervalBytes)",
            ])
            devices[label]!.intervalMessages = 0
            devices[label]!.intervalBytes = 0
        }
    }
}
