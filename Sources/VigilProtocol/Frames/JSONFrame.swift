import VigilCore

/// The JSON debug form of a READINGS frame (PROTOCOL.md, "JSON debug form"): the same content
/// as the binary frame, the same MAC over the binary encoding. The gateway turns the JSON into
/// the binary frame and decodes that, so every check of the binary form applies unchanged.
public enum JSONFrame {
    public static let maxLength = 4096

    /// Whether a payload is in the JSON form (its first byte is `{`).
    public static func isJSON(_ bytes: [UInt8]) -> Bool { bytes.first == UInt8(ascii: "{") }

    /// Decodes and authenticates a JSON READINGS frame.
    public static func decode(_ bytes: [UInt8], key: DeviceKey) throws(FrameRejection) -> Frame {
        try FrameDecoder.decode(binary(bytes, key: key), key: key)
    }

    /// The canonical JSON text of a READINGS frame (keys in this order, channels ascending, each
    /// value with exactly its scale's decimals), as the reference firmware writes it.
    public static func encode(key: DeviceKey, boot: UInt32, seq: UInt32, t0: UInt64, records: [FrameEncoder.RecordInput],
                              flags: FrameFlags = []) -> [UInt8] {
        let binary = FrameEncoder.readings(key: key, boot: boot, seq: seq, t0: t0, records: records, flags: flags)
        let tag = binary.suffix(FrameFormat.tagLength).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
        let recordTexts = records.map { record in
            "{\"dt\":\(record.dt)" + record.values.map { ",\"\($0.0.key)\":\(decimalText($0.1, divisor: $0.0.divisor))" }.joined() + "}"
        }
        let text = "{\"v\":1,\"type\":\"readings\",\"boot\":\(boot),\"flags\":\(flags.rawValue),\"seq\":\(seq),\"t0\":\(t0)"
            + ",\"records\":[\(recordTexts.joined(separator: ","))],\"tag\":\"\(tag)\"}"
        return Array(text.utf8)
    }

    /// A fixed-point value as decimal text with exactly the scale's decimals.
    public static func decimalText(_ raw: Int16, divisor: Int16) -> String {
        guard divisor > 1 else { return "\(raw)" }
        let magnitude = abs(Int(raw))
        let decimals = String(divisor).count - 1
        let fraction = String(magnitude % Int(divisor))
        return (raw < 0 ? "-" : "") + "\(magnitude / Int(divisor))." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }

    /// The signed binary frame the JSON stands for: the content re-encoded, then its `tag`.
    package static func binary(_ bytes: [UInt8], key: DeviceKey) throws(FrameRejection) -> [UInt8] {
        guard bytes.count <= maxLength else { throw .oversized }
        var parser = Parser(bytes: bytes)
        let root: Value
        do {
            root = try parser.document()
        } catch {
            throw .badJSON
        }
        guard case .object(let fields) = root else { throw .badJSON }
        let known: Set<String> = ["v", "type", "boot", "flags", "seq", "t0", "records", "tag"]
        guard fields.keys.allSatisfy(known.contains) else { throw .badJSON }
        guard let version = fields["v"]?.integer else { throw .badJSON }
        guard version == Int64(FrameFormat.version) else { throw .unsupportedVersion }
        guard case .string(let type)? = fields["type"] else { throw .badJSON }
        guard type == "readings" else { throw .unknownType }
        guard let boot = fields["boot"]?.integer, let boot32 = UInt32(exactly: boot),
              let flags = fields["flags"]?.integer, let flags8 = UInt8(exactly: flags),
              let seq = fields["seq"]?.integer, let seq32 = UInt32(exactly: seq),
              let t0 = fields["t0"]?.integer, let t0u = UInt64(exactly: t0),
              case .array(let records)? = fields["records"],
              case .string(let tagText)? = fields["tag"], let tag = hexDecoded(tagText), tag.count == FrameFormat.tagLength
        else { throw .badJSON }
        guard (1...FrameFormat.maxRecords).contains(records.count) else { throw .badCount }

        var frame: [UInt8] = [FrameFormat.magic, FrameFormat.version, MessageType.readings.rawValue, flags8]
        frame.appendLE(boot32)
        frame.appendLE(seq32)
        frame.appendLE(t0u)
        frame.append(UInt8(records.count))
        for record in records {
            guard case .object(let values) = record, let dt = values["dt"]?.integer, let dt32 = UInt32(exactly: dt) else { throw .badJSON }
            var channels: [(Channel, Int16)] = []
            for (name, value) in values where name != "dt" {
                guard let channel = Channel.allCases.first(where: { $0.key == name }) else { throw .unknownChannel }
                guard case .number(let text) = value, let raw = fixed(text, divisor: channel.divisor) else { throw .badJSON }
                channels.append((channel, raw))
            }
            guard (1...FrameFormat.maxChannelsPerRecord).contains(channels.count) else { throw .tooManyChannels }
            channels.sort { $0.0.rawValue < $1.0.rawValue }
            frame.appendLE(dt32)
            frame.append(UInt8(channels.count))
            for (channel, raw) in channels {
                frame.append(channel.rawValue)
                frame.appendLE(raw)
            }
        }
        guard frame.count + FrameFormat.tagLength <= FrameFormat.maxFrameLength else { throw .oversized }
        return frame + tag
    }

