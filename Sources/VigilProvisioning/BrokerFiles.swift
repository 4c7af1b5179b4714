/// What `vigil sensor add|remove` manage on the local broker (`broker.*`), and what a device is told.
public struct BrokerFiles: Sendable, Equatable {
    public var passwordFile: String
    public var aclFile: String
    /// mosquitto's pid file: the broker is sent SIGHUP to re-read the two files above.
    public var pidFile: String?
    public var deviceHost: String
    public var devicePort: Int
    /// The CA a device verifies the broker with (embedded in its boot file); `nil`: plain MQTT.
    public var deviceCAFile: String?

    public init(passwordFile: String, aclFile: String, pidFile: String?, deviceHost: String, devicePort: Int, deviceCAFile: String?) {
        self.passwordFile = passwordFile
        self.aclFile = aclFile
        self.pidFile = pidFile
        self.deviceHost = deviceHost
        self.devicePort = devicePort
        self.deviceCAFile = deviceCAFile
    }
}
