import Crypto

/// Record framing inside a segment: `length` u32 (of the sealed bytes), `type` u8, `crc` u32
/// (CRC-32C over length ‖ type ‖ sealed), then `sealed` = ciphertext ‖ 16-byte tag.
enum RecordFraming {
    static let prefixSize = 9
    /// Larger lengths are garbage (a torn or garbled length field), never a real record.
    static let maxSealedSize = 1 << 20

    /// Fills the prefix reserved at `start`, the sealed bytes following it to the end of `buffer`.
    static func fill(prefixAt start: Int, type: RecordType, in buffer: inout [UInt8]) -> UInt32 {
        let length = UInt32(buffer.count - start - prefixSize)
        return buffer.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: length.littleEndian, toByteOffset: start, as: UInt32.self)
            raw[start + 4] = type.rawValue
            var crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<start + 5]))
            crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[(start + prefixSize)...]), seed: crc)
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 5, as: UInt32.self)
            return crc
        }
    }
}

/// The seal record's plaintext: the number of records before it and SHA-256 over their CRCs in
/// order. A sealed segment that lost records (truncated, or a record removed) no longer matches.
struct SealDigest {
    private var hash = SHA256()
    private(set) var count: UInt64 = 0

    mutating func add(crc: UInt32) {
        withUnsafeBytes(of: crc.littleEndian) { hash.update(bufferPointer: $0) }
        count += 1
    }

    var plaintext: [UInt8] {
        var writer = ByteWriter(capacity: 40)
        writer.u64(count)
        writer.raw(hash.finalize())
        return writer.bytes
    }
}
