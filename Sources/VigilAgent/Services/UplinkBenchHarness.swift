import Foundation
import CoreMetrics
import Logging
import VigilCore
import VigilStore
import VigilUplink

/// Builds the real ``UplinkService`` outside an agent, for `vigil-bench uplink-drain`.
package struct UplinkBenchHarness: Sendable {
    private let service: UplinkService

    package init(store: Store, keyring: Keyring, stateDirectory: String, baseURL: String, maxEntries: Int, gzip: Bool, logger: Logger) throws {
        service = UplinkService(
            store: store, mapper: FHIRMapper(gateway: "gw-bench"),
            transport: try FHIRTransport(.init(baseURL: baseURL, gzip: gzip)),
            deadLetters: try DeadLetters(directory: stateDirectory + "/uplink", keyring: keyring),
            settings: .init(maxEntries: maxEntries, maxBytes: 64 << 20, backoff: Backoff(initialMilliseconds: 10, maximumMilliseconds: 100, jitter: .full)),
            logger: logger, metrics: NOOPMetricsHandler.instance)
    }

    package func run() async throws { try await service.run() }
}
