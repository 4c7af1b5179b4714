import ArgumentParser
import Foundation
import VigilAgent
import VigilCore

struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Reports for the monitoring team.",
        subcommands: [Coverage.self])

    struct Coverage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How much monitoring each patient had, per day: usable, not worn and silent minutes, readings received.",
            discussion: """
                Asks the running agent (its control socket). A day is the gateway's local day; every \
                minute is usable (a reading with a usable vital sign), not worn (readings, none \
                usable) or silent (none). "Received" counts readings stored, "expected" those the \
                sensors numbered; "30 d" the days with readings in the 30 days ending that day (US \
                remote-monitoring device supply needs 16). Each day that is over is also uploaded \
                once as a FHIR Observation on the patient.
                """)
        @OptionGroup var options: ConfigOption
        @Option(help: "Only this patient (registry reference, e.g. Patient/p-0001).") var patient: String?
        @Option(help: "Days to show, today included (at most 31).") var days = 7
        @Flag(help: "JSON for scripts.") var json = false

        func validate() throws {
            guard (1...31).contains(days) else { throw ValidationError("--days: expected 1 to 31, got \(days)") }
        }

        func run() async throws {
            let configuration = try? VigilConfiguration.load(path: options.path)
            var path = "/v1/coverage?days=\(days)"
            if let patient { path += "&patient=" + (patient.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? patient) }
            let rows = try await ControlClient(configuration: configuration).get(path, as: [CoverageDay].self)
            if json {
                print(try Terminal.json(rows))
                return
            }
            guard !rows.isEmpty else {
                print(patient.map { "no coverage recorded for \($0)" } ?? "no patients assigned or heard in the last \(days) days")
                return
            }
            print(Self.render(rows))
        }

        /// A table, one row per patient-day, with a bar of the day's usable share per hour.
        static func render(_ rows: [CoverageDay]) -> String {
            Terminal.table(
                ["PATIENT", "DAY", "USABLE", "NOT WORN", "SILENT", "RECEIVED", "30 D", "HOURS 0–23"],
                rows.map { day in
                    let percent = Int((day.coverage * 100).rounded())
                    let delivered = day.expected == 0 ? "–" : "\(day.received)/\(day.expected)"
                    return [day.patient, day.day, "\(percent) % (\(day.usableMinutes) min)", "\(day.notWornMinutes) min",
                            "\(day.silentMinutes) min", delivered, "\(day.daysWithReadings30)", bar(day)]
                })
        }

        /// One cell per hour of the day (so far), by its usable minutes: █ 45 or more, ▓ 15 or
        /// more, ░ some, · none.
        static func bar(_ day: CoverageDay) -> String {
            String(day.hourlyUsable.map { minutes -> Character in
                minutes >= 45 ? "█" : minutes >= 15 ? "▓" : minutes > 0 ? "░" : "·"
            })
        }
    }
}
