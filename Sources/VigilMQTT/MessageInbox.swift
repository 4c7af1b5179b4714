import DequeModule
import Foundation
import Synchronization

/// The bounded hand-off between libmosquitto's loop thread (one producer) and one async consumer.
///
/// Backpressure: `push` never blocks (it runs inside libmosquitto's message callback, and a
/// blocked loop thread sends no keepalive and no queued ACK, so the broker would drop the
/// connection during a long stall). Instead the loop thread asks ``isFull`` before reading the
/// socket and, while it is, reads only the trickle that keeps the connection alive
/// (`MQTTClientCore.pump`); the surplus waits in TCP buffers and the broker's per-client queue.
/// Memory held here is `capacity` messages plus that trickle plus the batch the consumer is
/// working through.
final class MessageInbox: @unchecked Sendable {
    // All fields below are guarded by `condition` (a mutex + condition variable): the producer is a
    // plain thread that must be able to sleep, which `Mutex` alone cannot do.
    private let condition = NSCondition()
    private var buffer: Deque<MQTTMessage> = []
    private var waiter: CheckedContinuation<Deque<MQTTMessage>?, Never>?
    private var closed = false
    private(set) var highWaterMark = 0
    let capacity: Int
    /// Messages already taken from `buffer` but not yet handed to the consumer. Kept here, not in
    /// the iterator, so a consumer that stops iterating (and later starts again) loses nothing.
    /// Only the single consumer touches it; the mutex is uncontended.
    private let consumerBatch = Mutex<Deque<MQTTMessage>>([])

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return buffer.count
    }

    var peakCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return highWaterMark
    }

    /// Whether `capacity` messages are waiting: the loop thread then slows its reading.
    var isFull: Bool {
        condition.lock()
        defer { condition.unlock() }
        return buffer.count >= capacity
    }

    /// Producer side; never blocks. Returns `false` if the inbox was closed (the message is
    /// dropped: the client is shutting down and the consumer is gone).
    func push(_ message: MQTTMessage) -> Bool {
        condition.lock()
        if closed {
            condition.unlock()
            return false
        }
        if let waiter {
            // The consumer is parked with nothing to do: hand this message over directly.
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: [message])
            return true
        }
        buffer.append(message)
        highWaterMark = max(highWaterMark, buffer.count)
        condition.unlock()
        return true
    }

    /// Consumer side: the next message, suspending until one arrives. `nil` once closed and
    /// drained, or when the calling task is cancelled.
    func next() async -> MQTTMessage? {
        if let message = consumerBatch.withLock({ $0.popFirst() }) { return message }
        guard var batch = await takeAll() else { return nil }
        let first = batch.popFirst()
        consumerBatch.withLock { $0 = batch }
        return first
    }

    /// The next message if one is already waiting; never suspends.
    func poll() -> MQTTMessage? {
        if let message = consumerBatch.withLock({ $0.popFirst() }) { return message }
        guard var batch = takeAvailable() else { return nil }
        let first = batch.popFirst()
        consumerBatch.withLock { $0 = batch }
        return first
    }

    /// Everything waiting, or suspends until something arrives.
    private func takeAll() async -> Deque<MQTTMessage>? {
        if let batch = takeAvailable() { return batch }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Deque<MQTTMessage>?, Never>) in
                condition.lock()
                if !buffer.isEmpty {
                    let batch = buffer
                    buffer.removeAll(keepingCapacity: true)
                    condition.broadcast()
                    condition.unlock()
                    continuation.resume(returning: batch)
                } else if closed || Task.isCancelled {
                    condition.unlock()
                    continuation.resume(returning: nil)
                } else {
                    precondition(waiter == nil, "MessageInbox supports a single consumer")
                    waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            condition.lock()
            let parked = waiter
            waiter = nil
            condition.unlock()
            parked?.resume(returning: nil)
        }
    }

    private func takeAvailable() -> Deque<MQTTMessage>? {
        condition.lock()
        defer { condition.unlock() }
        guard !buffer.isEmpty else { return nil }
        let batch = buffer
        buffer.removeAll(keepingCapacity: true)
        condition.broadcast()
        return batch
    }

    /// Ends the consumer's sequence after what is already buffered.
    func close() {
        condition.lock()
        closed = true
        let parked = waiter
        waiter = nil
        condition.broadcast()
        condition.unlock()
        parked?.resume(returning: nil)
    }
}

/// The messages received by an ``MQTTClient``, in broker order. Single consumer.
///
/// The consumer takes everything waiting in one step and hands it out one by one, so the cost of
/// contended locking and task resumption is paid per batch, not per message.
public struct MQTTMessages: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage
    let inbox: MessageInbox

    public struct AsyncIterator: AsyncIteratorProtocol {
        let inbox: MessageInbox

        public func next() async -> MQTTMessage? { await inbox.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inbox: inbox) }

    /// The next message if one has already arrived, without waiting (to gather a batch for one
    /// group commit).
    public func nextIfAvailable() -> MQTTMessage? { inbox.poll() }

    /// Puts a message of the consumer's own in line with the broker's (the pipeline's clock
    /// ticks), so one task handles both in order. `false` once the inbox has closed.
    @discardableResult
    public func inject(_ message: MQTTMessage) -> Bool { inbox.push(message) }
}
