import Foundation
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilProvisioning

/// Simulated sensors that behave like the firmware about acknowledgements: every reading is kept
/// until the gateway's durable ACK covers it and is sent again (after `resendAfter`) until then,
/// batched like the firmware's replay (contiguous runs of up to 32 readings per frame, so a long
/// backlog stays within the gateway's per-device frame budget). Pure bookkeeping: the caller
/// owns the MQTT client and the clock, so `acked-load`, the end-to-end benchmark and the soak
/// drive the same sensors.
struct AckedFleet {
    struct Pending {
        /// When sampled (Unix ms), and the values.
        let t0: UInt64
        let values: [(Channel, Int16)]
        var sent: ContinuousClock.Instant
    }

    struct Sensor {
        let key: DeviceKey
        var vitals = Vitals()
        var next: UInt32 = 0
        var unacked: [UInt32: Pending] = [:]
        var ackedThrough: Int64 = -1
        var resent = 0
        /// Sequence numbers sent more than once (they reach the gateway late, after newer ones).
        var replayed: Set<UInt32> = []
    }

    let boot: UInt32
    let topics = Topics(prefix: "vigil/v1")
    private(set) var sensors: [Sensor]
    private let index: [DeviceID: Int]
    private var random = SystemRandomNumberGenerator()

    init(keys: [DeviceKey], boot: UInt32) {
        self.boot = boot
        sensors = keys.map { Sensor(key: $0) }
        index = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1.device, $0) })
    }

    /// Registers `count` devices named `<prefix>-<i>` (patients `Patient/<prefix>-<i>`) with new
    /// random keys in the registry directory, and returns the keys.
    static func provision(count: Int, prefix: String, registry: String, kind: String = "spo2-ring") throws -> [DeviceKey] {
        try (0..<count).map { number in
            let id = DeviceID("\(prefix)-\(number)")!
            let bytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
            try DeviceRegistry.write(.init(device: id.rawValue, patient: "Patient/\(prefix)-\(number)", kind: kind, key: hexEncoded(bytes)),
                                     to: URL(fileURLWithPath: registry))
            return DeviceKey(device: id, bytes: bytes)!
        }
    }

    /// The subscription the fleet's client needs (the gateway's ACKs to every device).
    var ackFilter: String { topics.filter(.ack) }

    var sent: Int { sensors.reduce(0) { $0 + Int($1.next) } }
    var unacknowledged: Int { sensors.reduce(0) { $0 + $1.unacked.count } }
    var resent: Int { sensors.reduce(0) { $0 + $1.resent } }
    var allAcknowledged: Bool { sensors.allSatisfy { $0.unacked.isEmpty } }

    /// A new reading from sensor `number` as a live frame. `abnormal`: SpO2 84 % and pulse 135
    /// (NEWS2 6, a raise). Returns the topic, the frame and the reading's sampling time (Unix ms).
    mutating func sample(_ number: Int, now: ContinuousClock.Instant, abnormal: Bool = false) -> (topic: String, frame: [UInt8], t0: UInt64) {
        var sensor = sensors[number]
        sensor.vitals.step(using: &random)
        let t0 = UInt64(Date().timeIntervalSince1970 * 1_000)
        var values = sensor.vitals.values
        if abnormal {
            // Varying a little, as a real reading does (a flat line is excluded as a signal fault).
            let wobble = Int16(sensor.next % 5)
            values = values.map { channel, value in (channel, channel == .spo2 ? 840 - wobble : channel == .pulseRate ? 1_350 + wobble : value) }
        }
        let frame = FrameEncoder.readings(key: sensor.key, boot: boot, seq: sensor.next, t0: t0,
                                          records: [.init(dt: 0, values: values)], flags: .clockSynced)
        sensor.unacked[sensor.next] = Pending(t0: t0, values: values, sent: now)
        sensor.next += 1
        sensors[number] = sensor
        return (topics.topic(sensor.key.device, .up), frame, t0)
    }

    /// Applies an ACK addressed to one of the fleet's sensors; returns how many readings it newly
    /// covered (nil when the message is not a valid ACK of this boot).
    @discardableResult
    mutating func receive(topic: String, payload: [UInt8]) -> Int? {
        guard let (device, kind) = topics.parse(topic), kind == .ack, let number = index[device],
              case .ack(let ack)? = try? FrameDecoder.decode(payload, key: sensors[number].key), ack.boot == boot else { return nil }
        var sensor = sensors[number]
        guard Int64(ack.seq) > sensor.ackedThrough else { return 0 }
        let before = sensor.unacked.count
        sensor.ackedThrough = Int64(ack.seq)
        sensor.unacked = sensor.unacked.filter { $0.key > ack.seq }
        sensors[number] = sensor
        return before - sensor.unacked.count
    }

    /// Frames resending what has waited at least `after` for its ACK: contiguous runs of up to
    /// 32 readings each, flagged as replays.
    mutating func resendDue(now: ContinuousClock.Instant, after: Duration) -> [(topic: String, frame: [UInt8])] {
        var frames: [(String, [UInt8])] = []
        for number in sensors.indices where !sensors[number].unacked.isEmpty {
            var sensor = sensors[number]
            let due = sensor.unacked.filter { now - $0.value.sent >= after }.keys.sorted()
            var run: [UInt32] = []
            for seq in due + [UInt32.max] {
                if let last = run.last, seq != last &+ 1 || run.count == FrameFormat.maxRecords {
                    let first = sensor.unacked[run[0]]!
                    let records = run.map { seq in
                        let reading = sensor.unacked[seq]!
                        return FrameEncoder.RecordInput(dt: UInt32(clamping: reading.t0 &- first.t0), values: reading.values)
                    }
                    frames.append((topics.topic(sensor.key.device, .up),
                                   FrameEncoder.readings(key: sensor.key, boot: boot, seq: run[0], t0: first.t0, records: records,
                                                         flags: [.clockSynced, .replay])))
                    for seq in run { sensor.unacked[seq]!.sent = now }
                    sensor.replayed.formUnion(run)
                    sensor.resent += run.count
                    run.removeAll()
                }
                if seq != .max { run.append(seq) }
            }
            sensors[number] = sensor
        }
        return frames
    }

    /// Per device: boot, readings sent, highest sequence acknowledged, still unacknowledged, resent.
    var report: [String: Any] {
        var report: [String: Any] = [:]
        for sensor in sensors {
            report[sensor.key.device.rawValue] = ["boot": Int(boot), "sent": Int(sensor.next), "acked_through": sensor.ackedThrough,
                                                  "unacked": sensor.unacked.count, "resent": sensor.resent]
        }
        return report
    }
}
