import Foundation
import Testing
@testable import VigilAgent
import VigilCore
import VigilProtocol
import VigilStore

/// What the control socket reports per sensor, from what the pipeline hands the book. Pure.
@Suite struct SensorBookTests {
    let t0: Int64 = 1_795_000_000_000

    func batch(_ device: String, boot: UInt32, seqs: [UInt32], spo2: Int16 = 970) -> ReadingBatch {
        ReadingBatch(device: device, patient: "Patient/1", boot: boot, timeQuality: .device, receivedAt: t0,
                     readings: seqs.map { StoredReading(seq: $0, time: t0 + Int64($0) * 1_000, deviceTime: 0,
                                                        flags: 1 << StoredReading.qualityShift, values: [.init(channel: .spo2, raw: spo2)]) })
    }

    @Test func completenessCountsWhatArrivedAgainstTheSequenceNumbers() {
        let book = SensorBook()
        book.stored(batch("d", boot: 1, seqs: [0, 1, 2]), at: t0)
        book.stored(batch("d", boot: 1, seqs: [6, 7]), at: t0)          // 3...5 missing
        book.stored(batch("d", boot: 2, seqs: [0, 1]), at: t0 + 1_000)  // a reboot starts again
        let report = book.reports(registry: ["d": .init(patient: "Patient/1", kind: "k", configVersion: 3)], at: t0 + 2_000)[0]
        #expect(report.received == 7 && report.expected == 10)
        #expect(report.completeness == 0.7)
        #expect(report.readingsPerMinute == 7 && report.readingsStored == 7)
        #expect(report.configWanted == 3 && report.configApplied == nil && report.configPending)
        // The gap filled by a resend.
        book.stored(batch("d", boot: 1, seqs: [3, 4, 5]), at: t0 + 3_000)
        #expect(book.reports(registry: [:], at: t0 + 3_000)[0].completeness == 1)
    }

    @Test func statusRejectsAndFactsForTheUplink() {
        let book = SensorBook()
        book.rejected(device: "d", reason: "bad_mac")
        book.rejected(device: "d", reason: "bad_mac")
        book.rejected(device: "d", reason: "replayed")
        let key = DeviceKey(device: DeviceID("d")!, bytes: Array(repeating: 7, count: 32))!
        func status(online: Bool, battery: UInt8?, version: UInt32) -> StatusFrame {
            let bytes = FrameEncoder.status(key: key, boot: 2, online: online, battery: battery, rssi: -55, configVersion: version,
                                            uptimeMilliseconds: 1, firmware: "fw 1")
            guard case .status(let frame)? = try? FrameDecoder.decode(bytes, key: key) else { fatalError("a STATUS frame decodes") }
            return frame
        }
        book.status(device: "d", frame: status(online: true, battery: 80, version: 2), at: t0)
        #expect(book.facts(of: "d") == .init(firmware: "fw 1", battery: 80, revision: 1))
        book.status(device: "d", frame: status(online: true, battery: 80, version: 2), at: t0 + 1)
        #expect(book.facts(of: "d")?.revision == 1, "unchanged facts do not make the uplink resend the Device")
        book.status(device: "d", frame: status(online: false, battery: nil, version: 2), at: t0 + 2)
        let report = book.reports(registry: [:], at: t0 + 3)[0]
        #expect(report.online == false && report.battery == 80 && report.rssi == -55 && report.configApplied == 2)
        #expect(report.rejects == ["bad_mac": 2, "replayed": 1])
        #expect(!report.provisioned)
    }

    @Test func recentReadingsForWatchAreBoundedAndIndexed() {
        let book = SensorBook()
        book.stored(batch("d", boot: 1, seqs: Array(0..<300), spo2: 955), at: t0)
        let all = book.readings(of: "d", after: 0)
        #expect(all.readings.count == SensorBook.recentCapacity && all.next == 300)
        #expect(all.readings.first?.index == 61 && all.readings.last?.seq == 299)
        #expect(all.readings.last?.values == ["spo2": 95.5] && all.readings.last?.quality == "fair")
        #expect(book.readings(of: "d", after: 298).readings.map(\.seq) == [298, 299])
        #expect(book.readings(of: "other", after: 5) == WatchBatch(next: 5, readings: []))
    }

