import CMosquitto
import Foundation
import Logging
import Synchronization
import VigilCore

/// The context libmosquitto's callbacks reach through their `obj` pointer.
///
/// Threading: only the loop thread ever calls into libmosquitto (connect, loop, publish,
/// subscribe, destroy), so the library runs unthreaded, exactly as its single-threaded API
/// expects, and TLS state is never touched from two threads. Other threads hand publishes over
/// through `commands` and wake the loop thread through a pipe (`Doorbell`).
///
/// Lifetime: the loop thread holds a +1 reference (`Unmanaged.passRetained`) from `mosquitto_new`
/// until after `mosquitto_destroy`, so the pointer the C library holds is always valid, and no
/// callback can run once the thread has ended.
///
/// Locking: `state` and `commands` guard Swift-side bookkeeping; neither is ever held across a
/// libmosquitto call.
final class MQTTClientCore: Sendable {
    struct Bookkeeping {
        var lifecycle = Lifecycle.idle
        var pendingPublishes: [Int32: CheckedContinuation<Void, any Error>] = [:]
        var lastRefusal: Int32?
        /// SUBSCRIBEs sent on this connection, by message id, until their SUBACK.
        var pendingSubscriptions: [Int32: String] = [:]
        /// A filter the broker refused on this connection (the connection is then dropped).
        var refusedSubscription: String?
        var connected = false
        var startWaiter: CheckedContinuation<Void, any Error>?
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// A publish requested by another thread, carried out by the loop thread.
    struct PublishCommand: Sendable {
        var topic: String
        var payload: [UInt8]
        var qos: MQTTQoS
        var retain: Bool
        var waiter: CheckedContinuation<Void, any Error>?
    }

    enum Lifecycle { case idle, running, stopping, stopped }

    let configuration: MQTTConfiguration
    let logger: Logger
    let inbox: MessageInbox
    let states = StateBroadcaster()
    let state = Mutex(Bookkeeping())
    let commands = Mutex<[PublishCommand]>([])
    /// Wakes the loop thread out of `poll` for commands and stop requests.
    let wakeup: Doorbell
    private let stopRequested = Atomic<Bool>(false)
    /// When the loop thread last read the socket (see `pump`: reading slows while the inbox is full).
    let lastRead = Mutex(ContinuousClock.now)
    private let ticks = Atomic<UInt64>(0)

    init(configuration: MQTTConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.inbox = MessageInbox(capacity: configuration.inboxCapacity)
        self.wakeup = Doorbell()
    }

    var loopTicks: UInt64 { ticks.load(ordering: .relaxed) }

    // MARK: Lifecycle

