import ArgumentParser
import Foundation
import Logging
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol

/// Sensors that behave like the firmware about acknowledgements: every reading is kept until the
/// gateway's durable ACK covers it and is sent again (after `--resend-after`) until then, batched
/// like the firmware's replay (up to 32 readings per frame, so a long backlog stays within the
/// gateway's per-device frame budget). The crash test runs it while the agent is killed again and
/// again; at the end it reports, per device, the highest sequence acknowledged, which the store
/// must hold exactly once.
struct AckedLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acked-load",
        abstract: "Publish readings from simulated sensors that keep each one until durably acknowledged.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Device registry directory (the agent's <state_directory>/devices).") var registry: String
    @Option(help: "Number of simulated devices.") var devices = 4
    @Option(help: "Frames per second per device (keep it below the gateway's 20 per device).") var rate = 10.0
    @Option(help: "Seconds to publish new readings.") var duration = 10.0
    @Option(help: "Seconds to keep resending unacknowledged readings after that.") var drainTimeout = 60.0
    @Option(help: "Seconds before an unacknowledged reading is sent again.") var resendAfter = 1.0
    @Option(help: "Stop publishing new readings when this file appears (earlier than --duration).") var stopFile: String?
    @Option(help: "Every Nth reading of a device desaturates (SpO2 84 %, pulse 135: a NEWS2 alert); 0: never.") var abnormalEvery = 0

    struct Sensor {
        let key: DeviceKey
        var vitals = Vitals()
        var next: UInt32 = 0
        /// Readings not yet acknowledged: when sampled (Unix ms), values, when last sent.
        var unacked: [UInt32: (t0: UInt64, values: [(Channel, Int16)], sent: ContinuousClock.Instant)] = [:]
        var ackedThrough: Int64 = -1
        var resent = 0
    }

    func run() async throws {
        var sensors: [DeviceID: Sensor] = [:]
        for index in 0..<devices {
            let id = DeviceID("load-\(index)")!
            let keyBytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
            try DeviceRegistry.write(.init(device: id.rawValue, patient: "Patient/load-\(index)", kind: "spo2-ring",
                                           key: keyBytes.map { String(format: "%02x", $0) }.joined()),
                                     to: URL(fileURLWithPath: registry))
            sensors[id] = Sensor(key: DeviceKey(device: id, bytes: keyBytes)!)
        }
        let topics = Topics(prefix: "vigil/v1")
        let client = MQTTClient(
            configuration: .init(host: broker.host, port: broker.port, clientID: "vigil-acked-load-\(getpid())", cleanSession: true,
                                 subscriptions: [.init(topics.filter(.ack))],
                                 reconnect: Backoff(initialMilliseconds: 50, maximumMilliseconds: 500)),
            logger: Logger(label: "acked-load"))
        try await client.start()
        let boot: UInt32 = 1
        let clock = ContinuousClock()
        let started = clock.now
        var publishing = true
        var stoppedAt = clock.now
        var random = SystemRandomNumberGenerator()
        while true {
            let now = clock.now
            if publishing && (now - started >= .seconds(duration) || stopFile.map { FileManager.default.fileExists(atPath: $0) } == true) {
                publishing = false
                stoppedAt = now
            }
            if !publishing && (sensors.values.allSatisfy { $0.unacked.isEmpty } || now - stoppedAt >= .seconds(drainTimeout)) {
                break
            }
            while let message = client.messages.nextIfAvailable() {
                guard let (device, kind) = topics.parse(message.topic), kind == .ack, var sensor = sensors[device],
                      case .ack(let ack)? = try? FrameDecoder.decode(message.payload, key: sensor.key), ack.boot == boot else { continue }
                sensor.ackedThrough = max(sensor.ackedThrough, Int64(ack.seq))
                sensor.unacked = sensor.unacked.filter { $0.key > ack.seq }
                sensors[device] = sensor
            }
            for id in sensors.keys {
                var sensor = sensors[id]!
                if publishing {
                    sensor.vitals.step(using: &random)
                    let t0 = UInt64(Date().timeIntervalSince1970 * 1_000)
                    var values = sensor.vitals.values
                    if abnormalEvery > 0 && Int(sensor.next) % abnormalEvery == abnormalEvery - 1 {
                        values = values.map { channel, value in
                            (channel, channel == .spo2 ? 840 : channel == .pulseRate ? 1_350 : value)
                        }
                    }
                    let frame = FrameEncoder.readings(key: sensor.key, boot: boot, seq: sensor.next, t0: t0,
                                                      records: [.init(dt: 0, values: values)], flags: .clockSynced)
                    sensor.unacked[sensor.next] = (t0, values, now)
                    sensor.next += 1
                    try? client.enqueue(topic: topics.topic(id, .up), payload: frame)
                }
                // Resend what is overdue, contiguous runs of up to 32 readings per frame.
                let due = sensor.unacked.filter { now - $0.value.sent >= .seconds(resendAfter) }.keys.sorted()
                var run: [UInt32] = []
                for seq in due + [UInt32.max] {
                    if let last = run.last, seq != last &+ 1 || run.count == FrameFormat.maxRecords {
                        let first = sensor.unacked[run[0]]!
                        let records = run.map { seq in
                            let reading = sensor.unacked[seq]!
                            return FrameEncoder.RecordInput(dt: UInt32(clamping: reading.t0 &- first.t0), values: reading.values)
                        }
                        let frame = FrameEncoder.readings(key: sensor.key, boot: boot, seq: run[0], t0: first.t0, records: records,
                                                          flags: [.clockSynced, .replay])
                        try? client.enqueue(topic: topics.topic(id, .up), payload: frame)
                        for seq in run { sensor.unacked[seq]!.sent = now }
                        sensor.resent += run.count
                        run.removeAll()
                    }
                    if seq != .max { run.append(seq) }
                }
                sensors[id] = sensor
            }
            try await Task.sleep(for: .milliseconds(Int(1_000 / rate)))
        }
        await client.shutdown()
        var report: [String: Any] = [:]
        for (id, sensor) in sensors {
            report[id.rawValue] = ["boot": Int(boot), "sent": Int(sensor.next), "acked_through": sensor.ackedThrough,
                                   "unacked": sensor.unacked.count, "resent": sensor.resent]
        }
        try printJSON(report)
    }
}
