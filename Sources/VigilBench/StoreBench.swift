import ArgumentParser
import Foundation
import Logging
import VigilStore

/// Appends readings to a real store on the real disk and reports records/s and MB/s, for a given
/// number of records per group commit (1 = an fdatasync per record), with or without encryption.
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Append throughput of the encrypted store (JSON on stdout).")

    @Option(help: "Records to append.") var records = 200_000
    @Option(help: "Records per group commit (1: fdatasync per record).") var batch = 256
    @Flag(help: "Frame and write without encrypting (to measure encryption's cost).") var noEncryption = false
    @Option(help: "Directory on the disk under test (default: .build/bench-store).") var directory = ".build/bench-store"

    func run() throws {
        let path = directory + "/run-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = StoreOptions(segmentBytes: 4 << 20, quotaBytes: 1 << 40, reserveBytes: 0)
        options.withoutEncryptionForBenchmark = noEncryption
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let (store, _) = try Store.open(directory: path, keyring: .generate(), options: options, logger: logger)
        // One reading of four channels, as a typical wearable frame: 70 bytes of plaintext.
        let entries: [Entry] = (0..<1_024).map { index in
            .readings(ReadingBatch(device: "spo2-ring-01", patient: "Patient/bench", boot: 1, timeQuality: .estimated,
                                   receivedAt: 1_795_000_000_000 + Int64(index), readings: [
                StoredReading(seq: UInt32(index), time: 1_795_000_000_000 + Int64(index), deviceTime: UInt64(index), values: [
                    .init(channel: .pulseRate, raw: 720), .init(channel: .spo2, raw: 975), .init(channel: .respiratoryRate, raw: 150), .init(channel: .skinTemperature, raw: 3_400),
                ]),
            ]))
        }
        let plaintextBytes = entries[0].encoded.count
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<records {
            store.append(entries[index & 1_023])
            if (index + 1) % batch == 0 { _ = try store.commit() }
        }
        _ = try store.commit()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let bytes = store.stats.lanes.values.reduce(0) { $0 + $1.bytes }
        try printJSON([
            "records": records, "batch": batch, "encryption": !noEncryption, "seconds": seconds,
            "records_per_second": Int(Double(records) / seconds), "mb_per_second": Double(bytes) / seconds / 1e6,
            "bytes_per_record_on_disk": Double(bytes) / Double(records), "plaintext_bytes_per_record": plaintextBytes,
        ])
    }
}
