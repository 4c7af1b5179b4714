import ArgumentParser
import Foundation
import Logging
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilProvisioning

/// Simulated sensors publishing valid signed READINGS frames (plausible, slowly wandering
/// vitals), provisioning themselves into a registry directory first. For the demo and as a load
/// generator; the MicroPython firmware is the reference device, this is the fast one.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish signed readings from simulated sensors (provisions them into --registry)."
    )

    @OptionGroup var broker: BrokerOptions

    @Option(help: "Device registry directory (the agent's <state_directory>/devices).")
    var registry: String

    @Option(help: "Number of simulated devices.")
    var devices = 3

    @Option(help: "Frames per second per device.")
    var rate = 1.0

    @Option(help: "Stop after this many seconds (0: run until interrupted).")
    var duration = 0.0

    @Flag(help: "The demo's scripted first minute (needs 3 devices): device 1's patient deteriorates from 5 s (NEWS2 medium, then high from 20 s) and recovers at 45 s; device 2 is taken off and device 3 falls silent from 10 s to 55 s.")
    var story = false

    func run() async throws {
        let names = ["spo2-ring", "ecg-patch", "temp-patch", "bp-cuff"]
        var sims: [(key: DeviceKey, state: Vitals)] = []
        for index in 0..<devices {
            let id = DeviceID("\(names[index % names.count])-\(String(format: "%02d", index + 1))")!
            var generator = SystemRandomNumberGenerator()
            let keyBytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try DeviceRegistry.write(.init(device: id.rawValue, patient: "Patient/demo-\(index + 1)", kind: names[index % names.count],
                                           key: hexEncoded(keyBytes)),
                                     to: URL(fileURLWithPath: registry))
            sims.append((DeviceKey(device: id, bytes: keyBytes)!, Vitals()))
        }
        let client = MQTTClient(configuration: .init(host: broker.host, port: broker.port, clientID: "vigil-simulator-\(getpid())"),
                                logger: Logger(label: "simulator"))
        try await client.start()
        let boot = UInt32(Date().timeIntervalSince1970) & 0xFFFF
        var seq: UInt32 = 0
        let started = ContinuousClock.now
        var random = SystemRandomNumberGenerator()
        while duration == 0 || ContinuousClock.now - started < .seconds(duration) {
            let elapsed = ContinuousClock.now - started
            for index in sims.indices {
                sims[index].state.step(using: &random)
                var values = sims[index].state.values
                if story {
                    switch Story.act(device: index, at: elapsed) {
                    case .normal: break
                    case .vitals(let scripted): values = scripted
                    case .silent: continue
                    }
                }
                let frame = FrameEncoder.readings(
                    key: sims[index].key, boot: boot, seq: seq, t0: UInt64(Date().timeIntervalSince1970 * 1_000),
                    records: [.init(dt: 0, values: values)], flags: .clockSynced)
                try? client.enqueue(topic: "vigil/v1/\(sims[index].key.device)/up", payload: frame)
            }
            seq += 1
            try await Task.sleep(for: .milliseconds(Int(1_000 / rate)))
        }
        await client.shutdown()
    }
}

/// The demo's first minute, so a newcomer sees every kind of alert raised and cleared.
enum Story {
    enum Act { case normal, vitals([(Channel, Int16)]), silent }

    static func act(device: Int, at elapsed: Duration) -> Act {
        let t = elapsed.components.seconds
        switch device {
        case 0 where (5..<20).contains(t):
            // NEWS2 5 (medium): respiration 23, SpO2 95 %, pulse 98, temperature 38.3 °C.
            return .vitals([(.pulseRate, 980 + Int16(t % 5)), (.spo2, 950), (.respiratoryRate, 230), (.coreTemperature, 3830)])
        case 0 where (20..<45).contains(t):
            // NEWS2 9 (high): respiration 26, SpO2 90 %, pulse 118, temperature 38.4 °C.
            return .vitals([(.pulseRate, 1180 + Int16(t % 5)), (.spo2, 900), (.respiratoryRate, 260), (.coreTemperature, 3840)])
        case 1 where (10..<55).contains(t):
            // Off the wrist: no pulse or SpO2, a perfusion index of zero.
            return .vitals([(.perfusionIndex, 0)])
        case 2 where (10..<55).contains(t):
            return .silent
        default:
            return .normal
        }
    }
}

/// A bounded random walk around normal adult vitals, in protocol units.
struct Vitals {
    var pulse: Int16 = 720
    var spo2: Int16 = 970
    var respiration: Int16 = 150
    var temperature: Int16 = 3400

    mutating func step(using random: inout some RandomNumberGenerator) {
        pulse = (pulse + Int16.random(in: -15...15, using: &random)).clamped(550...1100)
        spo2 = (spo2 + Int16.random(in: -4...4, using: &random)).clamped(930...1000)
        respiration = (respiration + Int16.random(in: -5...5, using: &random)).clamped(100...220)
        temperature = (temperature + Int16.random(in: -3...3, using: &random)).clamped(3300...3550)
    }

    var values: [(Channel, Int16)] {
        [(.pulseRate, pulse), (.spo2, spo2), (.respiratoryRate, respiration), (.skinTemperature, temperature)]
    }
}

extension Comparable {
    func clamped(_ range: ClosedRange<Self>) -> Self { min(max(self, range.lowerBound), range.upperBound) }
}
