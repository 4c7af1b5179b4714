/// A parser for one flat JSON object per line (`vigil score` input). Numbers are kept as their
/// decimal text, so they become fixed-point integers without ever passing through a float.
public enum FlatJSON {
    public enum Value: Sendable, Equatable {
        case string(String)
        case number(String)
        case bool(Bool)
        case null
    }

    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let column: Int
        public let problem: String
        public var description: String { "column \(column): \(problem)" }
    }

    public static func parse(_ line: String) throws(ParseError) -> [String: Value] {
        var parser = Parser(bytes: Array(line.utf8))
        return try parser.object()
    }

    struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func object() throws(ParseError) -> [String: Value] {
            skipSpace()
            try expect(UInt8(ascii: "{"), "expected '{' to start an object")
            var result: [String: Value] = [:]
            skipSpace()
            if peek == UInt8(ascii: "}") {
                index += 1
            } else {
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"), "expected ':' after key \"\(key)\"")
                    skipSpace()
                    guard result[key] == nil else { throw fail("key \"\(key)\" appears twice") }
                    result[key] = try value(for: key)
                    skipSpace()
                    if peek == UInt8(ascii: ",") { index += 1; continue }
                    try expect(UInt8(ascii: "}"), "expected ',' or '}' after the value of \"\(key)\"")
                    break
                }
            }
            skipSpace()
            guard index == bytes.count else { throw fail("unexpected text after the object") }
            return result
        }

        mutating func value(for key: String) throws(ParseError) -> Value {
            switch peek {
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true", key); return .bool(true)
            case UInt8(ascii: "f"): try literal("false", key); return .bool(false)
            case UInt8(ascii: "n"): try literal("null", key); return .null
            case UInt8(ascii: "{"), UInt8(ascii: "["): throw fail("\"\(key)\": nested objects and lists are not accepted")
            default: return .number(try number(key))
            }
        }

        mutating func string() throws(ParseError) -> String {
            try expect(UInt8(ascii: "\""), "expected a string in double quotes")
            var out: [UInt8] = []
            while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
                if bytes[index] == UInt8(ascii: "\\") {
                    index += 1
                    guard index < bytes.count else { break }
                    let escaped = bytes[index]
                    switch escaped {
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                    default: throw fail("unsupported escape \\\(Character(UnicodeScalar(escaped)))")
                    }
                } else {
                    out.append(bytes[index])
                }
                index += 1
            }
            try expect(UInt8(ascii: "\""), "unterminated string")
            return String(decoding: out, as: UTF8.self)
        }

        mutating func number(_ key: String) throws(ParseError) -> String {
            let start = index
            if peek == UInt8(ascii: "-") { index += 1 }
            var digits = 0
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) || bytes[index] == UInt8(ascii: ".") {
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw fail("\"\(key)\": expected a value (number, string, true, false or null)") }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func literal(_ word: String, _ key: String) throws(ParseError) {
            let expected = Array(word.utf8)
            guard bytes.count - index >= expected.count, Array(bytes[index..<(index + expected.count)]) == expected else {
                throw fail("\"\(key)\": expected a value (number, string, true, false or null)")
            }
            index += expected.count
        }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 32 || byte == 9 || byte == 13 { index += 1 }
        }

        mutating func expect(_ byte: UInt8, _ problem: String) throws(ParseError) {
            guard peek == byte else { throw fail(problem) }
            index += 1
        }

        func fail(_ problem: String) -> ParseError { ParseError(column: index + 1, problem: problem) }
    }
}

/// Decimal text to fixed point with `scale` decimals, rounding half up beyond them:
/// `fixedPoint("38.05", scale: 1)` is 381. `nil` for anything that is not a plain decimal.
public func fixedPoint(_ text: String, scale: Int) -> Int? {
    var digits = Substring(text)
    let negative = digits.hasPrefix("-")
    if negative { digits = digits.dropFirst() }
    let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count <= 2, let whole = Int(parts[0]), !parts[0].isEmpty, parts[0].allSatisfy(\.isNumber) else { return nil }
    var fraction = parts.count == 2 ? Array(parts[1]) : []
    guard fraction.allSatisfy(\.isNumber), parts.count == 1 || !fraction.isEmpty else { return nil }
    var value = whole
    for _ in 0..<scale {
        value = value * 10 + (fraction.isEmpty ? 0 : Int(String(fraction.removeFirst()))!)
    }
    if let next = fraction.first, let digit = Int(String(next)), digit >= 5 { value += 1 }
    return negative ? -value : value
}
