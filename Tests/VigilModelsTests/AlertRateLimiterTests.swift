import Testing
import VigilModels

@Suite struct AlertRateLimiterTests {
    @Test func raisesBeyondTheBudgetAreNotNotifiedUntilTheWindowMovesOn() {
        var limiter = AlertRateLimiter(burst: 3, windowMilliseconds: 60_000)
        let minute: Int64 = 60_000
        var allowed: [Bool] = []
        for time in [0, 10_000, 20_000, 30_000, 50_000] as [Int64] { allowed.append(limiter.allowRaise("p1/news2", at: time)) }
        #expect(allowed == [true, true, true, false, false])
        let otherPatient = limiter.allowRaise("p2/news2", at: 30_000)
        #expect(otherPatient, "each patient has its own budget")
        let later = limiter.allowRaise("p1/news2", at: minute + 1)
        #expect(later, "the first raise has left the window")
    }
}
