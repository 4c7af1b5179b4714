import ArgumentParser
import Foundation
import VigilAgent
import VigilProvisioning

struct SensorSet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Change a sensor's settings and wait until it applies them.",
        discussion: """
            Settings: interval=<5s|1500ms|2m> (sampling interval, 1 s to 1 h), \
            channels=<hr,spo2,...> (what it samples, among the channels it is registered for), \
            batch_max=<1-32> (readings per frame), json_debug=<0|1>. The new settings get the next \
            version number; the agent publishes them to the device as a signed, retained CONFIG, so \
            a device that is offline gets them when it reconnects. The command then waits until \
            the device reports the new version.

            Exit status: 0 applied; 75 written but not yet applied (still pending); 64 a bad \
            setting; 1 not provisioned; 78 bad configuration.
            """)

    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The device id.", valueName: "id")) var device: String
    @Argument(help: ArgumentHelp("Settings to change.", valueName: "key=value")) var settings: [String]
    @Option(help: ArgumentHelp("How long to wait for the device to apply them.", valueName: "seconds")) var timeout = 60
    @Flag(help: "Do not wait for the device.") var noWait = false

    func validate() throws {
        guard !settings.isEmpty else { throw ValidationError("give at least one setting: \(SensorSettings.help)") }
        guard (1...3_600).contains(timeout) else { throw ValidationError("--timeout: expected 1 to 3600 seconds, got \(timeout)") }
    }

    func run() async throws {
        let configuration = try SensorCommand.load(options)
        let provisioner = Provisioner(configuration: configuration)
        let written: DeviceRecord.Settings
        do {
            let record = try provisioner.load(device)
            let changes: [String: Int64]
            do {
                changes = try SensorSettings.parse(settings, allowed: record.channels.map(Set.init))
            } catch {
                throw ValidationError("\(error)")
            }
            written = try provisioner.set(device, changes: changes)
        } catch let error as ProvisioningError {
            throw SensorCommand.fail(error)
        }
        print("\(device): settings version \(written.version) written (\(SensorSettings.describe(written.settings)))")
        guard !noWait else { return }
        try await waitForDevice(version: written.version, client: ControlClient(configuration: configuration))
    }

    private func waitForDevice(version: UInt32, client: ControlClient) async throws {
        let start = ContinuousClock.now
        var lastLine = start
        var reported: UInt32?
        while ContinuousClock.now - start < .seconds(timeout) {
            do {
                let report = try await client.get("/v1/sensors/\(device)", as: SensorReport.self)
                reported = report.configApplied
                if let applied = report.configApplied, applied >= version {
                    let elapsed = (ContinuousClock.now - start).components.seconds
                    if Terminal.isInteractive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    print(Terminal.paint("\(device) applied settings version \(version) after \(elapsed) s", .green))
                    return
                }
            } catch ControlClient.Failure.notFound {
                // Not heard from yet since the agent started: keep waiting.
            } catch {
                printError("\(device): cannot confirm: \(error)")
                throw ExitCode(75)
            }
            let elapsed = (ContinuousClock.now - start).components.seconds
            let line = "waiting for \(device) to apply version \(version) (it reports \(reported.map(String.init) ?? "nothing yet"))… \(elapsed) s"
            if Terminal.isInteractive {
                FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            } else if ContinuousClock.now - lastLine >= .seconds(5) {
                printError(line)
                lastLine = .now
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        if Terminal.isInteractive { FileHandle.standardError.write(Data("\n".utf8)) }
        printError("""
            \(device) has not applied version \(version) within \(timeout) s (it reports \(reported.map(String.init) ?? "nothing")); \
            it stays pending: the settings are retained on the broker and the device applies them when it next connects
            """)
        throw ExitCode(75)
    }
}
