import CMosquitto
import Foundation
import Logging
import Synchronization
import VigilCore

/// The context libmosquitto's callbacks reach through their `obj` pointer.
///
/// Lifetime: the loop thread holds a +1 reference (`Unmanaged.passRetained`) from `mosquitto_new`
/// until after `mosquitto_destroy`, so the pointer the C library holds is always valid, and no
/// callback can run once the thread has ended.
///
/// Locking: `handleLock` guards only the C handle pointer and is held across calls made from
/// other threads (publish); callbacks never take it. `state` guards Swift-side bookkeeping and is
/// never held across a libmosquitto call. The two are never nested, so they cannot deadlock with
/// libmosquitto's internal mutexes.
final class MQTTClientCore: Sendable {
    struct Bookkeeping {
        var lifecycle = Lifecycle.idle
        var pendingPublishes: [Int32: CheckedContinuation<Void, any Error>] = [:]
        /// Acknowledged ids whose publisher has not yet said whether it waits for them.
        var completedUnclaimed: Set<Int32> = []
        /// Ids whose publisher does not wait (fire-and-forget, birth messages).
        var ignoredMids: Set<Int32> = []
        var lastRefusal: Int32?
        var connected = false
        var startWaiter: CheckedContinuation<Void, any Error>?
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
    }

    enum Lifecycle { case idle, running, stopping, stopped }

    let configuration: MQTTConfiguration
    let logger: Logger
    let inbox: MessageInbox
    let states = StateBroadcaster()
    let state = Mutex(Bookkeeping())
    // Guards the C handle; `nil` before start and after teardown.
    let handleLock = Mutex<MosquittoHandle?>(nil)
    // Interruptible backoff sleeps: `requestStop` signals it.
    let sleeper = NSCondition()
    private let stopRequested = Atomic<Bool>(false)
    private let ticks = Atomic<UInt64>(0)

    init(configuration: MQTTConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.inbox = MessageInbox(capacity: configuration.inboxCapacity)
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
        sleeper.lock()
        sleeper.broadcast()
        sleeper.unlock()
        // Unblocks a loop thread parked in the message callback on a full inbox.
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

    // MARK: Publishing

    /// Every message id is settled exactly once, whichever comes first: the caller's bookkeeping
    /// after `mosquitto_publish` returns, or the loop thread's `on_publish`. Without that, ids of
    /// fire-and-forget publishes would pile up (and, being 16-bit and reused, complete the wrong
    /// waiter later).
    private enum Interest {
        case ignore
        case await(CheckedContinuation<Void, any Error>)
    }

    private func submit(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) throws -> Int32 {
        var mid: Int32 = 0
        let rc: Int32 = try handleLock.withLock { handle in
            guard let handle else { throw MQTTError.shutdown }
            return payload.withUnsafeBytes { bytes in
                mosquitto_publish(handle.pointer, &mid, topic, Int32(bytes.count), bytes.baseAddress, qos.rawValue, retain)
            }
        }
        // libmosquitto 2.0 queues a QoS 1 message even when it answers NO_CONN, and sends it after
        // the reconnect; reporting that as a failure would make callers publish it twice.
        let queuedWhileDisconnected = rc == Int32(MOSQ_ERR_NO_CONN.rawValue) && qos == .atLeastOnce
        guard rc == Int32(MOSQ_ERR_SUCCESS.rawValue) || queuedWhileDisconnected else {
            throw MQTTError.library(rc, "publish to \(topic)")
        }
        return mid
    }

    private func register(_ interest: Interest, for mid: Int32) {
        let completedAlready = state.withLock { state -> Bool in
            if state.completedUnclaimed.remove(mid) != nil { return true }
            switch interest {
            case .ignore: state.ignoredMids.insert(mid)
            case .await(let continuation): state.pendingPublishes[mid] = continuation
            }
            return false
        }
        if completedAlready, case .await(let continuation) = interest { continuation.resume() }
    }

    func enqueue(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) throws {
        let mid = try submit(topic: topic, payload: payload, qos: qos, retain: retain)
        register(.ignore, for: mid)
    }

    func publish(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) async throws {
        let mid = try submit(topic: topic, payload: payload, qos: qos, retain: retain)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            register(.await(continuation), for: mid)
        }
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
        }
        for subscription in configuration.subscriptions {
            let rc = mosquitto_subscribe(handle, nil, subscription.filter, subscription.qos.rawValue)
            if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) {
                logger.error("subscribe failed", metadata: ["filter": "\(subscription.filter)", "rc": "\(rc)"])
            }
        }
        if let birth = configuration.birth {
            var mid: Int32 = 0
            let rc = birth.payload.withUnsafeBytes { bytes in
                mosquitto_publish(handle, &mid, birth.topic, Int32(bytes.count), bytes.baseAddress, birth.qos.rawValue, birth.retain)
            }
            // Its PUBACK cannot be handled before this callback returns (same thread), so this wins.
            if rc == Int32(MOSQ_ERR_SUCCESS.rawValue) { state.withLock { _ = $0.ignoredMids.insert(mid) } }
        }
        states.publish(.connected(sessionPresent: flags & 1 == 1))
    }

    func didDisconnect(code: Int32) {
        state.withLock { $0.connected = false }
    }

    func didPublish(mid: Int32) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if let waiter = state.pendingPublishes.removeValue(forKey: mid) { return waiter }
            if state.ignoredMids.remove(mid) == nil { state.completedUnclaimed.insert(mid) }
            return nil
        }
        waiter?.resume()
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

/// The `struct mosquitto *`, made `Sendable` on the strength of the locking rules above: it is
/// used only by the loop thread and by callers holding `handleLock`.
struct MosquittoHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
