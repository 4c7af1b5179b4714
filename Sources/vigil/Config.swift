import ArgumentParser
import Foundation
import VigilAgent

struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect the agent's configuration.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file and print the settings it results in.",
            discussion: """
                Reads FILE (default: as for `vigil run`), applies VIGIL_* environment overrides \
                and checks every setting. Each problem is printed with its file and line (or \
                environment variable), its key and what was expected. Secrets are never printed.

                Exit status: 0 if valid, 78 (EX_CONFIG) if not.
                """
        )

        @Argument(help: ArgumentHelp(
            "Configuration file to check.", discussion: "Defaults to $VIGIL_CONFIG, then /etc/vigil/vigil.yaml.",
            valueName: "file"))
        var file: String?

        func run() throws {
            let path = file ?? ConfigOption().path
            do {
                let configuration = try VigilConfiguration.load(path: path)
                let width = configuration.summary.map(\.0.count).max() ?? 0
                print("\(path): valid")
                for (key, value) in configuration.summary {
                    print("  \(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)")
                }
            } catch let error as ConfigurationError {
                printError("\(error)")
                throw ExitCode(ExitStatus.configuration)
            }
        }
    }
}