    /// Decimal text to the channel's fixed point, exactly: more decimals than the scale, or a
    /// value beyond Int16, is `nil` (no float, no rounding).
    static func fixed(_ text: String, divisor: Int16) -> Int16? {
        var digits = Substring(text)
        let negative = digits.hasPrefix("-")
        if negative { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let decimals = String(divisor).count - 1
        guard let whole = parts.first, !whole.isEmpty, whole.allSatisfy(\.isASCII), whole.allSatisfy(\.isNumber), whole.count <= 5 else { return nil }
        var fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.allSatisfy({ $0.isASCII && $0.isNumber }), parts.count == 1 || !fraction.isEmpty else { return nil }
        // Trailing zeros beyond the scale change nothing ("97.00" is 97.0).
        while fraction.count > decimals, fraction.last == "0" { fraction = fraction.dropLast() }
        guard fraction.count <= decimals else { return nil }
        let padded = String(fraction) + String(repeating: "0", count: decimals - fraction.count)
        guard let value = Int(String(whole) + padded) else { return nil }
        return Int16(exactly: negative ? -value : value)
    }

    /// JSON values with numbers kept as their text.
    enum Value {
        case object([String: Value])
        case array([Value])
        case string(String)
        case number(String)
        case literal

        var integer: Int64? {
            guard case .number(let text) = self, !text.contains("."), !text.contains("e"), !text.contains("E") else { return nil }
            return Int64(text)
        }
    }

    /// A small strict parser: objects, arrays, strings without escapes beyond `\"` and `\\`,
    /// numbers, true/false/null; at most 4 levels deep; duplicate keys are an error.
    struct Parser {
        struct Malformed: Error {}
        let bytes: [UInt8]
        var index = 0

        mutating func document() throws(Malformed) -> Value {
            let value = try parse(depth: 0)
            skipSpace()
            guard index == bytes.count else { throw Malformed() }
            return value
        }

        mutating func parse(depth: Int) throws(Malformed) -> Value {
            guard depth < 4 else { throw Malformed() }
            skipSpace()
            guard let byte = peek else { throw Malformed() }
            switch byte {
            case UInt8(ascii: "{"):
                index += 1
                var fields: [String: Value] = [:]
                skipSpace()
                if peek == UInt8(ascii: "}") { index += 1; return .object(fields) }
                while true {
                    skipSpace()
                    guard case .string(let key) = try parse(depth: depth + 1), fields[key] == nil else { throw Malformed() }
                    skipSpace()
                    try expect(UInt8(ascii: ":"))
                    fields[key] = try parse(depth: depth + 1)
                    skipSpace()
                    if peek == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "}"))
                    return .object(fields)
                }
            case UInt8(ascii: "["):
                index += 1
                var items: [Value] = []
                skipSpace()
                if peek == UInt8(ascii: "]") { index += 1; return .array(items) }
                while true {
                    items.append(try parse(depth: depth + 1))
                    skipSpace()
                    if peek == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "]"))
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                index += 1
                var out: [UInt8] = []
                while let next = peek, next != UInt8(ascii: "\"") {
                    guard next >= 0x20 else { throw Malformed() }
                    if next == UInt8(ascii: "\\") {
                        index += 1
                        guard let escaped = peek, escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\") else { throw Malformed() }
                        out.append(escaped)
                    } else {
                        out.append(next)
                    }
                    index += 1
                }
                try expect(UInt8(ascii: "\""))
                return .string(String(decoding: out, as: UTF8.self))
            case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
                for word in ["true", "false", "null"] where bytes[index...].starts(with: word.utf8) {
                    index += word.utf8.count
                    return .literal
                }
                throw Malformed()
            default:
                let start = index
                while let next = peek, next == UInt8(ascii: "-") || next == UInt8(ascii: ".") || (0x30...0x39).contains(next) {
                    index += 1
                }
                guard index > start else { throw Malformed() }
                return .number(String(decoding: bytes[start..<index], as: UTF8.self))
            }
        }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        mutating func expect(_ byte: UInt8) throws(Malformed) {
            guard peek == byte else { throw Malformed() }
            index += 1
        }
    }
}
