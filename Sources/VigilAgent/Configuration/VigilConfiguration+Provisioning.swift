import VigilProvisioning

extension Provisioner {
    /// Provisioning for the gateway this configuration describes.
    public init(configuration: VigilConfiguration) {
        self.init(settings: .init(broker: configuration.broker, stateDirectory: configuration.gateway.stateDirectory,
                                  topicPrefix: configuration.topicPrefix, keyFile: configuration.store.keyFile))
    }
}
