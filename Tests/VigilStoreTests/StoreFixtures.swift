import Logging
import VigilStore

let quietLogger: Logger = {
    var logger = Logger(label: "store-test")
    logger.logLevel = .critical
    return logger
}()

/// A readings entry whose values encode `seq`, so tests can tell every record apart.
func reading(device: String = "dev-1", boot: UInt32 = 1, seq: UInt32, abnormal: Bool = false, time: Int64? = nil) -> Entry {
    let value = StoredReading(seq: seq, time: time ?? (1_795_000_000_000 + Int64(seq) * 1_000), deviceTime: UInt64(seq) * 1_000,
                              flags: abnormal ? StoredReading.abnormal : 0,
                              values: [.init(channel: .heartRate, raw: Int16(truncatingIfNeeded: 600 + seq % 400)), .init(channel: .spo2, raw: 975)])
    return .readings(ReadingBatch(device: device, patient: "Patient/\(device)", boot: boot, timeQuality: .estimated,
                                  receivedAt: 1_795_000_000_000 + Int64(seq) * 1_000, readings: [value]))
}

func alert(_ number: Int) -> Entry {
    var event = AlertEvent(kind: .raise, model: "test")
    event.alertID = "alert-\(number)"
    return .alert(AlertEntry(device: "dev-1", patient: "Patient/dev-1", time: 1_795_000_000_000 + Int64(number), event: event))
}

/// The (device, boot, seq) of every reading in `entries`, in order.
func sequenceNumbers(_ entries: [Entry]) -> [UInt32] {
    entries.flatMap { entry -> [UInt32] in
        guard case .readings(let batch) = entry else { return [] }
        return batch.readings.map(\.seq)
    }
}

func openStore(_ directory: String, keyring: Keyring, options: StoreOptions = .init(), fileSystem: any FileSystem = PosixFileSystem(),
               restore: (Entry) -> Void = { _ in }) throws -> (Store, RecoveryReport) {
    try Store.open(directory: directory, keyring: keyring, options: options, fileSystem: fileSystem, logger: quietLogger,
                   now: { 1_795_000_000_000 }, restore: restore)
}
