/// Little-endian appends for the store's formats.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i16(_ value: Int16) { u16(UInt16(bitPattern: value)) }
    mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    mutating func raw(_ value: some Sequence<UInt8>) { bytes.append(contentsOf: value) }

    /// A string of at most 255 UTF-8 bytes, length-prefixed (longer ones are cut).
    mutating func shortString(_ value: String) {
        let utf8 = Array(value.utf8.prefix(255))
        u8(UInt8(utf8.count))
        raw(utf8)
    }

    /// Up to 4 GiB, u32 length-prefixed.
    mutating func longBytes(_ value: [UInt8]) {
        u32(UInt32(value.count))
        raw(value)
    }
}

/// Bounds-checked little-endian reads; any overrun throws ``ByteReader/Overrun``.
struct ByteReader {
    struct Overrun: Error {}
    let bytes: [UInt8]
    var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(Overrun) -> UInt8 {
        guard remaining >= 1 else { throw Overrun() }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(Overrun) -> UInt16 { UInt16(truncatingIfNeeded: try fixed(2)) }
    mutating func u32() throws(Overrun) -> UInt32 { UInt32(truncatingIfNeeded: try fixed(4)) }
    mutating func u64() throws(Overrun) -> UInt64 { try fixed(8) }
    mutating func i16() throws(Overrun) -> Int16 { Int16(bitPattern: try u16()) }
    mutating func i64() throws(Overrun) -> Int64 { Int64(bitPattern: try u64()) }

    mutating func raw(_ count: Int) throws(Overrun) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Overrun() }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func shortString() throws(Overrun) -> String {
        String(decoding: try raw(Int(try u8())), as: UTF8.self)
    }

    mutating func longBytes() throws(Overrun) -> [UInt8] { try raw(Int(try u32())) }

    private mutating func fixed(_ width: Int) throws(Overrun) -> UInt64 {
        guard remaining >= width else { throw Overrun() }
        var value: UInt64 = 0
        for index in 0..<width { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        offset += width
        return value
    }
}
