import Logging
import ServiceLifecycle
import VigilMQTT

/// Owns the connection to the local broker: starts the MQTT client, logs and counts connection
/// changes, and on graceful shutdown disconnects cleanly (the pipeline then drains the inbox).
public struct IngestService: Service {
    let client: MQTTClient
    let metrics: AgentMetrics
    let logger: Logger
    let readiness: Readiness

    public func run() async throws {
        try await client.start()
        readiness.mark(.ingest)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await observeConnection() }
            await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    await client.waitUntilStopped()
                } onCancel: {
                    client.stop()
                }
            } onGracefulShutdown: {
                client.stop()
            }
        }
        await client.shutdown()
        logger.info("MQTT ingest stopped")
    }

    private func observeConnection() async {
        var wasConnected = false
        for await state in client.connectionStates() {
            switch state {
            case .connected(let sessionPresent):
                wasConnected = true
                metrics.mqttConnected.record(1)
                metrics.mqttConnects.increment()
                logger.notice("connected to the broker", metadata: ["session_present": "\(sessionPresent)"])
            case .disconnected(let reason, let retry):
                metrics.mqttConnected.record(0)
                if wasConnected { metrics.mqttDisconnects.increment() }
                if reason.needsOperator {
                    // Retrying continues, but a person must act: say so at error level.
                    logger.error("broker refused the agent: check mqtt.username, mqtt.password_file and the broker's ACL",
                                 metadata: ["reason": "\(reason)", "retry_ms": "\(retry)"])
                } else if wasConnected {
                    logger.warning("disconnected from the broker; reconnecting", metadata: ["reason": "\(reason)", "retry_ms": "\(retry)"])
                } else {
                    logger.info("could not connect to the broker; retrying", metadata: ["reason": "\(reason)", "retry_ms": "\(retry)"])
                }
                wasConnected = false
            case .connecting, .stopped:
                break
            }
        }
        metrics.mqttConnected.record(0)
    }
}
