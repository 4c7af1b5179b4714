import Testing
import VigilCore

/// A deterministic generator so jitter is reproducible (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct BackoffTests {
    @Test func ceilingDoublesUntilTheCap() {
        let backoff = Backoff(initialMilliseconds: 100, maximumMilliseconds: 5_000)
        #expect((0...7).map(backoff.ceiling(attempt:)) == [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000])
    }

    @Test func hugeAttemptNumbersNeitherOverflowNorExceedTheCap() {
        let backoff = Backoff(initialMilliseconds: 1_000, maximumMilliseconds: 60_000)
        #expect(backoff.ceiling(attempt: 63) == 60_000)
        #expect(backoff.ceiling(attempt: Int.max) == 60_000)
        #expect(backoff.ceiling(attempt: -3) == 1_000)
    }

    @Test(arguments: [Backoff.Jitter.full, .equal])
    func delaysStayWithinTheirBand(jitter: Backoff.Jitter) {
        let backoff = Backoff(initialMilliseconds: 50, maximumMilliseconds: 3_000, jitter: jitter)
        var random = SeededGenerator(state: 42)
        for attempt in 0..<20 {
            let top = backoff.ceiling(attempt: attempt)
            let floor = jitter == .equal ? top / 2 : 0
            for _ in 0..<200 {
                let delay = backoff.delayMilliseconds(attempt: attempt, using: &random)
                #expect(delay >= floor && delay <= top)
            }
        }
    }

    @Test func jitterActuallySpreadsClients() {
        let backoff = Backoff(initialMilliseconds: 1_000, maximumMilliseconds: 1_000, jitter: .full)
        var random = SeededGenerator(state: 7)
        let delays = Set((0..<100).map { _ in backoff.delayMilliseconds(attempt: 0, using: &random) })
        // 100 draws from 0...1000: a constant delay (no jitter) would give one distinct value.
        #expect(delays.count > 50)
    }
}