    func start() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let proceed = state.withLock { state -> Bool in
                guard state.lifecycle == .idle else { return false }
                state.lifecycle = .running
                state.startWaiter = continuation
                return true
            }
            guard proceed else {
                continuation.resume(throwing: MQTTError(kind: .invalidConfiguration, message: "MQTT client already started"))
                return
            }
            let thread = Thread { [self] in self.threadMain() }
            thread.name = "vigil-mqtt"
            thread.start()
        }
    }

    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup.signal()
        inbox.close()
    }

    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = state.withLock { state -> Bool in
                switch state.lifecycle {
                case .idle, .stopped:
                    state.lifecycle = .stopped
                    return true
                case .running, .stopping:
                    state.lifecycle = .stopping
                    state.stopWaiters.append(continuation)
                    return false
                }
            }
            if alreadyStopped {
                continuation.resume()
            } else {
                requestStop()
            }
        }
        if state.withLock({ $0.lifecycle }) == .stopped {
            states.finish()
        }
    }

    func waitUntilStopped() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.lifecycle == .stopped || state.lifecycle == .idle { return true }
                state.stopWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    var stopRequestedFlag: Bool { stopRequested.load(ordering: .acquiring) }

    func tick() { ticks.add(1, ordering: .relaxed) }

    /// Wakes the loop thread for one turn, which ticks: the watchdog's question "is the thread
    /// alive?", asked only when someone wants the answer instead of by waking on a short timer.
    func probe() { wakeup.signal() }

    // MARK: Publishing (any thread)

    /// Hands a publish to the loop thread. Only the first command of a burst rings the doorbell:
    /// the loop thread takes the whole queue each time it wakes.
    private func submit(_ command: PublishCommand) throws {
        let (accepted, first) = commands.withLock { queue -> (Bool, Bool) in
            // Checked under the queue's lock, which `finishThread` also takes before failing what is
            // left, so no command can slip in after the final drain.
            guard !stopRequestedFlag else { return (false, false) }
            queue.append(command)
            return (true, queue.count == 1)
        }
        guard accepted else { throw MQTTError.shutdown }
        if first { wakeup.signal() }
    }

    func enqueue(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) throws {
        try submit(PublishCommand(topic: topic, payload: payload, qos: qos, retain: retain, waiter: nil))
    }

    func publish(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            do {
                try submit(PublishCommand(topic: topic, payload: payload, qos: qos, retain: retain, waiter: continuation))
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    // MARK: Publishing (loop thread)

    /// Carries out queued publishes. libmosquitto 2.0 queues a QoS 1 message even when it answers
    /// NO_CONN and sends it after the reconnect, so that case waits for the PUBACK too.
    ///
    /// A QoS 1 waiter is registered after `mosquitto_publish` returns, which is safe: its PUBACK
    /// can only be read by this same thread, later. A QoS 0 publish is complete once handed to
    /// the library (there is no acknowledgement to wait for).
    func runCommands(_ handle: OpaquePointer) {
        let batch = commands.withLock { queue -> [PublishCommand] in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        for command in batch {
            var mid: Int32 = 0
            let rc = command.payload.withUnsafeBytes { bytes in
                mosquitto_publish(handle, &mid, command.topic, Int32(bytes.count), bytes.baseAddress, command.qos.rawValue, command.retain)
            }
            let queuedWhileDisconnected = rc == Int32(MOSQ_ERR_NO_CONN.rawValue) && command.qos == .atLeastOnce
            guard rc == Int32(MOSQ_ERR_SUCCESS.rawValue) || queuedWhileDisconnected else {
                command.waiter?.resume(throwing: MQTTError.library(rc, "publish to \(command.topic)"))
                continue
            }
            guard let waiter = command.waiter else { continue }
            if command.qos == .atLeastOnce {
                state.withLock { $0.pendingPublishes[mid] = waiter }
            } else {
                waiter.resume()
            }
        }
    }

    /// Fails what is still queued (at shutdown, after the loop has ended).
    func failQueuedCommands() {
        let batch = commands.withLock { queue -> [PublishCommand] in
            defer { queue.removeAll() }
            return queue
        }
        for command in batch { command.waiter?.resume(throwing: MQTTError.shutdown) }
    }

    // MARK: Callbacks (loop thread)

    func didConnect(handle: OpaquePointer, code: Int32, flags: Int32) {
        guard code == 0 else {
            state.withLock { $0.lastRefusal = code }
            return
        }
        state.withLock {
            $0.connected = true
            $0.lastRefusal = nil
            $0.refusedSubscription = nil
            $0.pendingSubscriptions.removeAll()
        }
        for subscription in configuration.subscriptions {
            var mid: Int32 = 0
            let rc = mosquitto_subscribe(handle, &mid, subscription.filter, subscription.qos.rawValue)
            if rc == Int32(MOSQ_ERR_SUCCESS.rawValue) { state.withLock { $0.pendingSubscriptions[mid] = subscription.filter } }
            if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) {
                // Connected but deaf is worse than disconnected: drop the connection, so the loop
                // retries with backoff and the state says why.
                logger.debug("subscribe failed; reconnecting", metadata: ["filter": "\(subscription.filter)", "rc": "\(rc)"])
                state.withLock { $0.connected = false }
                mosquitto_disconnect(handle)
                return
            }
        }
        if let birth = configuration.birth {
            _ = birth.payload.withUnsafeBytes { bytes in
                mosquitto_publish(handle, nil, birth.topic, Int32(bytes.count), bytes.baseAddress, birth.qos.rawValue, birth.retain)
            }
        }
        states.publish(.connected(sessionPresent: flags & 1 == 1))
    }

    /// SUBACK: a filter granted 0x80 is refused, which leaves the client connected but deaf;
    /// that is a failed connection (retried with backoff, the reason in its state), not a log line.
    func didSubscribe(handle: OpaquePointer, mid: Int32, granted: [Int32]) {
        let filter = state.withLock { $0.pendingSubscriptions.removeValue(forKey: mid) }
        guard granted.contains(where: { $0 == 0x80 }) else { return }
        state.withLock {
            $0.refusedSubscription = filter ?? "?"
            $0.connected = false
        }
        mosquitto_disconnect(handle)
    }

    func didDisconnect(code: Int32) {
        state.withLock { $0.connected = false }
    }

    /// QoS 1 PUBACK (or QoS 0 written). Ids nobody waits for (QoS 0, fire-and-forget, the birth
    /// message) are simply not in the table.
    func didPublish(mid: Int32) {
        state.withLock { $0.pendingPublishes.removeValue(forKey: mid) }?.resume()
    }

    func didReceive(_ message: UnsafePointer<mosquitto_message>) {
        let raw = message.pointee
        // Copy now: libmosquitto frees topic and payload when this callback returns.
        let topic = String(cString: raw.topic)
        let payload: [UInt8]
        if let bytes = raw.payload, raw.payloadlen > 0 {
            payload = Array(UnsafeRawBufferPointer(start: bytes, count: Int(raw.payloadlen)))
        } else {
            payload = []
        }
        let qos: MQTTQoS = raw.qos == 0 ? .atMostOnce : .atLeastOnce
        _ = inbox.push(MQTTMessage(topic: topic, payload: payload, qos: qos, retain: raw.retain))
    }
}

