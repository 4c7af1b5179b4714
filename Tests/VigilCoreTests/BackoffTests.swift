import Testing
import VigilCore

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
        var random = SplitMix64(seed: 42)
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
        var random = SplitMix64(seed: 7)
        let delays = Set((0..<100).map { _ in backoff.delayMilliseconds(attempt: 0, using: &random) })
        // 100 draws from 0...1000: a constant delay (no jitter) would give one distinct value.
        #expect(delays.count > 50)
    }
}
