import Synchronization

/// Gathers "I am up" from the parts that must be running before systemd hears READY=1.
public final class Readiness: Sendable {
    public enum Part: Hashable, Sendable { case ingest, metrics }

    private struct State {
        var ready: Set<Part> = []
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let required: Set<Part>
    private let state = Mutex(State())

    public init(required: Set<Part>) {
        self.required = required
    }

    public func mark(_ part: Part) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.ready.insert(part)
            guard required.isSubset(of: state.ready) else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns once every required part is marked.
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if required.isSubset(of: state.ready) { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
