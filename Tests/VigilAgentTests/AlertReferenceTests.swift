import Testing
import VigilCore
import VigilUplink
@testable import VigilScoring

/// An alert upstream references only what travels in its own Bundle (the NEWS2 score), never a
/// reading's time stamp (sent later, and for a reading mid-frame never), and names the reading
/// that caused it in its attachment.
@Suite struct AlertReferenceTests {
    @Test func anAlertCausedMidBatchReferencesOnlyWhatItsBundleCarries() throws {
        let start: Int64 = 1_795_350_000_000
        // Three readings of one stored batch (seq 41–43); only the last is abnormal.
        func reading(_ i: Int, pulse: Int16, spo2: Int16) -> StoredReading {
            let values: [StoredReading.Value] = [.init(channel: .pulseRate, raw: pulse), .init(channel: .spo2, raw: spo2)]
            return StoredReading(seq: 41 + UInt32(i), time: start + Int64(i) * 1_000, deviceTime: 0, values: values)
        }
        let readings = [reading(0, pulse: 720, spo2: 970), reading(1, pulse: 724, spo2: 971), reading(2, pulse: 1_317, spo2: 873)]
        var batch = ReadingBatch(device: "dev-1", patient: "Patient/p1", boot: 3, timeQuality: .device, receivedAt: start, readings: readings)
        var scorer = ReadingScorer(models: [], settings: .perReading(drift: false))
        let alert = try #require(scorer.score(&batch).first { $0.model == "news2" }?.alert)
        #expect(alert.event.seq == 43 && alert.event.frameSeq == 41)

        let mapper = FHIRMapper(gateway: "gw-1")
        let resources = mapper.resources(for: .alert(alert))
        let communication = try #require(resources.first { $0.type == "Communication" })
        let text = String(decoding: communication.json, as: UTF8.self)
        #expect(!text.contains(":cts"), "no time stamp: \(text)")
        #expect(communication.links.map(\.identifier) == resources.filter { $0.type == "Observation" }.map(\.identifier),
                "the reason is the score Observation beside it")
        #expect(alert.event.boot == 3, "the attachment names the reading: boot 3, seq 43")
    }
}
