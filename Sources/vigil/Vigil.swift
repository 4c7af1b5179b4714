import ArgumentParser
import VigilAgent

@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Vigil: a home remote-patient-monitoring gateway agent.",
        discussion: """
            Vigil receives signed readings from wearable sensors through a local MQTT broker, \
            validates them, scores them with on-box models, stores them encrypted and forwards \
            them to the hospital. `vigil run` is the agent (systemd starts it); the other \
            commands are for technicians and operators.
            """,
        version: VigilVersion.current,
        subcommands: [Run.self, StatusCommand.self, DoctorCommand.self, SensorCommand.self, Config.self, Score.self, StoreCommand.self,
                      KeysCommand.self, AuditCommand.self, PatientCommand.self, ReportCommand.self, SetupCommand.self]
    )
}

/// Options shared by every command that reads the agent's configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp(
        "Configuration file (YAML).", discussion: "Defaults to $VIGIL_CONFIG, then /etc/vigil/vigil.yaml.",
        valueName: "path"))
    var config: String?

    init() {}

    var path: String {
        config ?? ProcessEnvironment.value("VIGIL_CONFIG") ?? "/etc/vigil/vigil.yaml"
    }
}
