/// Constants of the sensor protocol, version 1 (firmware-protocol/PROTOCOL.md).
public enum FrameFormat {
    public static let magic: UInt8 = 0x56
    public static let version: UInt8 = 1
    public static let headerLength = 8
    public static let tagLength = 16
    public static let maxFrameLength = 1024
    public static let maxRecords = 32
    public static let maxChannelsPerRecord = 12
    public static let maxConfigEntries = 16
    public static let maxFirmwareLength = 32
}

public enum MessageType: UInt8, Sendable, CaseIterable {
    case readings = 1
    case status = 2
    case ack = 3
    case config = 4
    case resend = 5
}

/// Flag bits of the header's flags byte.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Times are Unix epoch milliseconds from a synchronised clock (else uptime milliseconds).
    public static let clockSynced = FrameFlags(rawValue: 0x01)
    /// READINGS re-sent from the device's ring buffer rather than live.
    public static let replay = FrameFlags(rawValue: 0x02)
}

/// Why a frame was rejected. The raw values are the reason codes of PROTOCOL.md: they appear in
/// metrics labels and log lines (never with the frame's contents).
public enum FrameRejection: String, Error, Sendable, CaseIterable {
    case truncated
    case oversized
    case badMagic = "bad_magic"
    case unsupportedVersion = "unsupported_version"
    case unknownType = "unknown_type"
    case badFlags = "bad_flags"
    case trailingBytes = "trailing_bytes"
    case badCount = "bad_count"
    case tooManyChannels = "too_many_channels"
    case unknownChannel = "unknown_channel"
    case duplicateChannel = "duplicate_channel"
    case outOfRange = "out_of_range"
    case inconsistentBP = "inconsistent_bp"
    case timeNotMonotonic = "time_not_monotonic"
    case badMAC = "bad_mac"
    case badJSON = "bad_json"
}
