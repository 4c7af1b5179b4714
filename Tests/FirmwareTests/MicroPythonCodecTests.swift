import Foundation
import Testing
import VigilCore
import VigilProtocol
import VigilTestSupport

/// The reference codec under the real MicroPython unix port (installed into .venv by
/// scripts/setup), and byte-for-byte compatibility in both directions with the Swift codec.
@Suite struct MicroPythonCodecTests {
    let root = repositoryRoot()
    var micropython: String { root.appendingPathComponent(".venv/bin/micropython").path }
    var firmware: String { root.appendingPathComponent("firmware-protocol/micropython").path }

    func runVectors(_ file: String? = nil) async throws -> ProcessOutput {
        // MicroPython resolves imports from the script's directory, so run it from there.
        try await runProcess("/bin/sh", ["-c", "cd \"$0\" && exec \"$1\" test_vectors.py ${2:+\"$2\"}", firmware, micropython, file ?? ""])
    }

    @Test func allVectorsPassUnderMicroPython() async throws {
        let result = try await runVectors()
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("micropython vectors: 108 passed, 0 failed"))
        #expect(result.stdout.contains("micropython sequence frames: 29 passed, 0 failed"))
    }

    @Test func ringBufferPersistsAcksAndStaysBounded() async throws {
        let dir = try TemporaryDirectory("ring")
        defer { dir.remove() }
        let result = try await runProcess("/bin/sh", ["-c", "cd \"$0\" && exec \"$1\" test_ring.py \"$2\"", firmware, micropython, dir.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("micropython ring: 7 passed, 0 failed"))
    }

    @Test func vectorsAreWhatTheGeneratorProduces() async throws {
        let result = try await runProcess("/usr/bin/python3", [root.appendingPathComponent("firmware-protocol/tools/make_vectors.py").path, "--check"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// Frames made by the Swift encoder (random but seeded) decode in MicroPython to the fields
    /// Swift put in, and MicroPython re-encodes them to the same bytes.
    @Test func swiftEncodedFramesDecodeInMicroPython() async throws {
        var random = SplitMix64(seed: 2026)
        let devices = ["ecg-patch-01", "w", String(repeating: "z", count: 32)].map { DeviceID($0)! }
        var vectors: [[String: Any]] = []
        for index in 0..<200 {
            let device = devices[index % devices.count]
            let keyBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
            let key = DeviceKey(device: device, bytes: keyBytes)!
            let count = Int.random(in: 1...8, using: &random)
            var records: [FrameEncoder.RecordInput] = []
            var decodedRecords: [[String: Any]] = []
            var dt: UInt32 = 0
            for _ in 0..<count {
                dt += UInt32.random(in: 0...5_000, using: &random)
                let channels = Channel.allCases.filter { _ in Bool.random(using: &random) }.filter { $0 != .diastolicBP }
                let chosen = channels.isEmpty ? [Channel.heartRate] : channels
                let values = chosen.map { ($0, Int16.random(in: $0.accepted, using: &random)) }
                records.append(.init(dt: dt, values: values))
                decodedRecords.append(["dt": dt, "values": Dictionary(uniqueKeysWithValues: values.map { ($0.0.key, Int($0.1)) })])
            }
            let boot = UInt32.random(in: 0...UInt32.max, using: &random)
            let seq = UInt32.random(in: 0...1_000_000, using: &random)
            let t0 = UInt64.random(in: 0...UInt64(1) << 50, using: &random)
            let flags = FrameFlags(rawValue: UInt8.random(in: 0...3, using: &random))
            let frame = FrameEncoder.readings(key: key, boot: boot, seq: seq, t0: t0, records: records, flags: flags)
            vectors.append([
                "name": "swift readings \(index)", "device": device.rawValue, "key": hexString(keyBytes), "frame": hexString(frame),
                "expect": ["decoded": ["type": "readings", "boot": boot, "flags": Int(flags.rawValue), "seq": seq, "t0": t0, "records": decodedRecords]],
            ])
            let ackKey = key
            let ack = FrameEncoder.ack(key: ackKey, boot: boot, seq: seq)
            vectors.append(["name": "swift ack \(index)", "device": device.rawValue, "key": hexString(keyBytes), "frame": hexString(ack),
                            "expect": ["decoded": ["type": "ack", "boot": boot, "flags": 0, "seq": seq]]])
        }
        let dir = try TemporaryDirectory("swift-vectors")
        defer { dir.remove() }
        let data = try JSONSerialization.data(withJSONObject: ["protocol": 1, "vectors": vectors])
        let path = dir.file("swift.json")
        try data.write(to: URL(fileURLWithPath: path))
        let result = try await runVectors(path)
        #expect(result.status == 0, "\(result.stdout.prefix(2_000))\(result.stderr)")
        #expect(result.stdout.contains("micropython vectors: 400 passed, 0 failed"))
    }
}

/// The decode benchmark's short run: checks it measures the whole path (every frame distinct and
/// accepted), not its speed.
@Suite struct DecodeBenchmarkTests {
    @Test func shortRunAcceptsEveryFrame() async throws {
        let result = try await runProcess(builtProduct("vigil-bench"), ["decode", "--frames", "20000"])
        #expect(result.status == 0, "\(result.stderr)")
        let figures = try jsonObject(result.stdout)
        #expect(figures["readings_accepted"] as? Int == 20_000)
        #expect(figures["bytes_per_reading_binary_live"] as? Int == 54)
    }
}

@Suite struct ScoringBenchmarkTests {
    /// The per-reading scoring benchmark runs (its figure goes in the README from a release run):
    /// every reading scored, with the shipped model loaded.
    @Test func shortRunScoresEveryReading() async throws {
        let root = repositoryRoot()
        let result = try await runProcess(builtProduct("vigil-bench"), [
            "scoring", "--readings", "20000", "--model", root.appendingPathComponent("config/models/deterioration-lr.json").path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let figures = try jsonObject(result.stdout)
        #expect(figures["readings"] as? Int == 20_000 && figures["models"] as? Int == 1)
        #expect((figures["nanoseconds_per_reading"] as? Int ?? 0) > 0)
    }
}

/// The hot-path microbenchmarks' short run: every path runs to completion (each asserts its own
/// work: frames decode, validate as new, the store commits) and reports a figure. Speed is the
/// README's business, from a release run.
@Suite struct MicroBenchmarkTests {
    @Test func everyHotPathRunsAndReports() async throws {
        let dir = try TemporaryDirectory("micro")
        defer { dir.remove() }
        let result = try await runProcess(builtProduct("vigil-bench"), ["micro", "--operations", "2000", "--rounds", "1", "--directory", dir.path])
        #expect(result.status == 0, "\(result.stderr)")
        let figures = try jsonObject(result.stdout)
        for path in ["decode_verify_ns", "validate_ns", "models_ns", "append_group256_ns", "fhir_encode_ns"] {
            #expect((figures[path] as? Int ?? 0) > 0, "\(path): \(figures)")
        }
        #expect(FileManager.default.fileExists(atPath: dir.file("0/routine")), "the append path wrote real segments")
    }
}
