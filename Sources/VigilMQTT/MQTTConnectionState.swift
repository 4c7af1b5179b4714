import Synchronization

/// The client's connection lifecycle as observed from outside. Transitions:
/// `connecting → connected → disconnected → connecting …`, ending in `stopped`.
public enum MQTTConnectionState: Sendable, Equatable {
    case connecting(attempt: Int)
    case connected(sessionPresent: Bool)
    /// Lost or failed; the loop retries after `retryInMilliseconds` (capped backoff with jitter).
    case disconnected(reason: MQTTError, retryInMilliseconds: Int64)
    case stopped

    public var isConnected: Bool {
        if case .connected = self { return true }
        return false
    }
}

/// Fans state changes out to any number of observers; each new observer first sees the current
/// state. Observers that fall behind lose intermediate states, never the latest one.
final class StateBroadcaster: Sendable {
    private struct State {
        var current: MQTTConnectionState = .connecting(attempt: 0)
        var observers: [Int: AsyncStream<MQTTConnectionState>.Continuation] = [:]
        var nextID = 0
        var finished = false
    }

    private let state = Mutex(State())

    var current: MQTTConnectionState { state.withLock { $0.current } }

    func publish(_ new: MQTTConnectionState) {
        let observers = state.withLock { state -> [AsyncStream<MQTTConnectionState>.Continuation] in
            state.current = new
            return Array(state.observers.values)
        }
        for observer in observers { observer.yield(new) }
    }

    func finish() {
        let observers = state.withLock { state -> [AsyncStream<MQTTConnectionState>.Continuation] in
            state.finished = true
            defer { state.observers.removeAll() }
            return Array(state.observers.values)
        }
        for observer in observers { observer.finish() }
    }

    /// Transitions are few and small, so an observer that falls behind for a while (a loaded
    /// machine) still sees each of them; past 256 only the newest are kept.
    func stream() -> AsyncStream<MQTTConnectionState> {
        let (stream, continuation) = AsyncStream<MQTTConnectionState>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let finished = state.withLock { state -> Bool in
            continuation.yield(state.current)
            if state.finished { return true }
            let id = state.nextID
            state.nextID += 1
            state.observers[id] = continuation
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { _ = $0.observers.removeValue(forKey: id) }
            }
            return false
        }
        if finished { continuation.finish() }
        return stream
    }
}
