import ArgumentParser
import Foundation
import VigilAgent
import VigilProvisioning

/// How a sensor's row and detail read, shared by `sensor list`, `sensor show` and `status`.
enum SensorText {
    static func state(_ sensor: SensorReport, now: Int64) -> String {
        if !sensor.provisioned { return Terminal.paint("removed", .dim) }
        if sensor.online == false { return Terminal.paint("offline", .red) }
        guard let seen = sensor.lastSeen else { return Terminal.paint("not seen", .yellow) }
        if now - seen > StatusAssessment.silentAfterMilliseconds { return Terminal.paint("silent", .yellow) }
        return Terminal.paint("online", .green)
    }

    static func completeness(_ sensor: SensorReport) -> String {
        guard let value = sensor.completeness else { return "-" }
        let text = String(format: "%.1f%%", value * 100)
        return value < StatusAssessment.minimumCompleteness ? Terminal.paint(text, .yellow) : text
    }

    static func config(_ sensor: SensorReport) -> String {
        let applied = sensor.configApplied.map { "v\($0)" } ?? "-"
        guard sensor.configPending, let wanted = sensor.configWanted else { return applied }
        return Terminal.paint("\(applied)→v\(wanted) pending", .yellow)
    }

    static func battery(_ sensor: SensorReport) -> String {
        guard let battery = sensor.battery else { return "-" }
        return battery < StatusAssessment.lowBattery ? Terminal.paint("\(battery)%", .red) : "\(battery)%"
    }

    static func rejects(_ sensor: SensorReport) -> String {
        sensor.rejects.isEmpty ? "0" : sensor.rejects.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
    }

    static func row(_ sensor: SensorReport, now: Int64) -> [String] {
        [sensor.device, sensor.patient ?? "-", sensor.kind ?? "-", state(sensor, now: now), Terminal.ago(sensor.lastSeen, now: now),
         sensor.firmware ?? "-", battery(sensor), sensor.rssi.map { "\($0) dBm" } ?? "-", "\(sensor.readingsPerMinute)",
         completeness(sensor), config(sensor), rejects(sensor)]
    }

    static let header = ["DEVICE", "PATIENT", "KIND", "STATE", "LAST SEEN", "FIRMWARE", "BATTERY", "RSSI", "READINGS/MIN", "COMPLETE",
                         "CONFIG", "REJECTS"]
}

struct SensorList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every sensor: state, last seen, firmware, battery, RSSI, rate, completeness, settings, rejects.",
        discussion: """
            Asks the running agent. Completeness is the readings stored against those expected \
            from the sequence numbers seen since the agent started. Without the agent, lists the \
            registry only (and exits 69).
            """)
    @OptionGroup var options: ConfigOption
    @Flag(help: "JSON for scripts (the control socket's SensorReport objects).") var json = false

    func run() async throws {
        let configuration = try? VigilConfiguration.load(path: options.path)
        let sensors: [SensorReport]
        do {
            sensors = try await ControlClient(configuration: configuration).get("/v1/sensors", as: [SensorReport].self)
        } catch {
            printError("\(error)")
            if let configuration {
                let records = Provisioner(configuration: configuration).records()
                printError("registry only (\(records.count) devices):")
                print(Terminal.table(["DEVICE", "PATIENT", "KIND", "CONFIG"], records.map {
                    [$0.device, $0.patient, $0.kind, $0.config.map { "v\($0.version)" } ?? "-"]
                }))
            }
            throw ExitCode(69)
        }
        if json {
            print(try Terminal.json(sensors))
        } else if sensors.isEmpty {
            print("no sensors provisioned (vigil sensor add)")
        } else {
            let now = Terminal.now()
            print(Terminal.table(SensorText.header, sensors.map { SensorText.row($0, now: now) }))
        }
    }
}

struct SensorShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "One sensor in detail (as `list`, one fact per line).",
        discussion: "Exit status: 0 shown; 1 unknown device; 69 the agent is not reachable.")
    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The device id.", valueName: "id")) var device: String
    @Flag(help: "JSON for scripts (the control socket's SensorReport).") var json = false

    func run() async throws {
        let client = ControlClient(configuration: try? VigilConfiguration.load(path: options.path))
        let sensor: SensorReport
        do {
            sensor = try await client.get("/v1/sensors/\(device)", as: SensorReport.self)
        } catch ControlClient.Failure.notFound(let message) {
            printError("error: \(message) (neither provisioned nor heard from; see `vigil sensor list`)")
            throw ExitCode.failure
        } catch {
            printError("\(error)")
            throw ExitCode(69)
        }
        if json {
            print(try Terminal.json(sensor))
            return
        }
        let now = Terminal.now()
        let lines: [(String, String)] = [
            ("device", sensor.device), ("patient", sensor.patient ?? "-"), ("kind", sensor.kind ?? "-"),
            ("state", SensorText.state(sensor, now: now)), ("last seen", Terminal.ago(sensor.lastSeen, now: now)),
            ("boot", sensor.boot.map(String.init) ?? "-"), ("firmware", sensor.firmware ?? "-"), ("battery", SensorText.battery(sensor)),
            ("rssi", sensor.rssi.map { "\($0) dBm" } ?? "-"), ("readings/min", "\(sensor.readingsPerMinute)"),
            ("readings stored", "\(sensor.readingsStored) since the agent started"),
            ("completeness", "\(SensorText.completeness(sensor)) (\(sensor.received) of \(sensor.expected) expected)"),
            ("config", "applied \(sensor.configApplied.map { "v\($0)" } ?? "none"), wanted \(sensor.configWanted.map { "v\($0)" } ?? "none")"
                + (sensor.configPending ? Terminal.paint(" (pending)", .yellow) : "")),
            ("rejects", SensorText.rejects(sensor)),
            ("clinical", sensor.clinical ?? "none entered (SpO2 scale 1, air, consciousness not assessed)"),
        ]
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines { print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
        for problem in StatusAssessment.sensorProblems(sensor, now: now) where sensor.provisioned {
            print(Terminal.paint("! \(problem.message)", .yellow))
        }
    }
}

