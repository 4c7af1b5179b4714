import ArgumentParser
import Foundation
import CompressNIO
import NIOCore
import VigilCore
import VigilScoring
import VigilUplink

/// What a home sends its hospital per sensor in each `uplink.fhir.granularity`: an hour of 1 Hz
/// readings of one sensor kind mapped by the real mapper (minute mode through the real rollups),
/// packed into transaction Bundles of at most 1,000 entries as the uplink does, and gzipped at
/// the uplink's level 1. Pure computation: the figures are counts and bytes, not timings.
struct GranularityBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "granularity", abstract: "Resources and bytes per sensor-hour with reading and minute granularity.")

    @Option(help: "Hours of 1 Hz readings per sensor.") var hours = 1
    @Option(help: "Readings per frame (the sensor's batch).") var perFrame = 1
    @Option(help: "One reading in this many has a vital outside NEWS2's normal band.") var outsideEvery = 100
    @Option(help: "Homes in the fleet (one sensor each).") var homes = 10_000

    func run() throws {
        print("kind          granularity  resources/sensor-hour  resources/s/home  JSON MB/sensor-hour  gzip KB/sensor-hour  fleet of \(homes): resources/s  gzip MB/s")
        for kind in ["spo2-ring", "vitals-patch"] {
            for granularity in FHIRMapper.Granularity.allCases {
                let (resources, raw, gzip) = try measure(kind: kind, granularity: granularity)
                let perHour = Double(resources) / Double(hours)
                let rawHour = Double(raw) / Double(hours)
                let gzipHour = Double(gzip) / Double(hours)
                let name = kind.padding(toLength: 13, withPad: " ", startingAt: 0) + " " + granularity.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                print(name + String(format: " %21.0f  %16.3f  %19.2f  %19.1f  %28.0f  %9.2f",
                                    perHour, perHour / 3_600, rawHour / 1e6, gzipHour / 1e3, perHour / 3_600 * Double(homes),
                                    gzipHour / 3_600 * Double(homes) / 1e6))
            }
        }
    }

    func measure(kind: String, granularity: FHIRMapper.Granularity) throws -> (resources: Int, raw: Int, gzip: Int) {
        let mapper = FHIRMapper(gateway: "gw-bench", options: .init(granularity: granularity)) { _ in .init(kind: kind) }
        var rollups = MinuteRollups()
        var random = SplitMix64(seed: 42)
        var resources: [FHIRResource] = []
        var counts = (resources: 0, raw: 0, gzip: 0)
        let start: Int64 = 1_795_350_000_000
        let total = hours * 3_600
        func flush(_ all: Bool) throws {
            while resources.count >= 1_000 || (all && !resources.isEmpty) {
                var bundle = TransactionBundle()
                bundle.append(contentsOf: Array(resources.prefix(1_000)))
                resources.removeFirst(min(1_000, resources.count))
                let bytes = bundle.encoded()
                counts.resources += bundle.entries.count
                counts.raw += bytes.count
                var buffer = ByteBuffer(bytes: bytes)
                counts.gzip += try buffer.compress(with: .gzip(configuration: .init(compressionLevel: .fastestCompression))).readableBytes
            }
        }
        var seq = 0
        while seq < total {
            var readings: [StoredReading] = []
            for index in seq..<min(total, seq + perFrame) {
                var values = Self.values(kind: kind, &random)
                if outsideEvery > 0, index % outsideEvery == outsideEvery - 1, let first = values.indices.first {
                    values[first].raw = first == 0 && values[first].channel == .spo2 ? 900 : 1_150  // SpO2 90 % or a pulse of 115
                }
                readings.append(StoredReading(seq: UInt32(index), time: start + Int64(index) * 1_000, deviceTime: UInt64(start) + UInt64(index) * 1_000,
                                              values: values))
            }
            var batch = ReadingBatch(device: "s1", patient: "Patient/p1", boot: 1, timeQuality: .device,
                                     receivedAt: start + Int64(seq + perFrame) * 1_000, readings: readings)
            if granularity == .minute { rollups.add(&batch) }
            resources += mapper.resources(for: .readings(batch))
            for rollup in rollups.take() { resources += mapper.resources(for: .rollup(rollup)) }
            seq += perFrame
            try flush(false)
        }
        rollups.close(now: .max)
        for rollup in rollups.take() { resources += mapper.resources(for: .rollup(rollup)) }
        try flush(true)
        return counts
    }

    /// Ordinary values of the kind's clinical channels (as `vigil sensor add --kind` allows them).
    static func values(kind: String, _ random: inout SplitMix64) -> [StoredReading.Value] {
        func around(_ middle: Int, _ spread: Int) -> Int16 { Int16(middle - spread + Int(random.next() % UInt64(2 * spread + 1))) }
        switch kind {
        case "spo2-ring":
            return [.init(channel: .pulseRate, raw: around(720, 80)), .init(channel: .spo2, raw: around(970, 15)),
                    .init(channel: .perfusionIndex, raw: around(250, 100))]
        default:
            return [.init(channel: .heartRate, raw: around(720, 80)), .init(channel: .spo2, raw: around(970, 15)),
                    .init(channel: .respiratoryRate, raw: around(160, 30)), .init(channel: .skinTemperature, raw: around(3_300, 50)),
                    .init(channel: .coreTemperature, raw: around(3_690, 20)), .init(channel: .systolicBP, raw: around(122, 8)),
                    .init(channel: .perfusionIndex, raw: around(250, 100))]
        }
    }
}
