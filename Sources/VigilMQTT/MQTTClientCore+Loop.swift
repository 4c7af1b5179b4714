import CMosquitto
import Foundation
import VigilCore

#if canImport(Glibc)
import Glibc
#endif

private let success = Int32(MOSQ_ERR_SUCCESS.rawValue)

extension MQTTClientCore {
    /// The loop thread: creates the handle, connects, drives the socket with its own `poll` loop,
    /// reconnects with backoff, and tears everything down when asked to stop.
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
        finishStart(throwing: nil)

        runConnectionLoop(handle)

        if state.withLock({ $0.connected }) {
            // Publishes queued before the stop still go out, then a clean DISCONNECT tells the
            // broker not to publish our will: this is a planned stop.
            runCommands(handle)
            for _ in 0..<20 where mosquitto_want_write(handle) && pump(handle, timeoutMilliseconds: 10) == success {}
            mosquitto_disconnect(handle)
            for _ in 0..<20 where pump(handle, timeoutMilliseconds: 10) == success {}
        }
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
        mosquitto_subscribe_callback_set(handle, vigilOnSubscribe)
    }

    private func runConnectionLoop(_ handle: OpaquePointer) {
        var random = SystemRandomNumberGenerator()
        var attempt = 0
        var everAttempted = false
        let endpoints = configuration.endpoints
        var current = 0
        while !isStopping {
            states.publish(.connecting(attempt: attempt))
            var rc: Int32
            let endpoint = endpoints[current]
            if everAttempted && endpoints.count == 1 {
                rc = mosquitto_reconnect(handle)
            } else {
                // Another node: libmosquitto keeps its queue of unacknowledged QoS 1 messages on
                // the handle and sends them again once this connection is up.
                rc = mosquitto_connect(handle, endpoint.host, Int32(endpoint.port), Int32(configuration.keepaliveSeconds))
                everAttempted = true
            }
            let reason: MQTTError
            if rc != success {
                reason = MQTTError.library(rc, "connect to \(endpoint.host):\(endpoint.port)")
            } else {
                while !isStopping {
                    rc = pump(handle, timeoutMilliseconds: inbox.isFull ? Self.busySliceMilliseconds : housekeepingSliceMilliseconds)
                    tick()
                    if rc != success { break }
                }
                if isStopping { break }
                let (wasConnected, refusal, refusedFilter) = state.withLock { state -> (Bool, Int32?, String?) in
                    defer {
                        state.connected = false
                        state.refusedSubscription = nil
                    }
                    return (state.connected, state.lastRefusal, state.refusedSubscription)
                }
                // A refused subscription is not progress: keep backing off.
                if wasConnected && refusedFilter == nil { attempt = 0 }
                reason = refusedFilter.map(MQTTError.subscriptionRefused)
                    ?? refusal.map(MQTTError.refused) ?? MQTTError.library(rc, "connection lost")
            }
            // With several nodes, the next one is tried almost at once (a dead node refuses at
            // once, and the cluster's others may be fine); the backoff grows per round of them.
            // Never less than 50 ms, so a flapping cluster is not a busy loop.
            let round = attempt / endpoints.count
            let delay = endpoints.count > 1 && (attempt + 1) % endpoints.count != 0
                ? Int64(50) : configuration.reconnect.delayMilliseconds(attempt: round, using: &random)
            attempt += 1
            if endpoints.count > 1 {
                current = (current + 1) % endpoints.count
                logger.debug("MQTT failing over", metadata: ["to": "\(endpoints[current].host):\(endpoints[current].port)"])
            }
            states.publish(.disconnected(reason: reason, retryInMilliseconds: delay))
            // The caller sees this as a state (``MQTTClient/connectionStates()``) and says what it
            // means to its users; here it is a library detail.
            logger.debug(
                "MQTT disconnected",
                metadata: ["reason": "\(reason.message)", "retry_ms": "\(delay)", "client": "\(configuration.clientID)"]
            )
            sleep(milliseconds: delay, handle: handle)
        }
    }

    private var isStopping: Bool { stopRequestedFlag }

    /// Whether this turn may read the socket: always, unless the inbox is full; then once per
    /// quarter keepalive (at least once a second) to keep the connection alive.
    private func mayRead() -> Bool {
        guard inbox.isFull else { return true }
        let interval = Duration.milliseconds(max(1_000, configuration.keepaliveSeconds * 250))
        return lastRead.withLock { ContinuousClock.now - $0 >= interval }
    }

    /// One turn of the socket loop (what `mosquitto_loop` does, plus our doorbell): wait up to
    /// `timeoutMilliseconds` for the socket or a command, carry out queued publishes, read,
    /// write, and let libmosquitto do its keepalive and retry housekeeping. A stop or a command
    /// rings the doorbell, so the timeout only paces housekeeping and the watchdog's tick.
    ///
    /// While the inbox is full the socket is read only once per quarter keepalive: each packet
    /// read refreshes libmosquitto's keepalive clock, and each QoS 1 message read is answered
    /// with a PUBACK, which the broker counts as the client being alive. Writes (ACKs to devices)
    /// and housekeeping go on. So a stalled consumer holds the connection however long it
    /// stalls, at the cost of a few messages beyond capacity per keepalive.
    func pump(_ handle: OpaquePointer, timeoutMilliseconds: Int32) -> Int32 {
        let socket = mosquitto_socket(handle)
        guard socket >= 0 else { return Int32(MOSQ_ERR_NO_CONN.rawValue) }
        let wantWrite = mosquitto_want_write(handle)
        let read = mayRead()
        var fds = [
            pollfd(fd: socket, events: (read ? Int16(POLLIN) : 0) | (wantWrite ? Int16(POLLOUT) : 0), revents: 0),
            pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&fds, 2, timeoutMilliseconds)
        if ready < 0 && errno != EINTR { return Int32(MOSQ_ERR_ERRNO.rawValue) }
        if fds[1].revents != 0 { wakeup.drain() }
        runCommands(handle)
        if fds[0].revents & Int16(POLLIN | POLLERR | POLLHUP) != 0 && read {
            let rc = mosquitto_loop_read(handle, 1)
            if rc != success { return rc }
            lastRead.withLock { $0 = .now }
        }
        if mosquitto_want_write(handle) {
            let rc = mosquitto_loop_write(handle, 1)
            if rc != success { return rc }
        }
        return mosquitto_loop_misc(handle)
    }

    /// How long the loop thread sleeps when nothing happens: long enough that an idle box is not
    /// woken for nothing, short enough that libmosquitto's keepalive housekeeping (a PINGREQ once
    /// the keepalive has passed without traffic) runs well within the broker's 1.5 x keepalive.
    /// Publishes, stops and the watchdog's probes (``probe()``) ring the doorbell instead.
    var housekeepingSliceMilliseconds: Int32 {
        Int32(clamping: min(max(configuration.keepaliveSeconds * 1_000 / 4, Int(Self.busySliceMilliseconds)), 10_000))
    }

    /// The slice while the inbox is full: a consumer taking a message does not ring the doorbell,
    /// so reading resumes within this much of it.
    static let busySliceMilliseconds: Int32 = 500

    /// Waits out a backoff delay in slices of at most the housekeeping slice, ticking (so the
    /// watchdog's probes see a live thread during a long outage), queueing publishes, and waking
    /// at once on a stop.
    private func sleep(milliseconds: Int64, handle: OpaquePointer) {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(milliseconds))
        while !isStopping, ContinuousClock.now < deadline {
            let remaining = deadline - ContinuousClock.now
            let slice = min(housekeepingSliceMilliseconds, max(1, Int32(remaining.components.seconds * 1_000 + remaining.components.attoseconds / 1_000_000_000_000_000)))
            var doorbell = pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)
            if poll(&doorbell, 1, slice) > 0 { wakeup.drain() }
            // QoS 1 publishes made during the outage go into libmosquitto's queue for the reconnect.
            runCommands(handle)
            tick()
        }
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
        failQueuedCommands()
        let (pending, waiters) = state.withLock { state in
            state.lifecycle = .stopped
            state.connected = false
            defer {
                state.pendingPublishes.removeAll()
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

private func vigilOnSubscribe(_ handle: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ mid: Int32, _ count: Int32,
                              _ granted: UnsafePointer<Int32>?) {
    guard let handle else { return }
    let codes = granted.map { Array(UnsafeBufferPointer(start: $0, count: Int(count))) } ?? []
    core(obj)?.didSubscribe(handle: handle, mid: mid, granted: codes)
}

private func vigilOnMessage(_ handle: OpaquePointer?, _ obj: UnsafeMutableRawPointer?, _ message: UnsafePointer<mosquitto_message>?) {
    guard let message else { return }
    core(obj)?.didReceive(message)
}
