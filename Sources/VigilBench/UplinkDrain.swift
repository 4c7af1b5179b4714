import ArgumentParser
import Foundation
import Logging
import VigilAgent
import VigilStore

/// Backlog drain through the real uplink: fills an encrypted store with readings (one per frame,
/// as wearables send them live), then lets `UplinkService` post them as FHIR transaction Bundles
/// to a local sink and reports readings/s and bytes on the wire per reading (JSON on stdout).
struct UplinkDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uplink-drain", abstract: "FHIR uplink backlog drain rate and bytes per reading.")

    @Option(help: "Readings in the backlog.") var readings = 100_000
    @Option(help: "Resources per Bundle.") var maxEntries = 1_000
    @Flag(help: "Send uncompressed bodies.") var noGzip = false
    @Option(help: "Directory for the store (default: .build/bench-uplink).") var directory = ".build/bench-uplink"

    func run() async throws {
        let path = directory + "/run-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let keyring = Keyring.generate()
        let (store, _) = try Store.open(directory: path, keyring: keyring,
                                        options: StoreOptions(segmentBytes: 4 << 20, quotaBytes: 1 << 40, reserveBytes: 0), logger: logger)
        // Eight devices, one reading of pulse, SpO2, respiration and skin temperature per frame.
        for index in 0..<readings {
            let device = index % 8
            let seq = UInt32(index / 8)
            store.append(.readings(ReadingBatch(
                device: "dev-\(device)", patient: "Patient/p\(device)", boot: 1, timeQuality: .device,
                receivedAt: 1_795_000_000_000 + Int64(seq) * 1_000, readings: [
                    StoredReading(seq: seq, time: 1_795_000_000_000 + Int64(seq) * 1_000, deviceTime: 1_795_000_000_000 + UInt64(seq) * 1_000,
                                  values: [.init(channel: .pulseRate, raw: 720 + Int16(seq % 9)), .init(channel: .spo2, raw: 970 + Int16(seq % 4)),
                                           .init(channel: .respiratoryRate, raw: 150 + Int16(seq % 3)), .init(channel: .skinTemperature, raw: 3_400)]),
                ])))
            if index % 1_024 == 1_023 { _ = try store.commit() }
        }
        _ = try store.commit()

        let sink = try await FHIRSink()
        let sinkTask = Task { try await sink.run() }
        let uplink = try UplinkBenchHarness(store: store, keyring: keyring, stateDirectory: path, baseURL: "http://127.0.0.1:\(sink.port)/fhir",
                                            maxEntries: maxEntries, gzip: !noGzip, logger: logger)
        let clock = ContinuousClock()
        let start = clock.now
        let running = Task { try await uplink.run() }
        while store.hasUnsent(.routine) || store.hasUnsent(.priority) { try await Task.sleep(for: .milliseconds(5)) }
        let elapsed = clock.now - start
        running.cancel()
        _ = try? await running.value
        sinkTask.cancel()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let totals = sink.totals.withLock { $0 }
        try printJSON([
            "readings": readings, "seconds": seconds, "readings_per_second": Int(Double(readings) / seconds),
            "resources": totals.entries, "resources_per_second": Int(Double(totals.entries) / seconds),
            "requests": totals.requests, "duplicates": totals.duplicates, "duplicate_samples": totals.duplicateSamples, "gzip": !noGzip,
            "wire_bytes_per_reading": Double(totals.wireBytes) / Double(readings),
            "json_bytes_per_reading": Double(totals.jsonBytes) / Double(readings),
        ])
    }
}
