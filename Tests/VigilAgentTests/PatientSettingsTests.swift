import Foundation
import Logging
import Testing
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilStore
import VigilTestSupport
@testable import VigilAgent
@testable import VigilScoring
import VigilUplink
import VigilProvisioning

/// Per-patient clinical settings: set with `vigil patient set` (the real CLI) or from upstream,
/// applied by the pipeline to the patient's next readings, audited, stored and uploaded.
extension RestartStateTests {
    /// Five readings a second apart from `seq` at SpO2 89 % and pulse 72: NEWS2 3 for SpO2 on
    /// scale 1 (low-medium), 0 on scale 2 (within the 88–92 % target, on air).
    func copdFrame(seq: UInt32) -> MQTTMessage {
        let payload = FrameEncoder.readings(
            key: key, boot: 1, seq: seq, t0: Self.t0 + UInt64(seq) * 1_000,
            records: (0..<5).map { .init(dt: UInt32($0) * 1_000, values: [(.pulseRate, 720 + Int16($0)), (.spo2, 890)]) },
            flags: .clockSynced)
        return MQTTMessage(topic: "vigil/v1/dev-s/up", payload: payload, qos: .atLeastOnce, retain: false)
    }

    func events(_ directory: TemporaryDirectory, model: String) throws -> [AlertEvent] {
        try entries(directory).compactMap { entry in
            guard case .alert(let alert) = entry, alert.event.model == model else { return nil }
            return alert.event
        }
    }

