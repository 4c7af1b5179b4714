import Foundation

extension Entry {
    /// The record type the entry is stored as.
    public var type: RecordType {
        switch self {
        case .readings: .readings
        case .alert: .alert
        case .gap: .gap
        case .coverage: .coverage
        }
    }

    public var lane: Lane { self.type == .readings ? .routine : .priority }
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
                                               receivedAt: receivedAt, readings: readings))
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
