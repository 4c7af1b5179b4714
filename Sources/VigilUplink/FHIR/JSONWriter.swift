import VigilCore

/// Appends JSON text to a byte buffer without building intermediate dictionaries: the FHIR
/// mapping writes tens of thousands of resources a second on a small ARM board. The caller
/// writes keys and values in order; `object`/`array` take closures for nesting.
struct JSONWriter {
    var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 1_024) { bytes.reserveCapacity(capacity) }

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func array(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    mutating func field(_ name: StaticString, _ body: (inout JSONWriter) -> Void) {
        key(name)
        object(body)
    }

    mutating func string(_ value: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        JSONText.appendEscaped(value, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Raw JSON (a number or a nested document already encoded).
    mutating func raw(_ text: String) {
        separate()
        bytes.append(contentsOf: text.utf8)
        needsComma = true
    }

    mutating func raw(_ encoded: [UInt8]) {
        separate()
        bytes.append(contentsOf: encoded)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = false
    }
}

/// Exact decimal text of a fixed-point value (`raw / divisor`, divisor a power of ten): no
/// floating point, so 97.3 stays 97.3.
func decimal(_ raw: Int, divisor: Int) -> String {
    guard divisor > 1 else { return String(raw) }
    let magnitude = raw.magnitude
    let whole = magnitude / UInt(divisor)
    var fraction = String(magnitude % UInt(divisor))
    let digits = String(divisor).count - 1
    fraction = String(repeating: "0", count: digits - fraction.count) + fraction
    return (raw < 0 ? "-" : "") + "\(whole).\(fraction)"
}
