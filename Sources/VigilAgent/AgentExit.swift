import VigilStore

/// The agent's exit statuses (sysexits.h), decided here and only here from the error that ended
/// the service group.
public enum AgentExit {
    /// EX_CONFIG: the unit's RestartPreventExitStatus= names it, so systemd does not restart-loop
    /// on a configuration (or key file) that can never work.
    public static let configuration: Int32 = 78
    /// EX_IOERR: the store's fdatasync failed; systemd restarts the agent and recovery rescans
    /// the log (nothing unsynced was acknowledged).
    public static let storeIO: Int32 = 74
    public static let failure: Int32 = 1

    public static func status(for error: any Error) -> Int32 {
        switch error {
        case is StartupError, is ConfigurationError: configuration
        case StoreError.syncFailed: storeIO
        default: failure
        }
    }
}
