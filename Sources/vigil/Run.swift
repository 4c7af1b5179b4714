import ArgumentParser
import Foundation
import Logging
import VigilAgent

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway agent until SIGTERM or SIGINT.",
        discussion: """
            Connects to the local broker, receives sensor messages and runs the pipeline. Under \
            systemd (Type=notify) it reports READY, STATUS and WATCHDOG over $NOTIFY_SOCKET. Any \
            setting can be overridden by an environment variable: mqtt.port is VIGIL_MQTT_PORT.

            Exit status: 0 after a clean stop, 78 (EX_CONFIG) for an invalid configuration or \
            unusable store keys, 74 (EX_IOERR) when the store's fdatasync fails (systemd restarts \
            the agent and recovery rescans the log), 1 for any other failure.
            """
    )

    @OptionGroup var options: ConfigOption

    func run() async throws {
        let configuration: VigilConfiguration
        do {
            configuration = try VigilConfiguration.load(path: options.path)
        } catch let error as ConfigurationError {
            printError("\(error)")
            throw ExitCode(ExitStatus.configuration)
        }
        let style: JournaldLogHandler.Style = switch configuration.logFormat {
        case .journald: .journald
        case .text: .text
        case .auto: ProcessEnvironment.value("JOURNAL_STREAM") != nil ? .journald : .text
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in JournaldLogHandler(label: label, level: level.loggerLevel, style: style) }
        let logger = Logger(label: "vigil")
        do {
            try await Agent(configuration: configuration, logger: logger).run()
        } catch let error as StartupError {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            printError("\(error)")
            throw ExitCode(AgentExit.status(for: error))
        } catch {
            logger.critical("agent failed", metadata: ["error": "\(error)"])
            throw ExitCode(AgentExit.status(for: error))
        }
    }
}

enum ExitStatus {
    static let configuration = AgentExit.configuration
    /// EX_UNAVAILABLE: the agent (or what a command needs from it) is not there.
    static let unavailable: Int32 = 69
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

enum ProcessEnvironment {
    static func value(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }
}
