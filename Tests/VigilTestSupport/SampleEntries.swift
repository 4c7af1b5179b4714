import VigilStore

/// Log entries for uplink tests: `count` readings from `seq` (pulse 72 and SpO2 97, a second
/// apart), and a NEWS2 raise (medium, 5).
public enum SampleEntries {
    public static let start: Int64 = 1_795_350_000_000

    public static func readings(device: String, seq: UInt32, count: Int = 10) -> Entry {
        .readings(ReadingBatch(device: device, patient: "Patient/\(device)", boot: 1, timeQuality: .device, receivedAt: start,
                               readings: (0..<UInt32(count)).map { index in
            StoredReading(seq: seq + index, time: start + Int64(seq + index) * 1_000, deviceTime: UInt64(start),
                          values: [.init(channel: .pulseRate, raw: 720), .init(channel: .spo2, raw: 970)])
        }))
    }

    public static func news2Raise(device: String) -> Entry {
        var event = AlertEvent(kind: .raise, model: "news2", version: "RCP-2017")
        event.alertID = "news2@\(start)"
        event.risk = "medium"
        event.score = 5
        return .alert(AlertEntry(device: device, patient: "Patient/\(device)", time: start, event: event))
    }
}
