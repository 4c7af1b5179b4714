import Logging
import VigilStore
import VigilValidation

extension RestoredState {
    /// The log opened and the gateway's state restored from it.
    struct Opened {
        let store: Store
        let report: RecoveryReport
        /// Which readings are stored, per device and boot (checkpoint and log).
        let validator: Validator
        let state: RestoredState
        let checkpoint: GatewayState?
    }

    /// Opens (and recovers) the log at `directory` and restores the state: the checkpoint first,
    /// then the entries of the log it does not reflect on top of it (segments wholly before its
    /// positions are opened from their seals and not read: ``KnownLog``). The sensors' remembered facts go to `sensors`.
    static func open(
        directory: String, keyring: Keyring, options: StoreOptions, fileSystem: any FileSystem = PosixFileSystem(),
        logger: Logger, metrics: StoreMetrics, sensors: SensorBook?
    ) throws(StoreError) -> Opened {
        let checkpoint = StateKeeper.load(CheckpointFile(directory: directory, keyring: keyring, fileSystem: fileSystem), logger: logger)
        if let checkpoint { sensors?.restore(checkpoint.sensors) }
        var builder = Builder(checkpoint: checkpoint)
        let (store, report) = try Store.open(directory: directory, keyring: keyring, options: options, fileSystem: fileSystem,
                                             logger: logger, metrics: metrics, known: checkpoint?.known,
                                             restore: { builder.add($0) })
        return Opened(store: store, report: report, validator: builder.validator, state: builder.build(), checkpoint: checkpoint)
    }
}
