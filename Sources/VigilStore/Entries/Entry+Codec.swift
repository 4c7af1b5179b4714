import Foundation

extension Entry {
    /// The record type the entry is stored as.
    public var type: RecordType {
        switch self {
        case .readings: .readings
        case .alert: .alert
        case .gap: .gap
        case .coverage: .coverage
        case .rollup: .rollup
        }
    }

    public var lane: Lane { self.type == .readings || self.type == .rollup ? .routine : .priority }
}

/// The plaintext encoding of entries inside records (little-endian; `docs/STORE.md`).
extension Entry {
    public var encoded: [UInt8] {
        var writer = ByteWriter(capacity: 128)
        switch self {
        case .readings(let batch):
            writer.shortString(batch.device)
            writer.shortString(batch.patient)
            writer.u32(batch.boot)
            writer.u8(batch.timeQuality.storeCode)
            writer.i64(batch.receivedAt)
            writer.u16(UInt16(batch.readings.count))
            for reading in batch.readings {
                writer.u32(reading.seq)
                writer.i64(reading.time)
                writer.u64(reading.deviceTime)
                writer.u8(reading.flags)
                writer.u8(UInt8(reading.values.count))
                for value in reading.values {
                    writer.u8(value.channel.rawValue)
                    writer.i16(value.raw)
                }
            }
            writer.receipt(batch.receipt)
        case .alert(let alert):
            writer.shortString(alert.device)
            writer.shortString(alert.patient)
            writer.i64(alert.time)
            writer.longBytes(alert.event.jsonBytes)
        case .gap(let gap):
            writer.shortString(gap.device)
            writer.shortString(gap.patient)
            writer.shortString(gap.reason.rawValue)
            writer.i64(gap.from)
            writer.i64(gap.to)
            writer.u32(gap.count)
        case .coverage(let day):
            writer.shortString(day.patient)
            writer.longBytes(day.jsonBytes)
        case .rollup(let rollup):
            writer.shortString(rollup.device)
            writer.shortString(rollup.patient)
            writer.u32(rollup.boot)
            writer.u8(rollup.timeQuality.storeCode)
            writer.i64(rollup.start)
            writer.u32(rollup.firstSeq)
            writer.u32(rollup.lastSeq)
            writer.i64(rollup.receivedAt)
            writer.u64(rollup.deviceTime)
            writer.u8(rollup.gatewayUnsynced ? 1 : 0)
            writer.u8(UInt8(rollup.series.count))
            for series in rollup.series {
                writer.u8(series.channel.rawValue)
                writer.u16(UInt16(series.samples.count))
                for sample in series.samples {
                    writer.u16(sample.offset)
                    writer.i16(sample.raw)
                    writer.u8(sample.grade)
                }
            }
            writer.receipt(rollup.receipt)
        }
        return writer.bytes
    }

    public struct DecodingError: Error, Sendable {}

    public static func decode(type: RecordType, _ bytes: [UInt8]) throws(DecodingError) -> Entry {
        var reader = ByteReader(bytes)
        do {
            let entry: Entry
            switch type {
            case .readings:
                let device = try reader.shortString()
                let patient = try reader.shortString()
                let boot = try reader.u32()
                guard let quality = TimeQuality(storeCode: try reader.u8()) else { throw DecodingError() }
                let receivedAt = try reader.i64()
                let count = Int(try reader.u16())
                var readings: [StoredReading] = []
                readings.reserveCapacity(count)
                for _ in 0..<count {
                    let seq = try reader.u32()
                    let time = try reader.i64()
                    let deviceTime = try reader.u64()
                    let flags = try reader.u8()
                    let valueCount = Int(try reader.u8())
                    var values: [StoredReading.Value] = []
                    values.reserveCapacity(valueCount)
                    for _ in 0..<valueCount {
                        guard let channel = Channel(rawValue: try reader.u8()) else { throw DecodingError() }
                        values.append(.init(channel: channel, raw: try reader.i16()))
                    }
                    readings.append(StoredReading(seq: seq, time: time, deviceTime: deviceTime, flags: flags, values: values))
                }
                entry = .readings(ReadingBatch(device: device, patient: patient, boot: boot, timeQuality: quality,
                                               receivedAt: receivedAt, readings: readings, receipt: try reader.receipt()))
            case .alert:
                entry = .alert(AlertEntry(device: try reader.shortString(), patient: try reader.shortString(),
                                          time: try reader.i64(), event: try AlertEvent(jsonBytes: try reader.longBytes())))
            case .gap:
                let device = try reader.shortString()
                let patient = try reader.shortString()
                guard let reason = DataGap.Reason(rawValue: try reader.shortString()) else { throw DecodingError() }
                entry = .gap(DataGap(device: device, patient: patient, reason: reason, from: try reader.i64(),
                                     to: try reader.i64(), count: try reader.u32()))
            case .coverage:
                let patient = try reader.shortString()
                guard var day = CoverageDay(jsonBytes: try reader.longBytes()) else { throw DecodingError() }
                day.patient = patient
                entry = .coverage(day)
            case .rollup:
                let device = try reader.shortString()
                let patient = try reader.shortString()
                let boot = try reader.u32()
                guard let quality = TimeQuality(storeCode: try reader.u8()) else { throw DecodingError() }
                let start = try reader.i64()
                let firstSeq = try reader.u32()
                let lastSeq = try reader.u32()
                let receivedAt = try reader.i64()
                let deviceTime = try reader.u64()
                let unsynced = try reader.u8()
                guard unsynced <= 1 else { throw DecodingError() }
                var series: [MinuteRollup.Series] = []
                for _ in 0..<Int(try reader.u8()) {
                    guard let channel = Channel(rawValue: try reader.u8()) else { throw DecodingError() }
                    let count = Int(try reader.u16())
                    var samples: [MinuteRollup.Sample] = []
                    samples.reserveCapacity(count)
                    for _ in 0..<count {
                        samples.append(.init(offset: try reader.u16(), raw: try reader.i16(), grade: try reader.u8()))
                    }
                    series.append(.init(channel: channel, samples: samples))
                }
                entry = .rollup(MinuteRollup(device: device, patient: patient, boot: boot, timeQuality: quality, start: start,
                                             firstSeq: firstSeq, lastSeq: lastSeq, receivedAt: receivedAt, deviceTime: deviceTime,
                                             gatewayUnsynced: unsynced == 1, receipt: try reader.receipt(), series: series))
            case .seal:
                throw DecodingError()
            }
            guard reader.remaining == 0 else { throw DecodingError() }
            return entry
        } catch {
            throw DecodingError()
        }
    }
}

/// The optional receipt trailer of readings and rollup records (docs/STORE.md): written only
/// while the gateway's clock is unsynchronised, so a record without one is as before.
extension ByteWriter {
    fileprivate mutating func receipt(_ receipt: ClockReceipt?) {
        guard let receipt else { return }
        u64(receipt.gatewayBoot)
        i64(receipt.wallOffset)
    }
}

extension ByteReader {
    fileprivate mutating func receipt() throws -> ClockReceipt? {
        guard remaining == 16 else { return nil }
        return ClockReceipt(gatewayBoot: try u64(), wallOffset: try i64())
    }
}

extension CoverageDay {
    /// The figures as JSON (the patient is stored beside it, as for the other entries).
    var jsonBytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return (try? Array(encoder.encode(self))) ?? []
    }

    init?(jsonBytes: [UInt8]) {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        guard let day = try? decoder.decode(CoverageDay.self, from: Data(jsonBytes)) else { return nil }
        self = day
    }
}
