import Crypto
import Foundation
import Logging
import Metrics
import Synchronization
import Testing
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilStore
import VigilTestSupport
import VigilValidation
@testable import VigilAgent
import VigilProvisioning

/// The pipeline in-process, through its seams: messages from the in-memory inbox twin, device
/// publishes into a list, the store on a file system that counts syncs and fails them on demand.
@Suite struct PipelineTests {
    final class Published: Sendable {
        /// Each device publish with the number of completed fdatasyncs when it was made.
        let events = Mutex<[(topic: String, syncs: Int)]>([])
    }

    struct Harness {
        let pipeline: PipelineService
        let source: MQTTMessageSource
        let fileSystem: FaultInjectingFileSystem
        let published: Published
        let key: DeviceKey
        let directory: TemporaryDirectory
    }

    func harness() throws -> Harness {
        let directory = try TemporaryDirectory("pipeline")
        let fileSystem = FaultInjectingFileSystem()
        let (store, _) = try Store.open(directory: directory.path + "/log", keyring: .generate(), fileSystem: fileSystem,
                                        logger: Logger(label: "t"))
        let keyBytes = Array(repeating: UInt8(0x2B), count: 32)
        let devices = URL(fileURLWithPath: directory.path + "/devices")
        try DeviceRegistry.write(.init(device: "dev-p", patient: "Patient/p", kind: "vitals-patch", key: hexString(keyBytes)), to: devices)
        let (messages, source) = MQTTMessages.inMemory()
        let published = Published()
        let publish: @Sendable (String, [UInt8]) -> Void = { topic, _ in
            published.events.withLock { $0.append((topic, fileSystem.syncs)) }
        }
        let pipeline = PipelineService(.init(
            messages: messages, topics: Topics(), registry: DeviceRegistry(directory: devices, logger: Logger(label: "t")),
            metrics: AgentMetrics(factory: NOOPMetricsHandler.instance), logger: Logger(label: "t"), summaryInterval: .seconds(60),
            publish: publish, publishRetained: { _, _ in }, store: store, validator: Validator(),
            commitWindow: .milliseconds(5)))
        return Harness(pipeline: pipeline, source: source, fileSystem: fileSystem, published: published,
                       key: DeviceKey(device: DeviceID("dev-p")!, bytes: keyBytes)!, directory: directory)
    }

    func frame(_ harness: Harness, seq: UInt32) -> MQTTMessage {
        let records: [FrameEncoder.RecordInput] = (0..<5).map { .init(dt: UInt32($0) * 1_000, values: [(.pulseRate, 720), (.spo2, 970)]) }
        let payload = FrameEncoder.readings(key: harness.key, boot: 1, seq: seq, t0: 1_795_350_000_000 + UInt64(seq) * 1_000,
                                            records: records, flags: .clockSynced)
        return MQTTMessage(topic: "vigil/v1/dev-p/up", payload: payload, qos: .atLeastOnce, retain: false)
    }

    func acks(_ harness: Harness) -> [(topic: String, syncs: Int)] {
        harness.published.events.withLock { $0.filter { $0.topic == "vigil/v1/dev-p/ack" } }
    }

    /// An ACK never precedes the fdatasync that covers its readings; when that sync fails, no ACK
    /// goes out and the failure leaves the pipeline as an error (the agent's exit 74).
    @Test func anAckFollowsTheSyncThatCoversItAndAFailedSyncIsThrownWithoutAnAck() async throws {
        let harness = try harness()
        defer { harness.directory.remove() }
        let run = Task { try await harness.pipeline.run() }

        let before = harness.fileSystem.syncs
        harness.source.yield(frame(harness, seq: 0))
        #expect(await eventually { acks(harness).count == 1 })
        let first = try #require(acks(harness).first)
        #expect(first.syncs > before, "the ACK was published after \(first.syncs - before) syncs since its frame arrived")

        harness.fileSystem.failSyncs(true)
        harness.source.yield(frame(harness, seq: 5))
        let outcome = await run.result
        #expect(throws: StoreError.self) { try outcome.get() }
        #expect(acks(harness).count == 1, "no ACK for readings whose sync failed")
    }
}
