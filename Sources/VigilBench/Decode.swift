import ArgumentParser
import Foundation
import VigilCore
import VigilProtocol
import VigilValidation

/// Frames decoded + authenticated + validated per second on one core, and bytes per reading on
/// the wire against the same readings as JSON (the protocol's debug form).
struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Decode + verify + validate rate, and wire size vs JSON.")

    @Option(help: "Frames to process (all distinct, built before the clock starts).")
    var frames = 1_000_000

    func run() throws {
        let devices = (0..<16).map { DeviceID("bench-\($0)")! }
        let keys = devices.map { DeviceKey(device: $0, bytes: Array(repeating: UInt8($0.rawValue.count), count: 32))! }
        let profiles = Dictionary(uniqueKeysWithValues: keys.map { ($0.device, DeviceProfile(key: $0, patient: "Patient/\($0.device)")) })
        let values: [(Channel, Int16)] = [(.pulseRate, 725), (.spo2, 968), (.perfusionIndex, 310), (.activity, 40)]
        // Live traffic: one reading per frame, four channels, each device counting up; every frame
        // is new, so each one goes the whole way (decode, MAC, validate, commit).
        let payloads = (0..<frames).map { index -> (DeviceID, [UInt8]) in
            let key = keys[index % keys.count]
            return (key.device, FrameEncoder.readings(key: key, boot: 1, seq: UInt32(index / keys.count), t0: 1_795_350_000_000 + UInt64(index),
                                                      records: [.init(dt: 0, values: values)], flags: .clockSynced))
        }
        var validator = Validator(limits: .init(burst: Int.max / 2, interval: .nanoseconds(1)))
        var accepted = 0
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<frames {
            let (device, payload) = payloads[index]
            if case .accepted(let result) = validator.validate(payload, from: device, profile: profiles[device], now: .zero,
                                                               receivedAt: 1_795_350_000_000) {
                accepted += result.fresh.count
                _ = validator.commit(result)
            }
        }
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18

        let binary = payloads[0].1.count
        let json = #"{"v":1,"type":"readings","boot":1,"flags":1,"seq":0,"t0":1795350000000,"records":[{"dt":0,"pr":72.5,"spo2":96.8,"pi":3.10,"activity":40}],"tag":"00112233445566778899aabbccddeeff"}"#
        let batch = FrameEncoder.readings(key: keys[0], boot: 1, seq: 0, t0: 0,
                                          records: (0..<32).map { .init(dt: UInt32($0) * 1_000, values: values) }).count
        let output: [String: Any] = [
            "frames": frames, "readings_accepted": accepted,
            "frames_per_s": Int(Double(frames) / seconds),
            "ns_per_frame": Int(seconds * 1e9 / Double(frames)),
            "bytes_per_reading_binary_live": binary,
            "bytes_per_reading_binary_batch32": Double(batch) / 32,
            "bytes_per_reading_json_live": json.utf8.count,
        ]
        let data = try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
