import CMosquitto
import Foundation
import VigilCore

private let success = Int32(MOSQ_ERR_SUCCESS.rawValue)

extension MQTTClientCore {
    /// The loop thread: creates the handle, connects, drives `mosquitto_loop`, reconnects with
    /// backoff, and tears everything down when asked to stop.
    func threadMain() {
        let unmanaged = Unmanaged.passRetained(self)
        guard let handle = mosquitto_new(configuration.clientID, configuration.cleanSession, unmanaged.toOpaque()) else {
            unmanaged.release()
            finishStart(throwing: MQTTError(kind: .invalidConfiguration, message: "mosquitto_new failed (client id rejected or out of memory)"))
            finishThread()
            return
        }
        do {
            try configure(handle)
        } catch {
            mosquitto_destroy(handle)
            unmanaged.release()
            finishStart(throwing: error)
            finishThread()
            return
        }
        handleLock.withLock { $0 = MosquittoHandle(pointer: handle) }
        finishStart(throwing: nil)

        runConnectionLoop(handle)

        if state.withLock({ $0.connected }) {
            // A clean DISCONNECT tells the broker not to publish our will: this is a planned stop.
            mosquitto_disconnect(handle)
            for _ in 0..<20 where mosquitto_loop(handle, 10, 1) == success {}
        }
        handleLock.withLock { $0 = nil }
        mosquitto_destroy(handle)
        unmanaged.release()
        finishThread()
    }

    private func configure(_ handle: OpaquePointer) throws {
        func check(_ rc: Int32, _ what: String) throws {
            guard rc == success else {
                let error = MQTTError.library(rc, what)
                throw MQTTError(kind: .invalidConfiguration, message: error.message)
            }
        }
        // We call libmosquitto from other threads (publish) while our own thread runs the loop.
        try check(mosquitto_threaded_set(handle, true), "threaded_set")
        try check(mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311), "protocol version")
        if configuration.username != nil || configuration.password != nil {
            try check(mosquitto_username_pw_set(handle, configuration.username, configuration.password), "username/password")
        }
        if let tls = configuration.tls {
            try check(mosquitto_tls_set(handle, tls.caFile, nil, tls.certFile, tls.keyFile, nil), "TLS files (ca \(tls.caFile))")
            // Verify the broker's certificate and host name; TLS 1.2 is the floor.
            try check(mosquitto_tls_opts_set(handle, 1, "tlsv1.2", nil), "TLS options")
        }
        if let will = configuration.will {
            let rc = will.payload.withUnsafeBytes { bytes in
                mosquitto_will_set(handle, will.topic, Int32(bytes.count), bytes.baseAddress, will.qos.rawValue, will.retain)
            }
            try check(rc, "last will")
        }
        mosquitto_connect_with_flags_callback_set(handle, vigilOnConnect)
        mosquitto_disconnect_callback_set(handle, vigilOnDisconnect)
        mosquitto_publish_callback_set(handle, vigilOnPublish)
        mosquitto_message_callback_set(handle, vigilOnMessage)
    }

    private func runConnectionLoop(_ handle: OpaquePointer) {
        var random = SystemRandomNumberGenerator()
        var attempt = 0
        var everAttempted = false
        while !isStopping {
            states.publish(.connecting(attempt: attempt))
            var rc: Int32
            if everAttempted {
                rc = mosquitto_reconnect(handle)
            } else {
                rc = mosquitto_connect(handle, configuration.host, Int32(configuration.port), Int32(configuration.keepaliveSeconds))
                everAttempted = true
            }
            var failure = rc == success ? nil : MQTTError.library(rc, "connect to \(configuration.host):\(configuration.port)")
            if rc == success {
                // 100 ms bounds how long a stop request or a full inbox can go unnoticed.
                while !isStopping {
                    rc = mosquitto_loop(handle, 100, 1)
                    tick()
                    if rc != success { break }
                }
                if isStopping { break }
                let (wasConnected, refusal) = state.withLock { state -> (Bool, Int32?) in
                    defer { state.connected = false }
                    return (state.connected, state.lastRefusal)
                }
                if wasConnected { attempt = 0 }
                failure = refusal.map(MQTTError.refused) ?? MQTTError.library(rc, "connection lost")
            }
            let delay = configuration.reconnect.delayMilliseconds(attempt: attempt, using: &random)
            attempt += 1
            let reason = failure ?? MQTTError.library(rc, "connection lost")
            states.publish(.disconnected(reason: reason, retryInMilliseconds: delay))
            logger.warning(
                "MQTT disconnected",
                metadata: ["reason": "\(reason.message)", "retry_ms": "\(delay)", "client": "\(configuration.clientID)"]
            )
            sleep(milliseconds: delay)
        }
    }

    private var isStopping: Bool { stopRequestedFlag }

    /// Sleeps in slices of at most 100 ms, ticking, so the watchdog sees a live loop thread during
    /// a long outage, and wakes at once on a stop request.
    private func sleep(milliseconds: Int64) {
        let deadline = Date(timeIntervalSinceNow: TimeInterval(milliseconds) / 1000)
        sleeper.lock()
        while !isStopping, Date() < deadline {
            _ = sleeper.wait(until: min(deadline, Date(timeIntervalSinceNow: 0.1)))
            tick()
        }
        sleeper.unlock()
    }

    private func finishStart(throwing error: (any Error)?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            defer { state.startWaiter = nil }
            return state.startWaiter
        }
        if let error {
            waiter?.resume(throwing: error)
        } else {
            waiter?.resume()
        }
    }

    /// Runs last on the loop thread: nothing touches the C handle after this.
    private func finishThread() {
        inbox.close()
        let (pending, waiters) = state.withLock { state in
            state.lifecycle = .stopped
            state.connected = false
            defer {
                state.pendingPublishes.removeAll()
                state.completedUnclaimed.removeAll()
                state.ignoredMids.removeAll()
                state.stopWaiters.removeAll()
            }
            return (Array(state.pendingPublishes.values), state.stopWaiters)
        }
        for publish in pending { publish.resume(throwing: MQTTError.shutdown) }
        states.publish(.stopped)
        states.finish()
        for waiter in waiters { waiter.resume() }
    }
}

// MARK: - C callbacks
// File-level functions with libmosquitto's exact signatures: they capture nothing, and reach the
// Swift context through the `obj` pointer registered with `mosquitto_new`.

private func core(_ obj: UnsafeMutableRawPointer?) -> MQTTClientCore? {
    obj.map { Unmanaged<MQTTClientCore>.fromOpaque($0).takeUnretainedValue() }
}

private func vigilOnConnect(_ handle: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ rc: Int32, _ flags: Int32) {
    guard let handle else { return }
    core(obj)?.didConnect(handle: handle, code: rc, flags: flags)
}

private func vigilOnDisconnect(_ handle: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ rc: Int32) {
    core(obj)?.didDisconnect(code: rc)
}

private func vigilOnPublish(_ handle: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ mid: Int32) {
    core(obj)?.didPublish(mid: mid)
}

private func vigilOnMessage(_ handle: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ message: UnsafePointer<mosquitto_message>?) {
    guard let message else { return }
    core(obj)?.didReceive(message)
}
