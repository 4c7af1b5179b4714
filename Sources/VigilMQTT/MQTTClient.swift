import CMosquitto
import Logging
import VigilCore

/// libmosquitto's global state is initialised exactly once per process (its docs require it, and
/// it is not thread-safe). A global `let` is lazily initialised under `swift_once`. Never cleaned
/// up: the library lives as long as the process.
let mosquittoLibraryReady: Bool = {
    mosquitto_lib_init() == Int32(MOSQ_ERR_SUCCESS.rawValue)
}()

/// A safe, async MQTT 3.1.1 client over libmosquitto.
///
/// - One dedicated loop thread per client drives the socket; no libmosquitto call ever blocks a
///   task on the cooperative pool.
/// - Received messages arrive through ``messages`` (bounded, with backpressure, single consumer).
/// - The connection reconnects by itself with capped exponential backoff and jitter;
///   ``connectionStates()`` reports every transition.
/// - ``shutdown()`` returns only after the loop thread has ended and the C handle is destroyed, so
///   no callback can run afterwards.
public final class MQTTClient: Sendable {
    private let core: MQTTClientCore

    public init(configuration: MQTTConfiguration, logger: Logger) {
        precondition(mosquittoLibraryReady, "mosquitto_lib_init failed")
        core = MQTTClientCore(configuration: configuration, logger: logger)
    }

    /// Received messages in broker order. Iterate from one task only.
    public var messages: MQTTMessages { MQTTMessages(inbox: core.inbox) }

    /// A stream of connection states, starting with the current one.
    public func connectionStates() -> AsyncStream<MQTTConnectionState> { core.states.stream() }

    public var connectionState: MQTTConnectionState { core.states.current }

    /// How many messages are waiting for the consumer (for metrics and the watchdog).
    public var inboxDepth: Int { core.inbox.count }

    /// The most messages that have waited at once since start.
    public var inboxPeak: Int { core.inbox.peakCount }

    /// Iterations of the loop thread: it advances at every turn, and a live thread takes a turn
    /// soon after each ``probeLoop()``.
    public var loopTicks: UInt64 { core.loopTicks }

    /// Asks the loop thread for a turn (the watchdog's liveness question, asked between samples
    /// rather than answered by a thread that wakes on a short timer all day).
    public func probeLoop() { core.probe() }

    /// Starts the loop thread. Throws if the configuration is rejected by libmosquitto (for
    /// example an unreadable CA file); network failures are retried, never thrown.
    public func start() async throws {
        try await core.start()
    }

    /// Disconnects cleanly, stops the loop thread and releases the C handle. Idempotent.
    /// Pending QoS 1 publishes fail with ``MQTTError/Kind/shutdown``.
    public func shutdown() async {
        await core.shutdown()
    }

    /// Runs until the task is cancelled, then shuts down: the shape a `Service` wants.
    public func run() async throws {
        try await start()
        await withTaskCancellationHandler {
            await core.waitUntilStopped()
        } onCancel: {
            core.requestStop()
        }
        await shutdown()
    }

    /// Asks the loop thread to disconnect and end, without waiting (safe from any context, such
    /// as a graceful-shutdown handler). Messages already in the inbox can still be consumed.
    public func stop() {
        core.requestStop()
    }

    /// Returns once the loop thread has ended (or at once if it never started).
    public func waitUntilStopped() async {
        await core.waitUntilStopped()
    }

    /// Publishes and waits until the broker has it: PUBACK for QoS 1, written to the socket for
    /// QoS 0. While disconnected, a QoS 1 message waits in libmosquitto's queue (in memory; the
    /// caller bounds how many it has outstanding) and this call completes after the reconnect;
    /// a QoS 0 publish fails at once with ``MQTTError/Kind/notConnected``.
    public func publish(
        topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = false
    ) async throws {
        try await core.publish(topic: topic, payload: payload, qos: qos, retain: retain)
    }

    /// Queues a publish without waiting for the broker (fire-and-forget for acks and bulk loads).
    public func enqueue(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = false) throws {
        try core.enqueue(topic: topic, payload: payload, qos: qos, retain: retain)
    }
}