struct SensorWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Live view of a sensor's incoming readings and their quality, with sparklines.",
        discussion: """
            On a terminal, redraws once a second: per channel the latest value, the range and a \
            sparkline of the last 60 readings, and the quality grades. Otherwise (a pipe, a log) \
            prints one line per reading. Shows readings on this screen only; nothing is logged. \
            Stop with Ctrl-C, --count or --seconds.
            """)
    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The device id.", valueName: "id")) var device: String
    @Option(help: ArgumentHelp("Stop after this many readings.", valueName: "n")) var count: Int?
    @Option(help: ArgumentHelp("Stop after this many seconds.", valueName: "s")) var seconds: Int?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count: expected at least 1, got \(count)") }
        if let seconds, seconds < 1 { throw ValidationError("--seconds: expected at least 1, got \(seconds)") }
    }

    func run() async throws {
        let client = ControlClient(configuration: try? VigilConfiguration.load(path: options.path))
        let start = ContinuousClock.now
        var after: UInt64 = 0
        var history: [WatchReading] = []
        var shown = 0
        while seconds.map({ ContinuousClock.now - start < .seconds($0) }) ?? true {
            let batch: WatchBatch
            let sensor: SensorReport
            do {
                sensor = try await client.get("/v1/sensors/\(device)", as: SensorReport.self)
                batch = try await client.get("/v1/sensors/\(device)/readings?after=\(after)", as: WatchBatch.self)
            } catch ControlClient.Failure.notFound(let message) {
                printError("error: \(message)")
                throw ExitCode.failure
            } catch {
                printError("\(error)")
                throw ExitCode(69)
            }
            after = batch.next
            var fresh = batch.readings
            if let count { fresh = Array(fresh.prefix(count - shown)) }
            shown += fresh.count
            history = Array((history + fresh).suffix(60))
            if Terminal.isInteractive {
                FileHandle.standardOutput.write(Data(("\u{1B}[H\u{1B}[2J" + Self.screen(sensor: sensor, history: history)).utf8))
            } else {
                for reading in fresh { print(Self.line(reading)) }
            }
            if let count, shown >= count { return }
            try await Task.sleep(for: .seconds(1))
        }
    }

    static func line(_ reading: WatchReading) -> String {
        let time = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(reading.time) / 1_000))
        let values = reading.values.keys.sorted().map { "\($0)=\(format(reading.values[$0]!))" }.joined(separator: " ")
        return "\(time) seq=\(reading.seq) \(values) quality=\(reading.quality)" + (reading.abnormal ? " abnormal" : "")
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.2f", value).replacingOccurrences(of: #"0$"#, with: "", options: .regularExpression)
    }

    static func screen(sensor: SensorReport, history: [WatchReading]) -> String {
        let now = Terminal.now()
        var text = Terminal.paint("\(sensor.device)", .bold) + "  \(sensor.patient ?? "")  \(SensorText.state(sensor, now: now))  "
            + "\(sensor.readingsPerMinute)/min  completeness \(SensorText.completeness(sensor))  battery \(SensorText.battery(sensor))\n\n"
        let channels = Set(history.flatMap(\.values.keys)).sorted()
        var rows: [[String]] = []
        for channel in channels {
            let values = history.compactMap { $0.values[channel] }
            guard let last = values.last else { continue }
            rows.append([channel, format(last), "\(format(values.min()!))–\(format(values.max()!))", Terminal.sparkline(values)])
        }
        text += Terminal.table(["CHANNEL", "LATEST", "RANGE", "LAST \(history.count)"], rows) + "\n\n"
        let grades = Dictionary(grouping: history, by: \.quality).mapValues(\.count)
        let quality = ["good", "fair", "poor", "unusable"].compactMap { grade in grades[grade].map { "\(grade) \($0)" } }.joined(separator: "  ")
        let abnormal = history.filter(\.abnormal).count
        text += "quality  \(quality.isEmpty ? "-" : quality)" + (abnormal > 0 ? Terminal.paint("   abnormal \(abnormal)", .red) : "") + "\n"
        text += Terminal.paint("(Ctrl-C to stop)", .dim) + "\n"
        return text
    }
}
