import ArgumentParser
import Foundation
import VigilAgent
import VigilModels
import VigilStore
import VigilScoring

/// Per-reading cost of what the agent computes on every stored reading: signal quality, NEWS2
/// with its alert lifecycle, per-vital drift, the quantized models and the alert book; and the
/// memory their per-patient state takes (JSON on stdout).
struct ScoringBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scoring", abstract: "Signal quality + NEWS2 + drift + quantized models per reading (one core), and state per patient.")

    @Option(help: "Readings to score (built before the clock starts).") var readings = 1_000_000
    @Option(help: "Simulated patients (one device each).") var patients = 16
    @Option(help: "Quantized model files to load.") var model: [String] = ["config/models/deterioration-lr.json"]

    func run() throws {
        let models = try model.map { try QuantizedModel(json: Data(contentsOf: URL(fileURLWithPath: $0))) }
        let stateBytes = stateBytesPerPatient(models: models)
        var scorer = ReadingScorer(models: models)
        var random = SystemRandomNumberGenerator()
        var vitals = Array(repeating: Vitals(), count: patients)
        // One reading per batch, as live frames arrive; seven channels (what the model reads).
        var batches: [ReadingBatch] = []
        batches.reserveCapacity(readings)
        for index in 0..<readings {
            let patient = index % patients
            vitals[patient].step(using: &random)
            let v = vitals[patient]
            let values: [StoredReading.Value] = [
                .init(channel: .pulseRate, raw: v.pulse), .init(channel: .spo2, raw: v.spo2), .init(channel: .respiratoryRate, raw: v.respiration),
                .init(channel: .coreTemperature, raw: v.temperature + 300), .init(channel: .systolicBP, raw: 124), .init(channel: .perfusionIndex, raw: 310),
                .init(channel: .activity, raw: 40),
            ]
            batches.append(ReadingBatch(
                device: "dev-\(patient)", patient: "Patient/\(patient)", boot: 1, timeQuality: .device, receivedAt: 0,
                readings: [StoredReading(seq: UInt32(index / patients), time: 1_795_000_000_000 + Int64(index / patients) * 1_000,
                                         deviceTime: 0, values: values)]))
        }
        let clock = ContinuousClock()
        var alerts = 0
        let start = clock.now
        for index in batches.indices { alerts += scorer.score(&batches[index]).count }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        try printJSON([
            "readings": readings, "patients": patients, "models": models.count, "alerts": alerts,
            "readings_per_second": Int(Double(readings) / seconds), "nanoseconds_per_reading": Int(seconds * 1e9 / Double(readings)),
            "state_bytes_per_patient": stateBytes,
        ])
    }

    /// Memory the scorer's per-patient state takes: the growth of the process's resident set
    /// while `statePatients` patients each get a full set of values (every model's state exists),
    /// divided by the patients. Measured first, on a fresh heap, so no freed memory hides it;
    /// includes dictionary slack and allocator headers.
    private func stateBytesPerPatient(models: [QuantizedModel]) -> Int {
        let statePatients = 20_000
        var scorer = ReadingScorer(models: models)
        var batch = ReadingBatch(device: "", patient: "", boot: 1, timeQuality: .device, receivedAt: 0, readings: [])
        let before = ProcessStats.residentKiB
        for patient in 0..<statePatients {
            for minute in 0..<2 {
                let wobble = Int16(minute)
                batch = ReadingBatch(
                    device: "dev-\(patient)", patient: "Patient/\(patient)", boot: 1, timeQuality: .device, receivedAt: 0,
                    readings: [StoredReading(seq: UInt32(minute), time: 1_795_000_000_000 + Int64(minute) * 60_000, deviceTime: 0, values: [
                        .init(channel: .pulseRate, raw: 720 + wobble), .init(channel: .spo2, raw: 970 + wobble), .init(channel: .respiratoryRate, raw: 150 + wobble),
                        .init(channel: .coreTemperature, raw: 3_700 + wobble), .init(channel: .systolicBP, raw: 124 + wobble), .init(channel: .perfusionIndex, raw: 310),
                        .init(channel: .activity, raw: 40),
                    ])])
                _ = scorer.score(&batch)
            }
        }
        let grown = ProcessStats.residentKiB - before
        withExtendedLifetime(scorer) {}
        return grown * 1_024 / statePatients
    }
}