    @Test func aFloodOfMadeUpIdsDoesNotGrowTheBook() {
        let book = SensorBook()
        for index in 0..<(SensorBook.maxDevices + 500) { book.rejected(device: "fake-\(index)", reason: "unprovisioned") }
        #expect(book.reports(registry: [:], at: t0).count == SensorBook.maxDevices)
    }

    @Test func rateWindowForgetsAfterAMinute() {
        var window = RateWindow()
        window.add(10, at: t0)
        window.add(5, at: t0 + 30_000)
        #expect(window.lastMinute(at: t0 + 30_000) == 15)
        #expect(window.lastMinute(at: t0 + 61_000) == 5)
        #expect(window.lastMinute(at: t0 + 91_000) == 0)
        window.add(1, at: t0 + 120_000)   // reuses the first slot: the old count is gone
        #expect(window.lastMinute(at: t0 + 120_000) == 1)
    }

    @Test func assessmentGradesWhatNeedsAttention() {
        let sensor = SensorReport(device: "d", patient: "Patient/1", kind: "k", provisioned: true, online: true, lastSeen: t0, firmware: "f",
                                  battery: 15, rssi: -70, boot: 1, configApplied: 1, configWanted: 2, readingsPerMinute: 60,
                                  readingsStored: 100, received: 90, expected: 100, rejects: [:])
        var report = StatusReport(
            agent: .init(version: "1", gateway: "g", pid: 1, startedAt: t0, messagesProcessed: 0),
            broker: .init(address: "127.0.0.1:1883", connected: true, problem: nil),
            uplink: .init(kind: "fhir", target: "x", connected: true, lastSuccess: t0, lastError: nil, lastErrorAt: nil, recordsPerSecond: 1),
            backlog: .init(priorityRecords: 0, routineRecords: 0, bytes: 0, oldest: nil, estimatedDrainSeconds: 0),
            openAlerts: [], disk: .init(path: "/", freeBytes: 1 << 30, totalBytes: 1 << 31, storeBytes: 0, quotaBytes: 1 << 30, reserveBytes: 1 << 26),
            keys: .init(currentKey: 1, ageSeconds: 10), clock: .init(synchronized: true, maxErrorMicroseconds: 1), sensors: [])
        #expect(StatusAssessment.problems(report, now: t0).isEmpty)
        report.sensors = [sensor]
        let messages = StatusAssessment.problems(report, now: t0 + 1_000).map(\.message)
        #expect(messages == ["battery at 15%", "10 of 100 readings missing", "settings version 2 not applied yet (device reports 1)"])
        #expect(StatusAssessment.problems(report, now: t0 + 10 * 60_000).map(\.message).contains("silent for 10 min"))
        report.sensors = []
        report.broker.connected = false
        report.disk.freeBytes = 1 << 20
        report.clock.synchronized = nil
        let problems = StatusAssessment.problems(report, now: t0)
        #expect(problems.map(\.severity) == [.critical, .critical], "an unknown clock is not a problem: \(problems)")
        report.broker.connected = true
        report.disk.freeBytes = 1 << 30
        report.uplink.connected = false
        report.uplink.lastError = "HTTP 503"
        report.backlog.routineRecords = 5
        report.openAlerts = [.init(patient: "Patient/1", alertID: "news2@1", since: t0, acknowledged: false)]
        #expect(StatusAssessment.problems(report, now: t0 + 2 * 3_600_000).map(\.message) == [
            "last request failed: HTTP 503", "nothing confirmed for over an hour with 5 records waiting", "1 open alert(s) not acknowledged",
        ])
    }
}
