import ArgumentParser
import Foundation
import Logging
import VigilAgent
import VigilCore
import VigilMQTT
import VigilProtocol

/// Sensors that keep each reading until durably acknowledged (``AckedFleet``). The crash test
/// runs it while the agent is killed again and again; at the end it reports, per device, the highest sequence acknowledged, which the store
/// must hold exactly once.
struct AckedLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acked-load",
        abstract: "Publish readings from simulated sensors that keep each one until durably acknowledged.")

    @OptionGroup var broker: BrokerOptions
    @Option(help: "Device registry directory (the agent's <state_directory>/devices).") var registry: String
    @Option(help: "Number of simulated devices.") var devices = 4
    @Option(help: "Frames per second per device (keep it below the gateway's 20 per device).") var rate = 10.0
    @Option(help: "Seconds to publish new readings.") var duration = 10.0
    @Option(help: "Seconds to keep resending unacknowledged readings after that.") var drainTimeout = 60.0
    @Option(help: "Seconds before an unacknowledged reading is sent again.") var resendAfter = 1.0
    @Option(help: "Stop publishing new readings when this file appears (earlier than --duration).") var stopFile: String?
    @Option(help: "Every Nth reading of a device desaturates (SpO2 84 %, pulse 135: a NEWS2 alert); 0: never.") var abnormalEvery = 0

    func run() async throws {
        let keys = try AckedFleet.provision(count: devices, prefix: "load", registry: registry)
        var fleet = AckedFleet(keys: keys, boot: 1)
        let client = MQTTClient(
            configuration: .init(host: broker.host, port: broker.port, clientID: "vigil-acked-load-\(getpid())", cleanSession: true,
                                 subscriptions: [.init(fleet.ackFilter)],
                                 reconnect: Backoff(initialMilliseconds: 50, maximumMilliseconds: 500)),
            logger: Logger(label: "acked-load"))
        try await client.start()
        let clock = ContinuousClock()
        let started = clock.now
        var publishing = true
        var stoppedAt = clock.now
        var tick = 0
        while true {
            let now = clock.now
            if publishing && (now - started >= .seconds(duration) || stopFile.map { FileManager.default.fileExists(atPath: $0) } == true) {
                publishing = false
                stoppedAt = now
            }
            if !publishing && (fleet.allAcknowledged || now - stoppedAt >= .seconds(drainTimeout)) { break }
            while let message = client.messages.nextIfAvailable() {
                fleet.receive(topic: message.topic, payload: message.payload)
            }
            if publishing {
                for number in 0..<devices {
                    let abnormal = abnormalEvery > 0 && tick % abnormalEvery == abnormalEvery - 1
                    let (topic, frame, _) = fleet.sample(number, now: now, abnormal: abnormal)
                    try? client.enqueue(topic: topic, payload: frame)
                }
                tick += 1
            }
            for (topic, frame) in fleet.resendDue(now: now, after: .seconds(resendAfter)) {
                try? client.enqueue(topic: topic, payload: frame)
            }
            try await Task.sleep(for: .milliseconds(Int(1_000 / rate)))
        }
        await client.shutdown()
        try printJSON(fleet.report)
    }
}
