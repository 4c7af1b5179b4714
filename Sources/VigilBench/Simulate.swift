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
            for index in sims.indices {
                sims[index].state.step(using: &random)
                let frame = FrameEncoder.readings(
                    key: sims[index].key, boot: boot, seq: seq, t0: UInt64(Date().timeIntervalSince1970 * 1_000),
                    records: [.init(dt: 0, values: sims[index].state.values)], flags: .clockSynced)
                try? client.enqueue(topic: "vigil/v1/\(sims[index].key.device)/up", payload: frame)
            }
            seq += 1
            try await Task.sleep(for: .milliseconds(Int(1_000 / rate)))
        }
        await client.shutdown()
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
