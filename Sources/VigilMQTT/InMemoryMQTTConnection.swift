import Synchronization

/// The in-memory twin of ``MQTTClient``: records what is published, fails publishes on demand
/// (as a broker that is down or refuses), delivers messages a test feeds it and reports the
/// connection states the test sets. No sockets, no threads: deterministic.
public final class InMemoryMQTTConnection: MQTTConnection {
    public struct Published: Sendable, Equatable {
        public let topic: String
        public let payload: [UInt8]
        public let retain: Bool
    }

    private struct State {
        var published: [Published] = []
        var failure: MQTTError?
        var stopped = false
        var listeners: [AsyncStream<MQTTConnectionState>.Continuation] = []
        var current: MQTTConnectionState = .connecting(attempt: 0)
    }

    private let state = Mutex(State())
    public let messages: MQTTMessages
    /// Feeds ``messages``, as the broker would.
    public let source: MQTTMessageSource

    public init() {
        (messages, source) = MQTTMessages.inMemory()
    }

    /// Every publish that succeeded, in order.
    public var published: [Published] { state.withLock { $0.published } }

    /// Makes every publish fail with `error` from now on (`nil`: succeed again).
    public func failPublishes(with error: MQTTError?) { state.withLock { $0.failure = error } }

    /// Sets the connection state observers see.
    public func set(_ new: MQTTConnectionState) {
        let listeners = state.withLock { state in
            state.current = new
            return state.listeners
        }
        for listener in listeners { listener.yield(new) }
    }

    public func start() async throws { set(.connected(sessionPresent: false)) }

    public func connectionStates() -> AsyncStream<MQTTConnectionState> {
        AsyncStream { continuation in
            let current = state.withLock { state in
                state.listeners.append(continuation)
                return state.current
            }
            continuation.yield(current)
        }
    }

    public func publish(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) async throws {
        try enqueue(topic: topic, payload: payload, qos: qos, retain: retain)
    }

    public func enqueue(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) throws {
        try state.withLock { state in
            if state.stopped { throw MQTTError.shutdown }
            if let failure = state.failure { throw failure }
            state.published.append(Published(topic: topic, payload: payload, retain: retain))
        }
    }

    public func shutdown() async {
        let listeners = state.withLock { state in
            state.stopped = true
            state.current = .stopped
            defer { state.listeners.removeAll() }
            return state.listeners
        }
        for listener in listeners {
            listener.yield(.stopped)
            listener.finish()
        }
        source.finish()
    }
}
