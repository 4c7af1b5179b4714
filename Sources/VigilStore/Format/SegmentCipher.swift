import Crypto

/// ChaCha20-Poly1305 under a per-segment key: HKDF-SHA256(master key, salt = the segment's
/// random salt, info = "vigil-store-v1" ‖ lane ‖ segment id). The nonce is the record index
/// (u64 LE, then four zero bytes), so it never repeats within a key; a segment is never appended
/// to after a restart (recovery seals it and opens a new one with a fresh salt), so an index
/// whose torn ciphertext reached the disk is never encrypted again under the same key.
///
/// ChaCha20-Poly1305 rather than AES-GCM: Raspberry-Pi-class CPUs (Cortex-A72 in the Pi 4) lack
/// the AES instructions, where ChaCha20 is several times faster in software.
///
/// Associated data: segment id ‖ record index ‖ record type ‖ lane, so a record moved to another
/// position, segment or lane, or relabelled, fails authentication.
struct SegmentCipher {
    static let tagSize = 16
    let key: SymmetricKey
    let header: SegmentHeader

    init(master: SymmetricKey, header: SegmentHeader) {
        var info = Array("vigil-store-v1".utf8)
        info.append(header.lane.rawValue)
        withUnsafeBytes(of: header.id.littleEndian) { info.append(contentsOf: $0) }
        key = HKDF<SHA256>.deriveKey(inputKeyMaterial: master, salt: header.salt, info: info, outputByteCount: 32)
        self.header = header
    }

    struct AuthenticationFailed: Error {}

    /// Appends `ciphertext ‖ tag` of `plaintext` to `output`.
    func seal(_ plaintext: [UInt8], index: UInt64, type: RecordType, into output: inout [UInt8]) {
        // Cannot fail: the nonce is 12 bytes and the key 32.
        let box = try! ChaChaPoly.seal(plaintext, using: key, nonce: nonce(index, type), authenticating: associatedData(index, type))
        output.append(contentsOf: box.ciphertext)
        output.append(contentsOf: box.tag)
    }

    func open(_ sealed: ArraySlice<UInt8>, index: UInt64, type: RecordType) throws(AuthenticationFailed) -> [UInt8] {
        guard sealed.count >= Self.tagSize else { throw AuthenticationFailed() }
        do {
            let box = try ChaChaPoly.SealedBox(nonce: nonce(index, type), ciphertext: sealed.dropLast(Self.tagSize), tag: sealed.suffix(Self.tagSize))
            return Array(try ChaChaPoly.open(box, using: key, authenticating: associatedData(index, type)))
        } catch {
            throw AuthenticationFailed()
        }
    }

    private func nonce(_ index: UInt64, _ type: RecordType) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: type == .seal ? 0xFF : 0, count: 12)
        withUnsafeBytes(of: index.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    private func associatedData(_ index: UInt64, _ type: RecordType) -> [UInt8] {
        var data = ByteWriter(capacity: 18)
        data.u64(header.id)
        data.u64(index)
        data.u8(type.rawValue)
        data.u8(header.lane.rawValue)
        return data.bytes
    }
}
