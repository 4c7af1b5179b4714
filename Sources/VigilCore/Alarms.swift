#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Sleeps of the agent's long-lived services (periodic jobs, idle waits), kept on one thread of
/// their own that sleeps in `poll` until the earliest deadline.
///
/// Why not `Task.sleep`: on Linux, once a process has used a dispatch timer (every `Task.sleep`
/// is one), libdispatch's manager thread re-arms its timer and wakes once a second for the rest
/// of the process's life, whatever is pending (measured with `strace`: a process whose only work
/// was one 100 ms `Task.sleep` woke every second afterwards). A home gateway is idle most of the
/// day; that was its largest single source of wake-ups. Here a wake-up happens at a deadline, or
/// when a sleep with an earlier deadline than the one waited for begins.
///
/// `poll`'s timeout runs on CLOCK_MONOTONIC and deadlines on ``ContinuousClock``
/// (CLOCK_BOOTTIME): they differ only across a system suspend, which a gateway does not do;
/// the thread re-reads the clock after every wake, so a deadline is never met early. Timeouts
/// are whole milliseconds, rounded up: a group commit's few-millisecond window may run up to a
/// millisecond long.
public final class Alarms: Sendable {
    /// The process's one alarm thread (started by the first sleep).
    public static let shared = Alarms()

    private struct Sleeper {
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var sleepers: [UInt64: Sleeper] = [:]
        var nextID: UInt64 = 0
        var started = false
        /// The deadline the thread is waiting for (nil: none, it waits for the doorbell).
        var waitingFor: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let doorbell = Doorbell()

    private init() {}

    /// Sleeps for `duration`; throws `CancellationError` at once if the task is cancelled.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: .now + duration)
    }

    public func sleep(until deadline: ContinuousClock.Instant) async throws {
        guard deadline > .now else { return try Task.checkCancellation() }
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Next { case cancelled, wait(ring: Bool, start: Bool) }
                let next = state.withLock { state -> Next in
                    // Under the lock the cancellation handler also takes: a cancel either finds
                    // the sleeper registered or is seen here.
                    if Task.isCancelled { return .cancelled }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    let start = !state.started
                    state.started = true
                    return .wait(ring: state.waitingFor.map { deadline < $0 } ?? true, start: start)
                }
                switch next {
                case .cancelled:
                    continuation.resume(throwing: CancellationError())
                case .wait(let ring, let start):
                    if start { startThread() } else if ring { doorbell.signal() }
                }
            }
        } onCancel: {
            // The thread may still wake at this sleeper's deadline, finds nothing due, and waits on.
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    private func startThread() {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { context in
            let alarms = Unmanaged<Alarms>.fromOpaque(context!).takeRetainedValue()
            alarms.run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    /// Resumes what is due, then waits for the next deadline or the doorbell. Never returns.
    private func run() -> Never {
        while true {
            let now = ContinuousClock.now
            let (due, next) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], ContinuousClock.Instant?) in
                var due: [CheckedContinuation<Void, any Error>] = []
                for (id, sleeper) in state.sleepers where sleeper.deadline <= now {
                    due.append(sleeper.continuation)
                    state.sleepers[id] = nil
                }
                state.waitingFor = state.sleepers.values.lazy.map(\.deadline).min()
                return (due, state.waitingFor)
            }
            for continuation in due { continuation.resume() }
            var timeout: Int32 = -1
            if let next {
                // Rounded up to whole milliseconds, so the thread never wakes just before a
                // deadline and spins on zero timeouts.
                let (seconds, attoseconds) = (next - ContinuousClock.now).components
                let milliseconds = seconds * 1_000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
                timeout = Int32(clamping: max(0, milliseconds))
            }
            var ready = pollfd(fd: doorbell.descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, timeout) > 0 { doorbell.drain() }
        }
    }
}
