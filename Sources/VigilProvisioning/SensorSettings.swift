import VigilProtocol

/// Parses the technician's `key=value` settings into CONFIG entries (PROTOCOL.md, "CONFIG"),
/// with errors that name the argument and what was expected. Pure.
///
/// Accepted: `interval=5s` (also `500ms`, `2m`, or plain milliseconds; alias of
/// `sample_interval_ms`), `channels=hr,spo2` (the channels the device samples, as
/// `channel_mask`), `batch_max=N` (readings per frame), `json_debug=0|1`.
public enum SensorSettings {
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let argument: String
        public let expected: String
        public var description: String { "\(argument): expected \(expected)" }
    }

    public static let help = "interval=<5s|500ms|2m|ms> channels=<hr,spo2,...> batch_max=<1-32> json_debug=<0|1>"

    /// `allowed`: the channels the gateway accepts from this device (its registry entry), if limited.
    public static func parse(_ arguments: [String], allowed: Set<String>? = nil) throws(Problem) -> [String: Int64] {
        var settings: [String: Int64] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
                throw Problem(argument: argument, expected: "key=value (\(help))")
            }
            let key = String(argument[..<equals])
            let value = String(argument[argument.index(after: equals)...])
            switch key {
            case "interval", "sample_interval_ms":
                guard let milliseconds = duration(value), ConfigKey.sampleIntervalMilliseconds.range.contains(milliseconds) else {
                    throw Problem(argument: argument, expected: "a sampling interval from 1s to 1h, such as 5s, 1500ms or 2m")
                }
                settings[ConfigKey.sampleIntervalMilliseconds.name] = milliseconds
            case "channels":
                var mask: Int64 = 0
                for name in value.split(separator: ",").map(String.init) {
                    guard let channel = Channel(key: name) else {
                        throw Problem(argument: argument, expected: "channel names from \(Channel.allCases.map(\.key).joined(separator: ","))")
                    }
                    if let allowed, !allowed.contains(name) {
                        throw Problem(argument: argument, expected: "channels this device is registered for (\(allowed.sorted().joined(separator: ",")))")
                    }
                    mask |= 1 << Int64(channel.rawValue)
                }
                guard mask != 0 else { throw Problem(argument: argument, expected: "at least one channel") }
                settings[ConfigKey.channelMask.name] = mask
            case "batch", "batch_max":
                guard let count = Int64(value), ConfigKey.batchMax.range.contains(count) else {
                    throw Problem(argument: argument, expected: "an integer from 1 to 32")
                }
                settings[ConfigKey.batchMax.name] = count
            case "json_debug":
                guard let flag = Int64(value), ConfigKey.jsonDebug.range.contains(flag) else {
                    throw Problem(argument: argument, expected: "0 or 1")
                }
                settings[ConfigKey.jsonDebug.name] = flag
            default:
                throw Problem(argument: argument, expected: "one of interval, channels, batch_max, json_debug")
            }
        }
        return settings
    }

    /// `5s`, `1500ms`, `2m`, `1h` or plain milliseconds.
    static func duration(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let number = Int64(text.dropLast(suffix.count)), number >= 0, number <= Int64(Int32.max) else { return nil }
            return number * scale
        }
        return Int64(text)
    }

    /// The settings as a technician reads them back (`interval=5s channels=hr,spo2`).
    public static func describe(_ settings: [String: Int64]) -> String {
        settings.keys.sorted().map { key in
            let value = settings[key]!
            switch key {
            case ConfigKey.sampleIntervalMilliseconds.name:
                return value % 1_000 == 0 ? "interval=\(value / 1_000)s" : "interval=\(value)ms"
            case ConfigKey.channelMask.name:
                return "channels=" + Channel.allCases.filter { value >> Int64($0.rawValue) & 1 == 1 }.map(\.key).joined(separator: ",")
            default:
                return "\(key)=\(value)"
            }
        }.joined(separator: " ")
    }
}
