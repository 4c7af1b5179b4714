import VigilModels
import VigilProtocol
import VigilStore
import VigilValidation

/// Turns an accepted frame into the store's entry, marking abnormal readings (kept longest by
/// eviction). Pure.
enum StoredReadings {
    static func entry(_ accepted: Validator.Accepted, fresh: Set<UInt32>, receivedAt: Int64) -> ReadingBatch {
        var readings: [StoredReading] = []
        readings.reserveCapacity(fresh.count)
        for record in accepted.frame.records where fresh.contains(record.seq) {
            var values: [StoredReading.Value] = []
            values.reserveCapacity(record.channels.count)
            for (channel, raw) in record.channels { values.append(.init(channel: channel, raw: raw)) }
            readings.append(StoredReading(
                seq: record.seq, time: accepted.time(of: record), deviceTime: accepted.frame.t0 &+ UInt64(record.dt),
                flags: isAbnormal(record.channels) ? StoredReading.abnormal : 0, values: values))
        }
        return ReadingBatch(device: accepted.device.rawValue, patient: accepted.patient, boot: accepted.frame.boot,
                            timeQuality: accepted.timeQuality, receivedAt: receivedAt, readings: readings)
    }

    /// Abnormal: any NEWS2 parameter in the reading scores 1 or more on its own (outside the
    /// chart's normal band). Heart rate stands in for pulse when no pulse rate is sent.
    static func isAbnormal(_ values: ChannelValues) -> Bool {
        var observation = NEWS2.Observation()
        observation.respiratoryRate = values[.respiratoryRate].map(Int.init)
        observation.spo2 = values[.spo2].map(Int.init)
        observation.systolicBP = values[.systolicBP].map(Int.init)
        observation.pulse = (values[.pulseRate] ?? values[.heartRate]).map(Int.init)
        observation.temperature = values[.coreTemperature].map(Int.init)
        return NEWS2.score(observation).subscores.values.contains { $0 > 0 }
    }
}
