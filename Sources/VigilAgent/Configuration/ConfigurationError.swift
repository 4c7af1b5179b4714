/// One problem in the configuration: where it is, which key, and what was expected.
public struct ConfigurationIssue: Sendable, Equatable, CustomStringConvertible {
    public enum Source: Sendable, Equatable {
        case file(path: String, line: Int?)
        case environment(variable: String)
    }

    public let source: Source
    /// The dotted key, e.g. `mqtt.port`.
    public let key: String
    public let problem: String

    public var description: String {
        switch source {
        case .file(let path, let line):
            let location = line.map { "\(path):\($0)" } ?? path
            return "\(location): \(key): \(problem)"
        case .environment(let variable):
            return "environment \(variable): \(key): \(problem)"
        }
    }
}

/// Thrown when the configuration cannot be used; lists every problem found, not just the first.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let issues: [ConfigurationIssue]

    public var description: String {
        (["configuration is invalid (\(issues.count) problem\(issues.count == 1 ? "" : "s")):"]
            + issues.map { "  \($0)" }).joined(separator: "\n")
    }
}
