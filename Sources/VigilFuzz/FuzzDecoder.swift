import VigilCore
import VigilFuzzSupport
import VigilProtocol
import VigilValidation

/// Frames, binary and JSON, through the decoder and the validator; seeded by scripts/fuzz with
/// every test vector, and here with frames of each kind.
let frames = FuzzTarget("frames", seeds: {
    [FrameEncoder.readings(key: key, boot: 1, seq: 7, t0: 1_795_350_000_000,
                           records: [.init(dt: 0, values: [(.pulseRate, 720), (.spo2, 970)]), .init(dt: 1_000, values: [(.heartRate, 710)])],
                           flags: .clockSynced),
     FrameEncoder.status(key: key, boot: 1, online: true, battery: 80, rssi: -60, configVersion: 2, uptimeMilliseconds: 5_000, firmware: "fw 1"),
     JSONFrame.encode(key: key, boot: 2, seq: 1, t0: 1_000, records: [.init(dt: 0, values: [(.respiratoryRate, 160)])], flags: [])]
}, run: fuzzOne)

private let device = DeviceID("fuzz-device")!
private let key = DeviceKey(device: device, bytes: Array(0..<32))!
private let profile = DeviceProfile(key: key, patient: "Patient/fuzz", jsonDebug: true)

/// Decodes arbitrary bytes; a valid frame is also validated, iterated and re-encoded, and must
/// come back byte for byte. Any crash, trap or mismatch is a finding.
func fuzzOne(_ bytes: [UInt8]) {
    if JSONFrame.isJSON(bytes) {
        fuzzJSON(bytes)
        return
    }
    // With the right MAC appended, random structure reaches past the MAC check too.
    for candidate in [bytes, signed(bytes)] {
        guard let frame = try? FrameDecoder.decode(candidate, key: key) else { continue }
        if case .readings(let readings) = frame {
            let records = readings.records.map { FrameEncoder.RecordInput(dt: $0.dt, values: $0.channels.map { ($0.channel, $0.value) }) }
            let again = FrameEncoder.readings(key: key, boot: readings.boot, seq: readings.seq, t0: readings.t0,
                                              records: records, flags: readings.flags)
            precondition(again == candidate, "re-encoding differs")
            var validator = Validator()
            if case .accepted(let accepted) = validator.validate(candidate, from: device, profile: profile, now: .zero, receivedAt: 0) {
                _ = validator.commit(accepted)
            }
        }
    }
}

/// The JSON form: parsed; when the content is well formed its binary equivalent gets the right
/// tag, so the binary decoder and the validator run on it, and the canonical re-encoding must
/// decode to the same frame.
private func fuzzJSON(_ bytes: [UInt8]) {
    var validator = Validator()
    _ = validator.validate(bytes, from: device, profile: profile, now: .zero, receivedAt: 0)
    guard let binary = try? JSONFrame.binary(bytes, key: key) else { return }
    let resigned = FrameEncoder.seal(Array(binary.dropLast(16)), key: key)
    guard case .readings(let readings)? = try? FrameDecoder.decode(resigned, key: key) else { return }
    let records = readings.records.map { FrameEncoder.RecordInput(dt: $0.dt, values: $0.channels.map { ($0.channel, $0.value) }) }
    let text = JSONFrame.encode(key: key, boot: readings.boot, seq: readings.seq, t0: readings.t0, records: records, flags: readings.flags)
    guard let again = try? JSONFrame.binary(text, key: key) else { preconditionFailure("canonical JSON does not parse") }
    precondition(again == resigned, "canonical JSON re-encoding differs")
}

private func signed(_ bytes: [UInt8]) -> [UInt8] {
    guard bytes.count >= 16 else { return bytes }
    let body = Array(bytes.dropLast(16))
    // Treat the last 16 bytes as the tag slot and replace them with the correct MAC.
    return FrameEncoder.seal(body, key: key)
}
