import VigilCore

/// MQTT quality of service levels Vigil uses (QoS 2 is deliberately not offered: the protocol's own
/// durable ack makes its extra round trip pointless).
public enum MQTTQoS: Int32, Sendable, Equatable {
    case atMostOnce = 0
    case atLeastOnce = 1
}

/// Everything needed to open, keep and resume one MQTT session.
public struct MQTTConfiguration: Sendable, Equatable {
    public struct TLS: Sendable, Equatable {
        /// PEM file of the CA(s) that signed the broker's certificate.
        public var caFile: String
        /// Client certificate and key (PEM) for brokers that require mutual TLS.
        public var certFile: String?
        public var keyFile: String?

        public init(caFile: String, certFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
        }
    }

    /// A message the client publishes itself: the last will (sent by the broker if this client
    /// vanishes) or the birth message (sent by the client on every successful connect).
    public struct Announcement: Sendable, Equatable {
        public var topic: String
        public var payload: [UInt8]
        public var qos: MQTTQoS
        public var retain: Bool

        public init(topic: String, payload: [UInt8], qos: MQTTQoS = .atLeastOnce, retain: Bool = true) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    public struct Endpoint: Sendable, Equatable {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// The broker first, then the alternates.
    public var endpoints: [Endpoint] { [Endpoint(host: host, port: port)] + alternates }

    public struct Subscription: Sendable, Equatable {
        public var filter: String
        public var qos: MQTTQoS

        public init(_ filter: String, qos: MQTTQoS = .atLeastOnce) {
            self.filter = filter
            self.qos = qos
        }
    }

    public var host: String
    public var port: Int
    /// Further brokers (nodes of a cluster) to fail over to: each failed attempt or lost
    /// connection moves on to the next, round-robin, after the usual backoff.
    public var alternates: [Endpoint] = []
    public var clientID: String
    public var username: String?
    public var password: String?
    public var tls: TLS?
    public var keepaliveSeconds: Int
    /// `false` (the default) asks the broker to keep our subscriptions and queue QoS 1 messages
    /// while we are away, so a restart or outage loses nothing the broker accepted.
    public var cleanSession: Bool
    public var will: Announcement?
    public var birth: Announcement?
    /// Re-sent on every connect: harmless when the broker kept the session, needed when it did not.
    public var subscriptions: [Subscription]
    public var reconnect: Backoff
    /// Bound on messages held between the C loop thread and the consumer. When it is full the loop
    /// thread stops reading the socket, so TCP and the broker's queue absorb the surplus.
    public var inboxCapacity: Int

    public init(
        host: String = "127.0.0.1",
        port: Int = 1883,
        clientID: String,
        username: String? = nil,
        password: String? = nil,
        tls: TLS? = nil,
        keepaliveSeconds: Int = 30,
        cleanSession: Bool = false,
        will: Announcement? = nil,
        birth: Announcement? = nil,
        subscriptions: [Subscription] = [],
        reconnect: Backoff = Backoff(initialMilliseconds: 250, maximumMilliseconds: 30_000),
        inboxCapacity: Int = 4096
    ) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.username = username
        self.password = password
        self.tls = tls
        self.keepaliveSeconds = keepaliveSeconds
        self.cleanSession = cleanSession
        self.will = will
        self.birth = birth
        self.subscriptions = subscriptions
        self.reconnect = reconnect
        self.inboxCapacity = inboxCapacity
    }
}
