import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilValidation

/// The per-message path: topic → device → decode and authenticate → validate (duplicates,
/// replays, gaps, clock) → accepted readings. Rejections are counted per reason and logged at a
/// bounded rate, with device ids and reason codes only, never readings.
///
/// Until the encrypted store lands (issue 4) accepted readings are counted, not kept, and no
/// durable ACK is sent: an ACK promises "on disk", and nothing is on disk yet.
public final class PipelineService: Service {
    public struct Dependencies: Sendable {
        public var messages: MQTTMessages
        public var topics: Topics
        public var registry: DeviceRegistry
        public var metrics: AgentMetrics
        public var logger: Logger
        public var summaryInterval: Duration
        /// Fire-and-forget publish to a device topic (resend requests).
        public var publish: @Sendable (String, [UInt8]) -> Void
        public var limits: Validator.Limits = .init()
    }

    private let dependencies: Dependencies
    private var logger: Logger { dependencies.logger }
    private let processedCount = Atomic<UInt64>(0)
    /// Per device and kind, what arrived since the last summary line (shared with the ticker).
    private let interval = Mutex<[Key: Tally]>([:])

    struct Key: Hashable, Comparable {
        var device: String
        var kind: String
        static func < (a: Key, b: Key) -> Bool { (a.device, a.kind) < (b.device, b.kind) }
    }

    struct Tally {
        var messages = 0
        var bytes = 0
        var readings = 0
    }

    public init(_ dependencies: Dependencies) {
        self.dependencies = dependencies
    }

    /// Messages fully handled since start: the watchdog's measure of progress.
    public var processed: UInt64 { processedCount.load(ordering: .relaxed) }

    public func run() async throws {
        dependencies.registry.reload()
        logger.info("device registry loaded", metadata: ["devices": "\(dependencies.registry.count)"])
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
        var handler = MessageHandler(dependencies: dependencies, tally: { [self] key, bytes, readings in
            self.interval.withLock { tallies in
                tallies[key, default: Tally()].messages += 1
                tallies[key, default: Tally()].bytes += bytes
                tallies[key, default: Tally()].readings += readings
            }
        })
        for await message in dependencies.messages {
            handler.handle(message)
            processedCount.add(1, ordering: .relaxed)
        }
    }

    private func logSummaries() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: dependencies.summaryInterval)
            logSummary()
        }
    }

    private func logSummary() {
        let tallies = interval.withLock { tallies in
            defer { tallies.removeAll(keepingCapacity: true) }
            return tallies
        }
        for key in tallies.keys.sorted() {
            var metadata: Logger.Metadata = [
                "device": "\(key.device)", "kind": "\(key.kind)",
                "messages": "\(tallies[key]!.messages)", "bytes": "\(tallies[key]!.bytes)",
            ]
            if key.kind == "up" { metadata["readings"] = "\(tallies[key]!.readings)" }
            logger.info("received", metadata: metadata)
        }
    }
}
