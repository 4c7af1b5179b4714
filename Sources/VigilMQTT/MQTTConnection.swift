/// What a service needs of an MQTT client: start, messages in, publishes out (waited for or
/// queued), its connection state, shutdown. ``MQTTClient`` is the real one (libmosquitto);
/// ``InMemoryMQTTConnection`` is its twin for in-process tests of the services around it.
public protocol MQTTConnection: Sendable {
    func start() async throws
    var messages: MQTTMessages { get }
    func connectionStates() -> AsyncStream<MQTTConnectionState>
    /// Completes when the broker has the message (PUBACK for QoS 1).
    func publish(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) async throws
    /// Queues a publish without waiting.
    func enqueue(topic: String, payload: [UInt8], qos: MQTTQoS, retain: Bool) throws
    func shutdown() async
}

extension MQTTClient: MQTTConnection {}

extension MQTTConnection {
    public func publish(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce) async throws {
        try await publish(topic: topic, payload: payload, qos: qos, retain: false)
    }

    public func enqueue(topic: String, payload: [UInt8], retain: Bool = false) throws {
        try enqueue(topic: topic, payload: payload, qos: .atLeastOnce, retain: retain)
    }
}
