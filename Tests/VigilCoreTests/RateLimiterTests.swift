import Testing
import VigilCore

@Suite struct RateLimiterTests {
    @Test func allowsABurstThenSuppressesAndReportsTheCount() {
        var limiter = RateLimiter<String>(burst: 2, interval: .seconds(10))
        #expect(limiter.check("bad-hmac", now: .zero) == .emit(suppressed: 0))
        #expect(limiter.check("bad-hmac", now: .seconds(1)) == .emit(suppressed: 0))
        #expect(limiter.check("bad-hmac", now: .seconds(2)) == .suppress)
        #expect(limiter.check("bad-hmac", now: .seconds(3)) == .suppress)
        // One interval later a token is back, and the line says what it hid.
        #expect(limiter.check("bad-hmac", now: .seconds(12)) == .emit(suppressed: 2))
        #expect(limiter.check("bad-hmac", now: .seconds(12)) == .suppress)
    }

    @Test func keysAreIndependent() {
        var limiter = RateLimiter<String>(burst: 1, interval: .seconds(60))
        #expect(limiter.check("a", now: .zero) == .emit(suppressed: 0))
        #expect(limiter.check("a", now: .zero) == .suppress)
        #expect(limiter.check("b", now: .zero) == .emit(suppressed: 0))
    }

    @Test func memoryIsBoundedWhenKeysAreAttackerChosen() {
        var limiter = RateLimiter<Int>(burst: 1, interval: .seconds(60), maxKeys: 8)
        for key in 0..<1_000 { _ = limiter.check(key, now: .zero) }
        // After the reset, key 0 is unknown again and gets a fresh burst.
        #expect(limiter.check(0, now: .zero) == .emit(suppressed: 0))
    }
}
