import Foundation
import Logging
import VigilCore
import VigilMQTT
import VigilUplink
import VigilProtocol
import VigilProvisioning
import VigilScoring

/// The agent's whole configuration, typed and validated. Built only by ``load(path:environment:)``.
public struct VigilConfiguration: Sendable, Equatable {
    public enum LogFormat: String, Sendable, CaseIterable {
        /// `journald` when stderr is connected to the journal (`$JOURNAL_STREAM`), else `text`.
        case auto
        /// `<N>` syslog priority prefixes, no timestamp: journald adds its own.
        case journald
        /// Timestamped lines for a terminal or a plain log file.
        case text
    }

    public enum LogLevel: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical

        public var loggerLevel: Logger.Level { Logger.Level(rawValue: rawValue) ?? .info }
    }

    /// Where the Prometheus endpoint listens.
    public enum MetricsListen: Sendable, Equatable {
        case off
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public struct Gateway: Sendable, Equatable {
        public var id: String
        public var stateDirectory: String
    }

    /// The hospital uplink (`uplink.*`); `nil` when `uplink.fhir.base_url` is not set.
    public struct Uplink: Sendable, Equatable {
        public var baseURL: String
        public var auth: UplinkAuth
        public var caFile: String?
        public var clientCertificateFile: String?
        public var clientKeyFile: String?
        public var maxEntries: Int
        public var maxBytes: Int
        public var connectTimeoutSeconds: Int
        public var requestTimeoutSeconds: Int
        public var backoff: Backoff
        public var gzip: Bool
        /// Routine readings wait up to this long to share a request (alerts never wait).
        public var routineBatchMilliseconds: Int
        /// The hospital's patient identifier system: patients become conditional references.
        public var patientIdentifierSystem: String? = nil
        /// Whom alert Communications name as recipients (`uplink.fhir.alert_recipients`).
        public var alertRecipients: [String] = []
        /// One Observation per reading and vital, or per minute and vital (`uplink.fhir.granularity`).
        public var granularity: FHIRMapper.Granularity = .reading

        public var fhirOptions: FHIRMapper.Options {
            FHIRMapper.Options(patientIdentifierSystem: patientIdentifierSystem, alertRecipients: alertRecipients, granularity: granularity)
        }
    }

    /// The upstream broker for the MQTT uplink (`uplink.mqtt.*`).
    public struct UpstreamMQTT: Sendable, Equatable {
        public var broker: MQTTConfiguration
        public var topicPrefix: String
        /// Whom alert Communications name as recipients (`uplink.mqtt.alert_recipients`).
        public var alertRecipients: [String] = []
        public var granularity: FHIRMapper.Granularity = .reading

        public var fhirOptions: FHIRMapper.Options { FHIRMapper.Options(alertRecipients: alertRecipients, granularity: granularity) }
    }

    public struct Pipeline: Sendable, Equatable {
        /// How often the per-device summary line is logged.
        public var summaryIntervalSeconds: Int
    }

    public struct Models: Sendable, Equatable {
        /// How long a parameter's latest value may stand in for a missing one in NEWS2.
        public var news2FreshnessMinutes: Int
        /// Consecutive low NEWS2 windows (or readings) before an alert clears (hysteresis).
        public var news2ClearAfter: Int
        /// NEWS2 is scored on windows of this many seconds (medians; 0: every reading).
        public var news2WindowSeconds: Int
        /// Consecutive NEWS2 windows (or readings) at low-medium or above before an alert (persistence).
        public var news2RaiseAfter: Int
        /// Wrist activity above this (mg) is exertion, not rest.
        public var activeAboveMilliG: Int
        /// Minutes after exertion before readings count as at rest again.
        public var restAfterMinutes: Int
        /// Where quantized models (`*.json`, from tools/models/train.py) are loaded from.
        public var directory: String
        /// Per-vital daily profiles with drift alerts.
        public var drift: Bool
        /// Minutes between reminders of an open alert nobody acknowledged (0: none).
        public var reminderMinutes: Int
    }

    /// What `vigil sensor add|remove` manage on the local broker, and what a device is told.
    public typealias Broker = BrokerFiles

    public struct Store: Sendable, Equatable {
        /// The master key file (used when no systemd credential `vigil-store-keys` is present).
        public var keyFile: String
        public var segmentBytes: Int
        public var quotaBytes: Int64
        public var reserveBytes: Int64
        /// Group commit: how long the first reading of a batch may wait for others to share its sync.
        public var commitWindowMilliseconds: Int
        public var thinningIntervalSeconds: Int
        /// How often the gateway's checkpoint is written while its state changes (it is also
        /// written before any segment leaves the log, and at a stop).
        public var checkpointIntervalSeconds: Int = 60
    }

    public var gateway: Gateway
    public var store: Store
    public var mqtt: MQTTConfiguration
    public var topicPrefix: String
    public var logLevel: LogLevel
    public var logFormat: LogFormat
    public var metrics: MetricsListen
    /// The control socket's path (`control.socket`), `nil` when off.
    public var controlSocket: String?
    public var broker: Broker
    public var pipeline: Pipeline
    public var models: Models
    public var uplink: Uplink?
    public var upstreamMQTT: UpstreamMQTT?
    /// Where the file came from (for messages).
    public var sourcePath: String
    /// When technical alerts are raised (`technical.*`).
    package var technical = TechnicalSettings()
    /// How often the pipeline judges the time-driven conditions (`technical.tick_seconds`).
    public var technicalTickSeconds = 10
    /// How often either uplink sends the gateway's heartbeat (`uplink.heartbeat_interval_seconds`; 0: never).
    public var heartbeatIntervalSeconds = 300
    /// Whether either uplink sends the audit log as AuditEvents (`uplink.audit_events`), so the
    /// hospital holds the chain head.
    public var auditEvents = true
    /// How long readings stored while the gateway's clock is unsynchronised wait for the sync
    /// before either uplink sends them as of uncertain time (`uplink.hold_unsynchronised_seconds`).
    public var holdUnsynchronisedSeconds = 900
    /// `gateway.clock: rtc`: the wall clock is right from boot (a battery-backed real-time
    /// clock), whatever the kernel's NTP state says; `ntp` (the default) believes the kernel.
    public var clockTrusted = false
    /// `access.<role>`: who holds each control-socket role (``AccessPolicy``).
    public var access = AccessPolicy.standard
}

