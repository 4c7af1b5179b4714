import VigilCore
import VigilModels

/// Collects each device's ordinary readings into minute rollups (minute granularity). Pure and
/// checkpointed with the scorer, so a restart that replays the log rebuilds the same rollups.
///
/// A reading is rolled up (and flagged ``StoredReading/rolledUp``) when it is not abnormal and
/// has no value outside NEWS2's normal band: those still go one by one, at once. A device's rollup is finished when one of its readings falls in another minute (or
/// another boot), when it holds ``maximumSamples`` readings, or at a tick ``settle`` after its
/// minute ended that follows a tick with no reading added (a sensor sending its backlog in bursts
/// of past minutes is not split at whichever tick falls between two frames), and when its time quality, patient or the gateway clock's state changes. A late reading for a minute already finished starts a rollup of its own: the
/// first sequence number names it, so nothing is merged into an Observation already sent.
package struct MinuteRollups: Codable, Equatable, Sendable {
    package static let minute: Int64 = 60_000
    package static let settle: Int64 = 5_000
    package static let maximumSamples = 600
    /// Channels a rollup carries: the clinical measurements.
    static let channels: Set<Channel> = [.heartRate, .pulseRate, .spo2, .respiratoryRate, .skinTemperature, .coreTemperature, .perfusionIndex,
                                         .systolicBP, .diastolicBP]

    private var open: [String: MinuteRollup] = [:]
    private var finished: [MinuteRollup] = []
    /// Devices whose open rollup gained a reading since the last ``close(now:)``.
    private var added: Set<String> = []

    package init() {}

    /// Rolls up what it can of the batch (flagging those readings) and finishes rollups the
    /// batch moved past.
    package mutating func add(_ batch: inout ReadingBatch) {
        for index in batch.readings.indices {
            let reading = batch.readings[index]
            guard Self.eligible(reading) else { continue }
            let start = reading.time - ((reading.time % Self.minute) + Self.minute) % Self.minute
            if let current = open[batch.device],
               current.boot != batch.boot || current.start != start || current.readingCount >= Self.maximumSamples
                || current.patient != batch.patient || current.timeQuality != batch.timeQuality
                || current.gatewayUnsynced != reading.gatewayClockUnsynced || Self.jumped(current.receipt, batch.receipt) {
                finished.append(current)
                open[batch.device] = nil
            }
            var rollup = open[batch.device] ?? MinuteRollup(
                device: batch.device, patient: batch.patient, boot: batch.boot, timeQuality: batch.timeQuality, start: start,
                firstSeq: reading.seq, lastSeq: reading.seq, receivedAt: batch.receivedAt, deviceTime: reading.deviceTime,
                gatewayUnsynced: reading.gatewayClockUnsynced, receipt: batch.receipt, series: [])
            let offset = UInt16(clamping: reading.time - start)
            for value in reading.values where Self.channels.contains(value.channel) {
                let sample = MinuteRollup.Sample(offset: offset, raw: value.raw, grade: reading.qualityGrade)
                if let series = rollup.series.firstIndex(where: { $0.channel == value.channel }) {
                    rollup.series[series].samples.append(sample)
                } else {
                    rollup.series.append(.init(channel: value.channel, samples: [sample]))
                }
            }
            rollup.lastSeq = reading.seq
            rollup.receivedAt = batch.receivedAt
            rollup.receipt = batch.receipt
            rollup.deviceTime = reading.deviceTime
            open[batch.device] = rollup
            added.insert(batch.device)
            batch.readings[index].flags |= StoredReading.rolledUp
        }
    }

    /// Whether the gateway's clock jumped between two receipts: one rollup is corrected by one
    /// receipt, so its readings must share the clock's offset (to the jump tolerance, 1 s).
    static func jumped(_ a: ClockReceipt?, _ b: ClockReceipt?) -> Bool {
        switch (a, b) {
        case (nil, nil): false
        case let (a?, b?): a.gatewayBoot != b.gatewayBoot || abs(a.wallOffset - b.wallOffset) > 1_000
        default: true
        }
    }

    /// Finishes the rollups whose minute ended more than ``settle`` ago and that gained no
    /// reading since the previous call.
    package mutating func close(now: Int64) {
        for (device, rollup) in open where rollup.start + Self.minute + Self.settle <= now && !added.contains(device) {
            finished.append(rollup)
            open[device] = nil
        }
        added.removeAll()
    }

    /// The rollups finished since the last call, oldest first.
    package mutating func take() -> [MinuteRollup] {
        defer { finished.removeAll() }
        return finished
    }

    package var openCount: Int { open.count }

    static func eligible(_ reading: StoredReading) -> Bool {
        guard !reading.isAbnormal else { return false }
        var any = false
        for value in reading.values {
            if NormalBand.judge(value.channel, value.raw) != nil { return false }
            if channels.contains(value.channel) { any = true }
        }
        return any
    }
}
