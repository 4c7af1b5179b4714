import ArgumentParser
import Foundation
import Logging
import VigilAgent
import VigilCore
import VigilModels
import VigilProtocol
import VigilStore
import VigilUplink
import VigilValidation
import VigilScoring

/// The hot paths one reading takes through the agent, each timed alone on one core (median of
/// rounds, nanoseconds per operation): decode + verify, validate (sequence bookkeeping on top),
/// the models, the encrypted append with its share of a group commit, and the FHIR encoding.
struct Micro: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Nanoseconds per reading on each hot path: decode+verify, validate, models, append, FHIR encode (JSON).")

    @Option(help: "Operations per round.") var operations = 100_000
    @Option(help: "Rounds (the median is reported).") var rounds = 5
    @Option(help: "Directory for the store's segments (a temporary one by default).") var directory: String?

    func run() throws {
        let key = DeviceKey(device: DeviceID("micro-1")!, bytes: Array(repeating: 7, count: 32))!
        let profile = DeviceProfile(key: key, patient: "Patient/micro-1")
        let values: [(Channel, Int16)] = [(.pulseRate, 725), (.spo2, 968), (.respiratoryRate, 150), (.perfusionIndex, 310), (.activity, 40)]
        let frames = (0..<operations).map { index in
            FrameEncoder.readings(key: key, boot: 1, seq: UInt32(index), t0: 1_795_350_000_000 + UInt64(index) * 1_000,
                                  records: [.init(dt: 0, values: values)], flags: .clockSynced)
        }
        var results: [String: Int] = [:]

        results["decode_verify_ns"] = median { _ in
            var decoded = 0
            for frame in frames { if (try? FrameDecoder.decode(frame, key: key)) != nil { decoded += 1 } }
            precondition(decoded == frames.count)
        }
        results["validate_ns"] = median { round in
            // A fresh boot per round, so every frame is new to the validator.
            var validator = Validator(limits: .init(burst: Int.max / 2, interval: .nanoseconds(1)))
            for frame in frames {
                guard case .accepted(let accepted) = validator.validate(frame, from: key.device, profile: profile, now: .zero,
                                                                       receivedAt: 1_795_350_000_000) else { preconditionFailure("round \(round)") }
                _ = validator.commit(accepted)
            }
        }
        let batches = (0..<operations).map { index in
            ReadingBatch(device: "micro-1", patient: "Patient/micro-1", boot: 1, timeQuality: .device, receivedAt: 1_795_350_000_000,
                         readings: [StoredReading(seq: UInt32(index), time: 1_795_350_000_000 + Int64(index) * 1_000, deviceTime: 0,
                                                  values: values.map { .init(channel: $0.0, raw: $0.1) })])
        }
        results["models_ns"] = median { _ in
            var scorer = ReadingScorer(models: [])
            var copy = batches
            for index in copy.indices { _ = scorer.score(&copy[index]) }
        }
        let root = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("vigil-micro-\(getpid())").path
        defer { if directory == nil { try? FileManager.default.removeItem(atPath: root) } }
        results["append_group256_ns"] = try medianThrowing { round in
            let (store, _) = try Store.open(directory: root + "/\(round)", keyring: .generate(), logger: Logger(label: "micro"))
            for (index, batch) in batches.enumerated() {
                store.append(.readings(batch))
                if index % 256 == 255 { _ = try store.commit() }
            }
            _ = try store.commit()
            try store.close()
        }
        let mapper = FHIRMapper(gateway: "gw-micro")
        results["fhir_encode_ns"] = median { _ in
            var bundle = TransactionBundle()
            var bytes = 0
            for batch in batches {
                bundle.append(contentsOf: mapper.resources(for: .readings(batch)))
                if bundle.entries.count >= 1_000 {
                    bytes += bundle.encoded().count
                    bundle = TransactionBundle()
                }
            }
            bytes += bundle.encoded().count
            precondition(bytes > 0)
        }
        var output: [String: Any] = results
        output["operations"] = operations
        output["rounds"] = rounds
        try printJSON(output)
    }

    private func median(_ body: (Int) -> Void) -> Int {
        (try? medianThrowing { body($0) }) ?? -1
    }

    /// Median nanoseconds per operation over `rounds` runs of `body` (each does `operations`).
    private func medianThrowing(_ body: (Int) throws -> Void) throws -> Int {
        let clock = ContinuousClock()
        var samples: [Double] = []
        for round in 0..<rounds {
            let start = clock.now
            try body(round)
            let elapsed = clock.now - start
            samples.append((Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(operations))
        }
        return Int(samples.sorted()[samples.count / 2].rounded())
    }
}