extension VigilConfiguration {
    /// Reads, overrides from the environment, and validates. Throws ``ConfigurationError`` with
    /// every problem found.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> VigilConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(issues: [.init(source: .file(path: path, line: nil), key: "(file)",
                                                    problem: "cannot read the file: \(Self.reason(error))")])
        }
        return try parse(yaml: text, path: path, environment: environment)
    }

    /// The same as ``load(path:environment:)`` for text already in memory.
    public static func parse(yaml: String, path: String, environment: [String: String] = [:]) throws -> VigilConfiguration {
        var reader = ConfigurationReader(path: path, yaml: yaml, environment: environment)
        let configuration = read(&reader)
        reader.reportUnknownKeys()
        guard reader.issues.isEmpty else { throw ConfigurationError(issues: reader.issues) }
        return configuration
    }

    private static func read(_ r: inout ConfigurationReader) -> VigilConfiguration {
        let gatewayID = r.requiredString("gateway.id", default: "vigil-gateway")
        if !DeviceID.isValid(gatewayID.utf8) {
            r.report("gateway.id", "expected 1 to 32 of A-Z a-z 0-9 _ -, got \"\(gatewayID)\"")
        }
        let gateway = Gateway(id: gatewayID, stateDirectory: r.requiredString("gateway.state_directory", default: "/var/lib/vigil"))

        let topicPrefix = r.requiredString("mqtt.topic_prefix", default: "vigil/v1")
        let prefixValid = !(topicPrefix.contains("+") || topicPrefix.contains("#") || topicPrefix.hasPrefix("/") || topicPrefix.hasSuffix("/"))
        if !prefixValid {
            r.report("mqtt.topic_prefix", "expected topic levels without wildcards or leading/trailing '/', got \"\(topicPrefix)\"")
        }
        // An invalid prefix has been reported (load will throw); the default keeps Topics' preconditions.
        let topics = Topics(prefix: prefixValid ? topicPrefix : "vigil/v1")
        let (password, tls) = brokerSecurity("mqtt", &r)
        let initialBackoff = r.int("mqtt.reconnect.initial_ms", default: 250, range: 10...60_000)
        let maximumBackoff = r.int("mqtt.reconnect.max_ms", default: 30_000, range: 10...3_600_000)
        if maximumBackoff < initialBackoff {
            r.report("mqtt.reconnect.max_ms", "expected at least mqtt.reconnect.initial_ms (\(initialBackoff)), got \(maximumBackoff)")
        }
        let mqtt = MQTTConfiguration(
            host: r.requiredString("mqtt.host", default: "127.0.0.1"),
            port: r.int("mqtt.port", default: 1883, range: 1...65_535),
            clientID: r.requiredString("mqtt.client_id", default: "vigil-\(gatewayID)"),
            username: r.string("mqtt.username"),
            password: password,
            tls: tls,
            keepaliveSeconds: r.int("mqtt.keepalive_seconds", default: 30, range: 5...3_600),
            cleanSession: false,
            will: .init(topic: topics.gatewayStatus(gatewayID), payload: Array("offline".utf8)),
            birth: .init(topic: topics.gatewayStatus(gatewayID), payload: Array("online".utf8)),
            subscriptions: [.init(topics.filter(.up)), .init(topics.filter(.status)), .init(topics.gatewayAlertAck(gatewayID)),
                            .init(topics.gatewayPatientSettings(gatewayID))],
            reconnect: Backoff(initialMilliseconds: Int64(initialBackoff), maximumMilliseconds: Int64(max(initialBackoff, maximumBackoff))),
            inboxCapacity: r.int("mqtt.inbox_capacity", default: 4_096, range: 16...1_000_000)
        )

        let metricsText = r.requiredString("metrics.listen", default: "127.0.0.1:9464")
        let metrics = parseListen(metricsText, &r)
        let controlText = r.requiredString("control.socket", default: "/run/vigil/control.sock")
        if controlText != "off" && !controlText.hasPrefix("/") {
            r.report("control.socket", "expected an absolute path or off, got \"\(controlText)\"")
        }
        let deviceCA = r.string("broker.device_ca_file", default: "/etc/mosquitto/vigil/tls/ca.pem")
        let broker = Broker(
            passwordFile: r.requiredString("broker.password_file", default: "/etc/mosquitto/vigil/passwd"),
            aclFile: r.requiredString("broker.acl_file", default: "/etc/mosquitto/vigil/acl"),
            pidFile: r.string("broker.pid_file", default: "/run/mosquitto/vigil.pid").flatMap { $0 == "off" ? nil : $0 },
            deviceHost: r.requiredString("broker.device_host", default: "vigil-gateway.local"),
            devicePort: r.int("broker.device_port", default: 8883, range: 1...65_535),
            deviceCAFile: deviceCA == "off" ? nil : deviceCA)

        let store = Store(
            keyFile: r.requiredString("store.key_file", default: "/etc/vigil/store.keys"),
            segmentBytes: r.int("store.segment_kib", default: 4_096, range: 4...262_144) * 1_024,
            quotaBytes: Int64(r.int("store.quota_mib", default: 1_024, range: 1...1_048_576)) << 20,
            reserveBytes: Int64(r.int("store.reserve_mib", default: 64, range: 0...1_048_576)) << 20,
            commitWindowMilliseconds: r.int("store.commit_window_ms", default: 50, range: 0...1_000),
            thinningIntervalSeconds: r.int("store.thinning_interval_seconds", default: 300, range: 1...86_400),
            checkpointIntervalSeconds: r.int("store.checkpoint_interval_seconds", default: 60, range: 1...3_600))
        if Int64(store.segmentBytes) * 4 > store.quotaBytes {
            r.report("store.segment_kib", "expected at most a quarter of store.quota_mib, so eviction has segments to work with")
        }

        let fhirUplink = uplink(&r)
        let mqttUplink = upstreamMQTT(gateway: gatewayID, &r)
        if fhirUplink != nil && mqttUplink != nil {
            // One cursor per lane: two uplinks would each confirm what only one delivered.
            r.report("uplink.mqtt", "expected one uplink: uplink.fhir.base_url or uplink.mqtt, not both")
        }
        let technical = technical(&r)
        var configuration = VigilConfiguration(
            gateway: gateway,
            store: store,
            mqtt: mqtt,
            topicPrefix: topicPrefix,
            logLevel: r.choice("logging.level", default: LogLevel.info),
            logFormat: r.choice("logging.format", default: LogFormat.auto),
            metrics: metrics,
            controlSocket: controlText == "off" ? nil : controlText,
            broker: broker,
            pipeline: Pipeline(summaryIntervalSeconds: r.int("pipeline.summary_interval_seconds", default: 60, range: 1...86_400)),
            models: Models(
                news2FreshnessMinutes: r.int("models.news2_freshness_minutes", default: 60, range: 1...1_440),
                news2ClearAfter: r.int("models.news2_clear_after", default: 6, range: 1...100),
                news2WindowSeconds: r.int("models.news2_window_seconds", default: 300, range: 0...3_600),
                news2RaiseAfter: r.int("models.news2_raise_after", default: 3, range: 1...100),
                activeAboveMilliG: r.int("models.active_above_mg", default: 100, range: 10...8_000),
                restAfterMinutes: r.int("models.rest_after_minutes", default: 10, range: 0...240),
                directory: r.requiredString("models.directory", default: "/etc/vigil/models"),
                drift: r.bool("models.drift", default: true),
                reminderMinutes: r.int("models.alert_reminder_minutes", default: 30, range: 0...1_440)),
            uplink: fhirUplink,
            upstreamMQTT: mqttUplink,
            sourcePath: r.path
        )
        configuration.technical = technical
        configuration.technicalTickSeconds = r.int("technical.tick_seconds", default: 10, range: 1...300)
        configuration.heartbeatIntervalSeconds = r.int("uplink.heartbeat_interval_seconds", default: 300, range: 0...86_400)
        configuration.auditEvents = r.bool("uplink.audit_events", default: true)
        switch r.requiredString("gateway.clock", default: "ntp") {
        case "ntp": break
        case "rtc": configuration.clockTrusted = true
        case let other: r.report("gateway.clock", "expected ntp or rtc, got \"\(other)\"")
        }
        configuration.holdUnsynchronisedSeconds = r.int("uplink.hold_unsynchronised_seconds", default: 900, range: 0...86_400)
        configuration.access = access(&r)
        return configuration
    }

    /// `access.*`: each role's principals (`user:`, `group:`, `uid:`, `gid:`); a role not named
    /// keeps its standard group, `vigil-<role>`; an empty list gives it to nobody.
    private static func access(_ r: inout ConfigurationReader) -> AccessPolicy {
        var policy = AccessPolicy.standard
        for role in AccessRole.allCases where r.has("access.\(role.rawValue)") {
            var principals: [AccessPolicy.Principal] = []
            for text in r.stringList("access.\(role.rawValue)") {
                guard let principal = AccessPolicy.Principal(text) else {
                    r.report("access.\(role.rawValue)", "expected user:<name>, group:<name>, uid:<n> or gid:<n>, got \"\(text)\"")
                    continue
                }
                principals.append(principal)
            }
            policy.members[role] = principals
        }
        return policy
    }

    /// `technical.*`: the technical conditions' thresholds (docs in config/vigil.yaml).
    private static func technical(_ r: inout ConfigurationReader) -> TechnicalSettings {
        var settings = TechnicalSettings()
        settings.enabled = r.bool("technical.enabled", default: true)
        let after = r.int("technical.silent_after_seconds", default: 300, range: 30...86_400)
        let escalate = r.int("technical.silent_escalate_after_seconds", default: 900, range: 30...172_800)
        if escalate <= after {
            r.report("technical.silent_escalate_after_seconds", "expected more than technical.silent_after_seconds")
        }
        settings.silence = .init(after: after, escalateAfter: escalate)
        let spotAfter = r.int("technical.spot_check_silent_after_hours", default: 26, range: 1...720)
        let spot = TechnicalSettings.Silence(after: spotAfter * 3_600, escalateAfter: spotAfter * 2 * 3_600)
        settings.silenceByKind = ["bp-cuff": spot, "thermometer": spot]
        settings.notWornAfter = r.int("technical.not_worn_after_seconds", default: 300, range: 30...86_400)
        settings.notWornNotifyAfter = r.int("technical.not_worn_notify_after_seconds", default: 1_800, range: 30...172_800)
        if settings.notWornNotifyAfter < settings.notWornAfter {
            r.report("technical.not_worn_notify_after_seconds", "expected at least technical.not_worn_after_seconds")
        }
        settings.chargingMax = r.int("technical.charging_max_minutes", default: 180, range: 10...1_440) * 60
        settings.batteryLow = r.int("technical.battery_low_percent", default: 20, range: 1...99)
        settings.batteryCritical = r.int("technical.battery_critical_percent", default: 10, range: 0...98)
        if settings.batteryCritical >= settings.batteryLow {
            r.report("technical.battery_critical_percent", "expected less than technical.battery_low_percent")
        }
        settings.authFailures = r.int("technical.auth_failures", default: 5, range: 1...1_000)
        settings.authWindow = r.int("technical.auth_window_seconds", default: 600, range: 10...86_400)
        settings.uplinkDownAfter = r.int("technical.uplink_down_after_seconds", default: 1_800, range: 30...604_800)
        settings.brokerDownAfter = r.int("technical.broker_down_after_seconds", default: 300, range: 10...86_400)
        settings.clockUnsyncedAfter = r.int("technical.clock_unsynced_after_seconds", default: 3_600, range: 60...604_800)
        settings.diskLowMiB = r.int("technical.disk_low_mib", default: 64, range: 1...1_048_576)
        return settings
    }

    /// `<section>.password_file` and `<section>.tls.*`, for the local and the upstream broker.
    private static func brokerSecurity(_ section: String, _ r: inout ConfigurationReader) -> (String?, MQTTConfiguration.TLS?) {
        var password: String?
        if let passwordFile = r.string("\(section).password_file") {
            password = readSecret(passwordFile, key: "\(section).password_file", &r)
        }
        var tls: MQTTConfiguration.TLS?
        if r.hasSection("\(section).tls") {
            let ca = r.requiredString("\(section).tls.ca_file", default: "")
            let cert = r.string("\(section).tls.cert_file")
            let key = r.string("\(section).tls.key_file")
            if ca.isEmpty { r.report("\(section).tls.ca_file", "expected the path of a PEM CA bundle when \(section).tls is present") }
            for (name, file) in [("\(section).tls.ca_file", ca), ("\(section).tls.cert_file", cert ?? ""), ("\(section).tls.key_file", key ?? "")]
            where !file.isEmpty && !FileManager.default.isReadableFile(atPath: file) {
                r.report(name, "file \"\(file)\" does not exist or is not readable")
            }
            if (cert == nil) != (key == nil) {
                r.report("\(section).tls.cert_file", "a client certificate needs both cert_file and key_file")
            }
            tls = .init(caFile: ca, certFile: cert, keyFile: key)
        }
        return (password, tls)
    }

    /// The upstream broker (`uplink.mqtt.*`); `nil` without `uplink.mqtt.host`.
    private static func upstreamMQTT(gateway: String, _ r: inout ConfigurationReader) -> UpstreamMQTT? {
        guard r.hasSection("uplink.mqtt") else { return nil }
        // One broker (host, port), or the nodes of a cluster to fail over between (brokers).
        let brokers = r.stringList("uplink.mqtt.brokers")
        var endpoints: [MQTTConfiguration.Endpoint] = []
        for broker in brokers {
            let parts = broker.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65_535).contains(port) else {
                r.report("uplink.mqtt.brokers", "expected host:port items, got \"\(broker)\"")
                continue
            }
            endpoints.append(.init(host: String(parts[0]), port: port))
        }
        var host = r.requiredString("uplink.mqtt.host", default: "")
        var port = r.int("uplink.mqtt.port", default: 8883, range: 1...65_535)
        if !brokers.isEmpty, !host.isEmpty {
            r.report("uplink.mqtt.brokers", "expected either host (and port) or brokers, not both")
        }
        if let first = endpoints.first, host.isEmpty {
            host = first.host
            port = first.port
        }
        if host.isEmpty && brokers.isEmpty {
            r.report("uplink.mqtt.host", "expected the upstream broker's host name (or brokers) when uplink.mqtt is present")
        }
        let prefix = r.requiredString("uplink.mqtt.topic_prefix", default: "vigil-upstream")
        if prefix.contains("+") || prefix.contains("#") || prefix.hasPrefix("/") || prefix.hasSuffix("/") {
            r.report("uplink.mqtt.topic_prefix", "expected topic levels without wildcards or leading/trailing '/', got \"\(prefix)\"")
        }
        let clientID = r.requiredString("uplink.mqtt.client_id", default: "vigil-uplink-\(gateway)")
        let username = r.string("uplink.mqtt.username")
        let (password, tls) = brokerSecurity("uplink.mqtt", &r)
        if tls == nil && !([host] + endpoints.map(\.host)).allSatisfy({ ["127.0.0.1", "localhost", "::1"].contains($0) }) {
            r.report("uplink.mqtt.tls", "expected uplink.mqtt.tls (ca_file) for a broker that is not on this machine")
        }
        let ackTopic = Topics.upstreamAlertAck(prefix: prefix, gateway: gateway)
        var broker = MQTTConfiguration(host: host, port: port, clientID: clientID, username: username, password: password, tls: tls,
                                      cleanSession: false,
                                      // The upstream sees the gateway drop at once, not only when heartbeats stop.
                                      will: .init(topic: "\(prefix)/\(gateway)/status", payload: Array("offline".utf8)),
                                      birth: .init(topic: "\(prefix)/\(gateway)/status", payload: Array("online".utf8)),
                                      subscriptions: [.init(ackTopic), .init(Topics.upstreamPatientSettings(prefix: prefix, gateway: gateway))],
                                      reconnect: Backoff(initialMilliseconds: 500, maximumMilliseconds: 60_000))
        broker.alternates = Array(endpoints.dropFirst())
        return UpstreamMQTT(
            broker: broker,
            topicPrefix: prefix, alertRecipients: alertRecipients(&r, "uplink.mqtt.alert_recipients"),
            granularity: r.choice("uplink.mqtt.granularity", default: FHIRMapper.Granularity.reading))
    }

    /// `uplink.fhir.token_file`, `uplink.fhir.oauth2.*` or `uplink.fhir.smart.*`: at most one.
    private static func uplinkAuth(_ r: inout ConfigurationReader) -> UplinkAuth {
        var choices: [UplinkAuth] = []
        if let file = r.string("uplink.fhir.token_file") { choices.append(.bearerTokenFile(file)) }
        if r.hasSection("uplink.fhir.oauth2") {
            let url = r.requiredString("uplink.fhir.oauth2.token_url", default: "")
            let client = r.requiredString("uplink.fhir.oauth2.client_id", default: "")
            let secret = r.requiredString("uplink.fhir.oauth2.client_secret_file", default: "")
            for (key, value) in [("token_url", url), ("client_id", client), ("client_secret_file", secret)] where value.isEmpty {
                r.report("uplink.fhir.oauth2.\(key)", "expected a value when uplink.fhir.oauth2 is present")
            }
            choices.append(.clientCredentials(tokenURL: url, clientID: client, secretFile: secret, scope: r.string("uplink.fhir.oauth2.scope")))
        }
        if r.hasSection("uplink.fhir.smart") {
            let url = r.requiredString("uplink.fhir.smart.token_url", default: "")
            let client = r.requiredString("uplink.fhir.smart.client_id", default: "")
            let key = r.requiredString("uplink.fhir.smart.private_key_file", default: "")
            let keyID = r.requiredString("uplink.fhir.smart.key_id", default: "")
            for (name, value) in [("token_url", url), ("client_id", client), ("private_key_file", key), ("key_id", keyID)] where value.isEmpty {
                r.report("uplink.fhir.smart.\(name)", "expected a value when uplink.fhir.smart is present")
            }
            let algorithmText = r.requiredString("uplink.fhir.smart.algorithm", default: "ES384")
            let algorithm = UplinkAuth.SigningAlgorithm(rawValue: algorithmText.uppercased())
            if algorithm == nil { r.report("uplink.fhir.smart.algorithm", "expected ES384 or RS384, got \"\(algorithmText)\"") }
            choices.append(.smartBackendServices(tokenURL: url, clientID: client, privateKeyFile: key, keyID: keyID,
                                                 algorithm: algorithm ?? .es384,
                                                 scope: r.requiredString("uplink.fhir.smart.scope", default: "system/*.write")))
        }
        if choices.count > 1 {
            r.report("uplink.fhir", "expected one of token_file, oauth2 and smart, not \(choices.count)")
        }
        return choices.first ?? UplinkAuth.none
    }

    private static func uplink(_ r: inout ConfigurationReader) -> Uplink? {
        let maxEntries = r.int("uplink.max_entries", default: 1_000, range: 1...10_000)
        let maxKiB = r.int("uplink.max_kib", default: 2_048, range: 16...65_536)
        let connect = r.int("uplink.connect_timeout_seconds", default: 5, range: 1...300)
        let request = r.int("uplink.request_timeout_seconds", default: 30, range: 1...600)
        let initial = r.int("uplink.retry.initial_ms", default: 500, range: 10...600_000)
        let maximum = r.int("uplink.retry.max_ms", default: 300_000, range: 10...3_600_000)
        let gzip = r.bool("uplink.gzip", default: true)
        let routineBatch = r.int("uplink.routine_batch_ms", default: 1_000, range: 0...60_000)
        let auth = uplinkAuth(&r)
        let caFile = r.string("uplink.fhir.ca_file")
        let certificate = r.string("uplink.fhir.client_certificate_file")
        let key = r.string("uplink.fhir.client_key_file")
        guard let url = r.string("uplink.fhir.base_url"), !url.isEmpty else { return nil }
        if !(url.hasPrefix("https://") || url.hasPrefix("http://127.0.0.1") || url.hasPrefix("http://localhost")) {
            r.report("uplink.fhir.base_url", "expected an https:// URL (plain http only to localhost), got \"\(url)\"")
        }
        if (certificate == nil) != (key == nil) {
            r.report("uplink.fhir.client_certificate_file", "expected both client_certificate_file and client_key_file, or neither")
        }
        let patientSystem = r.string("uplink.fhir.patient_identifier_system")
        if let patientSystem, !patientSystem.contains(":") || patientSystem.contains("|") || patientSystem.contains(" ") {
            r.report("uplink.fhir.patient_identifier_system", "expected a URI (e.g. https://hospital.example/mrn), got \"\(patientSystem)\"")
        }
        return Uplink(baseURL: url, auth: auth, caFile: caFile, clientCertificateFile: certificate, clientKeyFile: key,
                      maxEntries: maxEntries, maxBytes: maxKiB * 1_024, connectTimeoutSeconds: connect, requestTimeoutSeconds: request,
                      backoff: Backoff(initialMilliseconds: Int64(initial), maximumMilliseconds: Int64(max(initial, maximum)), jitter: .full),
                      gzip: gzip, routineBatchMilliseconds: routineBatch, patientIdentifierSystem: patientSystem,
                      alertRecipients: alertRecipients(&r, "uplink.fhir.alert_recipients"),
                      granularity: r.choice("uplink.fhir.granularity", default: FHIRMapper.Granularity.reading))
    }

    /// References to the hospital's resources that receive alerts (`CareTeam/…`, or a conditional
    /// `CareTeam?identifier=…`): checked for shape only, the server resolves them.
    private static func alertRecipients(_ r: inout ConfigurationReader, _ key: String) -> [String] {
        let recipients = r.stringList(key)
        for recipient in recipients {
            let type = recipient.split(whereSeparator: { $0 == "/" || $0 == "?" }).first.map(String.init) ?? ""
            guard ["CareTeam", "Group", "Organization", "Practitioner", "PractitionerRole", "RelatedPerson", "Patient"].contains(type),
                  recipient.count > type.count + 1, !recipient.contains(" ") else {
                r.report(key, "expected references such as CareTeam/rpm-team or Organization?identifier=system|value, got \"\(recipient)\"")
                continue
            }
        }
        return recipients
    }

    private static func parseListen(_ text: String, _ r: inout ConfigurationReader) -> MetricsListen {
        if text == "off" { return .off }
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            if path.hasPrefix("/") { return .unix(path: path) }
            r.report("metrics.listen", "expected an absolute socket path after unix:, got \"\(text)\"")
            return .off
        }
        if let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) {
            let host = String(text[..<colon])
            // Metrics reveal device ids and activity: keep them on this machine.
            if ["127.0.0.1", "::1", "[::1]", "localhost"].contains(host) {
                return .tcp(host: host == "[::1]" ? "::1" : host, port: port)
            }
            r.report("metrics.listen", "expected a loopback address (127.0.0.1, ::1, localhost) or unix:/path, got host \"\(host)\"")
            return .off
        }
        r.report("metrics.listen", "expected HOST:PORT on loopback, unix:/path or off, got \"\(text)\"")
        return .off
    }

    private static func readSecret(_ path: String, key: String, _ r: inout ConfigurationReader) -> String? {
        do {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if secret.isEmpty { r.report(key, "file \"\(path)\" is empty") }
            return secret
        } catch {
            r.report(key, "cannot read \"\(path)\": \(reason(error))")
            return nil
        }
    }

    static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        switch nsError.code {
        case NSFileReadNoSuchFileError: return "no such file"
        case NSFileReadNoPermissionError: return "permission denied"
        default: return nsError.localizedDescription
        }
    }

    /// The values an operator may want to see (`vigil config check`): never the password.
    public var summary: [(String, String)] {
        var lines: [(String, String)] = [
            ("gateway.id", gateway.id),
            ("gateway.state_directory", gateway.stateDirectory),
            ("gateway.clock", clockTrusted ? "rtc (trusted from boot)" : "ntp (trusted once the kernel says synchronised)"),
            ("store.key_file", store.keyFile),
            ("store.quota", "\(store.quotaBytes >> 20) MiB, reserve \(store.reserveBytes >> 20) MiB, segments of \(store.segmentBytes >> 10) KiB"),
            ("store.commit_window_ms", "\(store.commitWindowMilliseconds)"),
            ("store.checkpoint_interval_seconds", "\(store.checkpointIntervalSeconds)"),
            ("mqtt.broker", "\(mqtt.tls == nil ? "mqtt" : "mqtts")://\(mqtt.host):\(mqtt.port)"),
            ("mqtt.client_id", mqtt.clientID),
            ("mqtt.username", mqtt.username ?? "(none)"),
            ("mqtt.password", mqtt.password == nil ? "(none)" : "(set, from file)"),
            ("mqtt.subscriptions", mqtt.subscriptions.map(\.filter).joined(separator: " ")),
            ("mqtt.keepalive_seconds", "\(mqtt.keepaliveSeconds)"),
            ("mqtt.reconnect", "\(mqtt.reconnect.initialMilliseconds)…\(mqtt.reconnect.maximumMilliseconds) ms with jitter"),
            ("mqtt.inbox_capacity", "\(mqtt.inboxCapacity)"),
            ("logging", "\(logLevel.rawValue), \(logFormat.rawValue)"),
        ]
        switch metrics {
        case .off: lines.append(("metrics.listen", "off"))
        case .tcp(let host, let port): lines.append(("metrics.listen", "http://\(host):\(port)/metrics"))
        case .unix(let path): lines.append(("metrics.listen", "unix:\(path)"))
        }
        lines.append(("control.socket", controlSocket ?? "off"))
        return lines
    }
}

extension VigilConfiguration.Models {
    /// The live scoring these settings describe.
    package var scoring: ScoringSettings {
        var settings = ScoringSettings()
        settings.news2FreshnessMinutes = news2FreshnessMinutes
        settings.news2WindowSeconds = news2WindowSeconds
        settings.news2RaiseAfter = news2RaiseAfter
        settings.news2ClearAfter = news2ClearAfter
        settings.activeAboveMilliG = activeAboveMilliG
        settings.restAfterMinutes = restAfterMinutes
        settings.drift = drift
        settings.reminderMinutes = reminderMinutes
        return settings
    }
}

extension VigilConfiguration {
    /// The live scoring, technical conditions included.
    package var scoring: ScoringSettings {
        var settings = models.scoring
        settings.technical = technical
        settings.utcOffsetMinutes = TimeZone.current.secondsFromGMT() / 60
        settings.minuteRollups = uplink?.granularity == .minute || upstreamMQTT?.granularity == .minute
        return settings
    }
}
