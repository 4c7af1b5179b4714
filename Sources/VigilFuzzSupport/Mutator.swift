import VigilCore

/// libFuzzer-style mutations without coverage feedback, for the suite's short runs of targets
/// whose libFuzzer build is too slow to make on every run: stacked byte flips, insertions,
/// deletions, duplications, splices of two seeds and tokens that matter to JSON, YAML and HTTP.
struct Mutator {
    let seeds: [[UInt8]]
    static let tokens: [[UInt8]] = ["\"", "{", "}", "[", "]", ":", ",", "\\u0000", "\\ud800", "-1", "1e999", "18446744073709551616",
                                    "null", "true", "\n", "\r\n", " ", "%", "%00", "/", "?", "&", "=", "#", "..", "*", "&a", "!!binary",
                                    "- ", ": ", "|", ">", "'", "\t", "\u{FEFF}", "é", "\u{10FFFF}"].map { Array($0.utf8) }

    init(seeds: [[UInt8]]) { self.seeds = seeds }

    mutating func next(using random: inout SplitMix64) -> [UInt8] {
        var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
        for _ in 0..<(1 + Int(random.next() % 4)) { mutate(&bytes, &random) }
        return bytes.count > 65_536 ? Array(bytes.prefix(65_536)) : bytes
    }

    private func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        func index(_ count: Int) -> Int { count == 0 ? 0 : Int(random.next() % UInt64(count)) }
        switch random.next() % 7 {
        case 0 where !bytes.isEmpty:
            bytes[index(bytes.count)] ^= UInt8(1 << (random.next() % 8))
        case 1 where !bytes.isEmpty:
            bytes[index(bytes.count)] = UInt8(truncatingIfNeeded: random.next())
        case 2:
            let count = 1 + index(8)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: index(bytes.count + 1))
        case 3 where !bytes.isEmpty:
            let start = index(bytes.count)
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + index(16)))
        case 4 where !bytes.isEmpty:
            let start = index(bytes.count)
            let piece = bytes[start..<min(bytes.count, start + 1 + index(32))]
            bytes.insert(contentsOf: piece, at: index(bytes.count + 1))
        case 5:
            let other = seeds[index(seeds.count)]
            bytes = Array(bytes.prefix(index(bytes.count + 1))) + other.suffix(index(other.count + 1))
        default:
            bytes.insert(contentsOf: Self.tokens[index(Self.tokens.count)], at: index(bytes.count + 1))
        }
    }
}
