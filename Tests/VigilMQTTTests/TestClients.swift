import Logging
import VigilCore
import VigilMQTT
import VigilTestSupport

extension MQTTConfiguration {
    /// A client of the test broker with a fast reconnect, so outages in tests are short.
    static func test(
        _ broker: MosquittoBroker, id: String, subscriptions: [String] = [],
        username: String? = nil, password: String? = nil,
        reconnect: Backoff = Backoff(initialMilliseconds: 20, maximumMilliseconds: 200),
        inboxCapacity: Int = 4096
    ) -> MQTTConfiguration {
        MQTTConfiguration(
            host: "127.0.0.1", port: broker.port, clientID: id, username: username, password: password,
            subscriptions: subscriptions.map { .init($0) }, reconnect: reconnect, inboxCapacity: inboxCapacity)
    }
}

let testLogger = Logger(label: "vigil-test")

func startedClient(_ configuration: MQTTConfiguration) async throws -> MQTTClient {
    let client = MQTTClient(configuration: configuration, logger: testLogger)
    try await client.start()
    return client
}

func waitUntilConnected(_ client: MQTTClient) async -> Bool {
    await eventually { client.connectionState.isConnected }
}
