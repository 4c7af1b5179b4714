import DequeModule
import Synchronization
import VigilProtocol
import VigilStore
import VigilProvisioning
import VigilUplink

/// What the agent has observed of each sensor since it started: liveness (STATUS birth and last
/// will), firmware, battery, RSSI, the settings version applied, readings per minute,
/// completeness from sequence numbers, rejections by reason, and the last readings for `vigil
/// sensor watch`. Filled by the pipeline, read by the control socket, the metrics endpoint and
/// the uplink (which sends firmware and battery in the sensor's Device when they change).
///
/// Bounded: at most ``maxDevices`` entries (rejections name unprovisioned ids too, and a flood of
/// made-up ids must not grow memory), and ``recentCapacity`` readings per device.
package final class SensorBook: Sendable, SensorFactsSource {
    package static let maxDevices = 1_024
    package static let recentCapacity = 240
    /// Boots whose sequence spans count towards completeness.
    static let bootsTracked = 4

    /// The facts the uplink sends in the sensor's Device; `revision` grows when they change.
    package struct Facts: Sendable, Equatable {
        package var firmware: String
        package var battery: Int?
        package var revision: Int
    }

    struct Span: Sendable, Codable, Equatable {
        var first: UInt32
        var last: UInt32
        var received: UInt64
        var expected: UInt64 { UInt64(last - first) + 1 }
    }

    struct BootSpan: Sendable, Codable, Equatable {
        var boot: UInt32
        var span: Span
    }

    /// A sensor's remembered facts (``Remembered``, read and written as if they were its own
    /// properties) and what is only kept while the agent runs.
    @dynamicMemberLookup
    struct Sensor: Sendable {
        var facts = Remembered()
        var rate = RateWindow()
        /// The last readings as stored (converted only when someone watches: the pipeline's
        /// per-reading cost stays one append), with their watch index.
        var recent: Deque<(index: UInt64, reading: StoredReading)> = []
        var nextIndex: UInt64 = 1

        subscript<Value>(dynamicMember keyPath: WritableKeyPath<Remembered, Value>) -> Value {
            get { facts[keyPath: keyPath] }
            set { facts[keyPath: keyPath] = newValue }
        }
    }

    private let sensors = Mutex<[String: Sensor]>([:])

    package init() {}

    /// What the book remembers of a sensor across a restart (the gateway's checkpoint): its last
    /// facts, so `vigil sensor list` and the uplink's Device say as much after a restart as
    /// before. Rates and the readings kept for `watch` start afresh.
    package struct Remembered: Sendable, Codable, Equatable {
        var lastSeen: Int64?
        var online: Bool?
        var firmware: String?
        var battery: Int?
        var rssi: Int?
        var boot: UInt32?
        var configApplied: UInt32?
        var revision = 0
        var stored: UInt64 = 0
        var spans: [BootSpan] = []
        var rejects: [String: UInt64] = [:]
    }

    package var checkpoint: [String: Remembered] { sensors.withLock { $0.mapValues(\.facts) } }

    package func restore(_ remembered: [String: Remembered]) {
        sensors.withLock { all in
            for (device, facts) in remembered.prefix(Self.maxDevices) {
                var sensor = Sensor(facts: facts)
                sensor.spans = Array(facts.spans.suffix(Self.bootsTracked))
                all[device] = sensor
            }
        }
    }

    private func update(_ device: String, _ body: (inout Sensor) -> Void) {
        sensors.withLock { all in
            guard all[device] != nil || all.count < Self.maxDevices else { return }
            body(&all[device, default: Sensor()])
        }
    }

    /// An authenticated STATUS frame (birth, last will, or a report after new settings).
    package func status(device: String, frame: StatusFrame, at time: Int64) {
        update(device) { sensor in
            sensor.lastSeen = time
            sensor.online = frame.online
            sensor.boot = frame.boot
            sensor.configApplied = frame.configVersion
            guard frame.online else { return }
            let battery = frame.battery.map(Int.init)
            if sensor.firmware != frame.firmware || sensor.battery != battery { sensor.revision += 1 }
            sensor.firmware = frame.firmware
            sensor.battery = battery
            sensor.rssi = frame.rssi.map(Int.init)
        }
    }

    /// A batch made durable (after the group commit), with its quality grades.
    package func stored(_ batch: ReadingBatch, at time: Int64) {
        guard !batch.readings.isEmpty else { return }
        update(batch.device) { sensor in
            sensor.lastSeen = time
            sensor.online = sensor.online ?? true
            sensor.stored += UInt64(batch.readings.count)
            sensor.rate.add(UInt64(batch.readings.count), at: time)
            var first = UInt32.max
            var last = UInt32.min
            for reading in batch.readings {
                first = min(first, reading.seq)
                last = max(last, reading.seq)
                sensor.recent.append((sensor.nextIndex, reading))
                sensor.nextIndex += 1
                if sensor.recent.count > Self.recentCapacity { sensor.recent.removeFirst() }
            }
            let received = UInt64(batch.readings.count)
            if let index = sensor.spans.firstIndex(where: { $0.boot == batch.boot }) {
                sensor.spans[index].span.first = min(sensor.spans[index].span.first, first)
                sensor.spans[index].span.last = max(sensor.spans[index].span.last, last)
                sensor.spans[index].span.received += received
            } else {
                sensor.spans.append(BootSpan(boot: batch.boot, span: Span(first: first, last: last, received: received)))
                if sensor.spans.count > Self.bootsTracked { sensor.spans.removeFirst() }
            }
        }
    }

    static let qualities = ["good", "fair", "poor", "unusable"]

    static func watchReading(_ item: (index: UInt64, reading: StoredReading)) -> WatchReading {
        var values: [String: Double] = [:]
        for value in item.reading.values {
            values[value.channel.key] = Double(value.raw) / Double(value.channel.divisor)
        }
        return WatchReading(index: item.index, time: item.reading.time, seq: item.reading.seq, values: values,
                            quality: qualities[Int(item.reading.qualityGrade)], abnormal: item.reading.isAbnormal)
    }

    package func rejected(device: String, reason: String) {
        update(device) { $0.rejects[reason, default: 0] += 1 }
    }

    /// Firmware and battery for the uplink's Device resource.
    package func facts(of device: String) -> Facts? {
        sensors.withLock { all in
            guard let sensor = all[device], let firmware = sensor.firmware else { return nil }
            return Facts(firmware: firmware, battery: sensor.battery, revision: sensor.revision)
        }
    }

    package func uplinkFacts(of device: String) -> SensorFacts? {
        facts(of: device).map { SensorFacts(firmware: $0.firmware, battery: $0.battery, revision: $0.revision) }
    }

    /// Everything observed of each device, merged with what the registry says of it.
    package func reports(registry: [String: DeviceRegistry.Summary], at time: Int64) -> [SensorReport] {
        let observed = sensors.withLock { $0 }
        return Set(observed.keys).union(registry.keys).sorted().map { device in
            let sensor = observed[device] ?? Sensor()
            let entry = registry[device]
            return SensorReport(
                device: device, patient: entry?.patient, kind: entry?.kind, provisioned: entry != nil, online: sensor.online,
                lastSeen: sensor.lastSeen, firmware: sensor.firmware, battery: sensor.battery, rssi: sensor.rssi, boot: sensor.boot,
                configApplied: sensor.configApplied, configWanted: entry?.configVersion,
                readingsPerMinute: Int(sensor.rate.lastMinute(at: time)), readingsStored: sensor.stored,
                received: sensor.spans.reduce(0) { $0 + $1.span.received },
                expected: sensor.spans.reduce(0) { $0 + $1.span.expected },
                rejects: sensor.rejects)
        }
    }

    /// The device's readings with an index above `after` (oldest first; at most the last
    /// ``recentCapacity``).
    package func readings(of device: String, after: UInt64) -> WatchBatch {
        sensors.withLock { all in
            guard let sensor = all[device] else { return WatchBatch(next: after, readings: []) }
            return WatchBatch(next: sensor.nextIndex - 1, readings: sensor.recent.filter { $0.index > after }.map(Self.watchReading))
        }
    }
}