    @Test func scale2SetWithTheCLIScoresTheNextReadingsOnScale2AndIsAuditedAndStored() async throws {
        let directory = try TemporaryDirectory("patient-cli")
        defer { directory.remove() }
        try provision(directory)
        let config = try directory.write("vigil.yaml", "gateway:\n  id: gw-test\n  state_directory: \(directory.path)\n"
                                         + "store:\n  key_file: \(directory.path)/store.keys\n")
        let keyring = Keyring.generate()
        try keyring.writeNewFile(at: directory.path + "/store.keys")
        let patients = PatientSettingsStore(stateDirectory: directory.path, auditKeys: AuditKeys(keyring: keyring), logger: Logger(label: "t"))
        let gateway = try start(directory, patients: patients)
        // On scale 1 a COPD patient's usual 89 % raises.
        gateway.source.yield(copdFrame(seq: 0))
        #expect(await eventually { (try? news2Alerts(directory).map(\.kind)) == [.raise] })

        let set = try await runProcess(builtProduct("vigil"), [
            "patient", "set", "Patient/s", "--spo2-scale", "2", "--on-oxygen", "no", "--by", "dr-lee", "--reason", "COPD, target 88-92",
            "--config", config,
        ])
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("version 1 written (spo2_scale 2 (target 88-92 %), on_oxygen no"))
        // The agent picks the file up (within its 2 s poll) and applies it at the next message.
        var seq: UInt32 = 5
        #expect(await eventually(timeout: .seconds(10)) {
            gateway.source.yield(copdFrame(seq: seq))
            seq += 5
            return (try? events(directory, model: ClinicalSettings.model).isEmpty) == false
        })
        let recorded = try #require(try events(directory, model: ClinicalSettings.model).first)
        #expect(recorded.kind == .settings && recorded.by == "dr-lee" && recorded.alertID == "patient-settings@1")
        #expect(recorded.values?["spo2_scale"] == 2 && recorded.notify == false)
        #expect(recorded.summary?.contains("reason") != true && !(recorded.summary ?? "").contains("COPD"), "why stays out")
        // Scored on scale 2 from then on: the alert clears (two readings back to low).
        #expect(await eventually { (try? news2Alerts(directory).map(\.kind)) == [.raise, .clear] })
        let clear = try #require(try news2Alerts(directory).last)
        #expect(clear.spo2Scale == 2 && clear.parameters?["spo2"] == 0)
        // Audited: who and what, hash-chained, not why.
        let audit = try String(contentsOfFile: directory.path + "/audit/audit.log", encoding: .utf8)
        #expect(audit.contains("\"action\":\"patient.settings\"") && audit.contains("\"by\":\"dr-lee\"") && !audit.contains("COPD"))
        let log = AuditLog(directory: directory.path + "/audit", keys: AuditKeys(keyring: keyring))
        #expect(try log.verify().intact && log.verify().entries == 1)
        let show = try await runProcess(builtProduct("vigil"), ["patient", "show", "Patient/s", "--config", config])
        #expect(show.stdout.contains("Patient/s: v1 spo2_scale 2"))
        // Showing the patient's settings is itself on record, before they were printed.
        let viewed = try #require(try String(contentsOfFile: log.path, encoding: .utf8).split(separator: "\n").last)
        #expect(viewed.contains(#""action":"phi.view""#) && viewed.contains(#""what":"patient.settings""#) && viewed.contains(#""patient":"Patient/s""#))
        #expect(try log.verify().intact && log.verify().entries == 2)
        await gateway.stop()
    }

    @Test func aChangeFromUpstreamIsValidatedWrittenAndApplied() async throws {
        let directory = try TemporaryDirectory("patient-upstream")
        defer { directory.remove() }
        try provision(directory)
        let patients = PatientSettingsStore(stateDirectory: directory.path, auditKeys: nil, logger: Logger(label: "t"))
        let gateway = try start(directory, patients: patients)
        func settings(_ json: String) -> MQTTMessage {
            MQTTMessage(topic: Self.settingsTopic, payload: Array(json.utf8), qos: .atLeastOnce, retain: false)
        }
        // Refused: scale 2 with another target, an unknown field, no author.
        gateway.source.yield(settings(#"{"patient":"Patient/s","by":"x","spo2_scale":2,"spo2_target":"90-94"}"#))
        gateway.source.yield(settings(#"{"patient":"Patient/s","by":"x","spo2":1}"#))
        gateway.source.yield(settings(#"{"patient":"Patient/s","spo2_scale":2}"#))
        gateway.source.yield(settings(#"{"patient":"Patient/s","by":"ward-3","spo2_scale":2,"consciousness":"A"}"#))
        #expect(await eventually { (try? events(directory, model: ClinicalSettings.model).count) == 1 })
        #expect(patients.settings(of: "Patient/s")?.version == 1)
        #expect(patients.settings(of: "Patient/s")?.consciousness == "A")
        // New confusion entered by a carer: 3 points on its own, so the next reading alerts.
        gateway.source.yield(settings(#"{"patient":"Patient/s","by":"carer","consciousness":"C"}"#))
        gateway.source.yield(copdFrame(seq: 0))
        #expect(await eventually { (try? news2Alerts(directory).first?.parameters?["consciousness"]) == 3 })
        #expect(patients.settings(of: "Patient/s")?.version == 2 && patients.settings(of: "Patient/s")?.spo2Scale == 2)
        await gateway.stop()
    }

    @Test func theSettingsRecordIsUploadedAsARoutineCommunication() throws {
        var settings = ClinicalSettings(patient: "Patient/s")
        settings.spo2Scale = 2
        settings.spo2Target = "88-92"
        settings.version = 3
        settings.updatedBy = "dr-lee"
        settings.updatedAt = 1_795_350_000_000
        let resources = FHIRMapper(gateway: "gw-1").resources(for: .alert(ReadingScorer.settingsEntry(settings)))
        let communication = try #require(resources.first { $0.type == "Communication" })
        let text = String(decoding: communication.json, as: UTF8.self)
        #expect(text.contains(#""priority":"routine""#))
        #expect(text.contains("clinical settings changed by dr-lee: spo2_scale 2 (target 88-92 %)"))
        // The same change recorded again (after a restart) has the same identifier: created once.
        let again = FHIRMapper(gateway: "gw-1").resources(for: .alert(ReadingScorer.settingsEntry(settings)))
        #expect(again.map(\.identifier) == resources.map(\.identifier))
    }
}

@Suite struct ClinicalSettingsTests {
    @Test func changesValidateAndVersion() throws {
        var change = ClinicalSettings.Change(by: "dr-lee")
        change.spo2Scale = 2
        let first = try ClinicalSettings(patient: "p").applying(change, at: 10)
        #expect(first.version == 1 && first.spo2Target == "88-92" && first.updatedAt == 10)
        var back = ClinicalSettings.Change(by: "dr-lee")
        back.spo2Scale = 1
        #expect(try first.applying(back, at: 20).spo2Target == nil)
        var bad = ClinicalSettings.Change(by: "dr-lee")
        bad.consciousness = .some("X")
        #expect(throws: ClinicalSettings.Invalid.self) { try first.applying(bad, at: 30) }
        var drift = ClinicalSettings.Change(by: "dr-lee")
        drift.driftEffects = ["pulse": .init(up: 10)]
        #expect(throws: ClinicalSettings.Invalid.self) { try first.applying(drift, at: 30) }
        drift.driftEffects = ["hr": .init(up: 200)]
        #expect(try first.applying(drift, at: 30).driftEffects?["hr"]?.up == 200)
    }

    @Test func aClinicianDriftEffectChangesWhatDriftAlertsOn() {
        // Heart rate 16 /min above the profile: over the default 15, under a clinician's 20.
        func raises(effect: Int?) -> Int {
            var scorer = ReadingScorer(models: [], settings: .perReading)
            var settings = ClinicalSettings(patient: "p")
            settings.version = 1
            if let effect { settings.driftEffects = ["hr": .init(up: effect)] }
            scorer.apply(settings)
            var count = 0
            let start: Int64 = 1_795_046_400_000
            for minute in 0..<(4 * 1_440) {
                let hr: Int16 = minute >= 3 * 1_440 ? 880 : 720
                var batch = ReadingBatch(device: "d", patient: "p", boot: 1, timeQuality: .device, receivedAt: 0, readings: [
                    StoredReading(seq: UInt32(minute), time: start + Int64(minute) * 60_000, deviceTime: 0,
                                  values: [.init(channel: .pulseRate, raw: hr + Int16(minute % 3))]),
                ])
                count += scorer.score(&batch).filter { $0.model == "drift" && $0.alert.event.kind == .raise }.count
            }
            return count
        }
        #expect(raises(effect: nil) == 1)
        #expect(raises(effect: 200) == 0)
    }
}
