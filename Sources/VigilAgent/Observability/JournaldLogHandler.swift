import Foundation
import Logging

/// A swift-log handler for a systemd service: one line per event on stderr.
///
/// In journald format each line starts with the syslog priority (`<6>` for info), which journald
/// turns into the entry's PRIORITY, and carries no timestamp (journald records its own). In text
/// format lines carry an ISO 8601 timestamp for a terminal. Metadata is printed as sorted
/// `key=value` pairs; callers put device ids and reason codes there, never readings.
public struct JournaldLogHandler: LogHandler {
    public enum Style: Sendable { case journald, text }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let style: Style
    private let sink: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level, style: Style, sink: @escaping @Sendable (String) -> Void = writeToStandardError) {
        self.label = label
        self.logLevel = level
        self.style = style
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        sink(Self.format(level: event.level, label: label, message: event.message.description, metadata: merged, style: style))
    }

    /// Pure formatting, separate so tests can check it without capturing stderr.
    static func format(level: Logger.Level, label: String, message: String, metadata: Logger.Metadata, style: Style) -> String {
        var line: String
        switch style {
        case .journald:
            line = "<\(priority(level))>\(label): \(message)"
        case .text:
            line = "\(Date().formatted(.iso8601)) \(level.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))\(label): \(message)"
        }
        for key in metadata.keys.sorted() {
            line += " \(key)=\(quoted(metadata[key]!.description))"
        }
        // A newline inside a message would split it into two journal entries: escape it.
        return line.replacingOccurrences(of: "\n", with: "\\n") + "\n"
    }

    /// RFC 5424 severities, as sd-daemon(3) expects them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    private static func quoted(_ value: String) -> String {
        value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) || value.isEmpty
            ? "\"" + value.replacingOccurrences(of: "\"", with: "\\\"") + "\""
            : value
    }

    /// One `write(2)` per line: lines from different threads never interleave mid-line.
    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
