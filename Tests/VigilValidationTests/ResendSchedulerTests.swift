import Testing
import VigilCore
import VigilValidation

/// When to ask a device for missing readings: at most once per interval per device, at most
/// `maxSpan` readings at a time (the newest of a larger gap), at most `maxAttempts` times per gap;
/// then the gap is given up, and the next one asked for.
@Suite struct ResendSchedulerTests {
    let device = DeviceID("dev-r")!
    let other = DeviceID("dev-o")!

    @Test func asksOncePerIntervalPerDevice() {
        var scheduler = ResendScheduler()
        let gap: [ClosedRange<UInt32>] = [10...19]
        #expect(scheduler.next(device: device, boot: 1, gaps: gap, now: .seconds(0)) == .resend(.init(boot: 1, range: 10...19)))
        #expect(scheduler.next(device: device, boot: 1, gaps: gap, now: .seconds(4)) == nil, "within the interval")
        #expect(scheduler.next(device: other, boot: 1, gaps: gap, now: .seconds(4)) != nil, "per device")
        #expect(scheduler.next(device: device, boot: 1, gaps: gap, now: ResendScheduler.interval) != nil)
    }

    @Test func asksForTheNewestPartOfAGapLargerThanADeviceHolds() {
        var scheduler = ResendScheduler()
        let action = scheduler.next(device: device, boot: 2, gaps: [100...999], now: .zero)
        #expect(action == .resend(.init(boot: 2, range: (1_000 - ResendScheduler.maxSpan)...999)))
    }

    @Test func abandonsAGapAfterMaxAttemptsThenAsksForTheNext() {
        var scheduler = ResendScheduler()
        var gaps: [ClosedRange<UInt32>] = [0...9, 50...59]
        var actions: [ResendScheduler.Action] = []
        for attempt in 0..<(ResendScheduler.maxAttempts + 3) {
            let now = ResendScheduler.interval * attempt
            guard let action = scheduler.next(device: device, boot: 1, gaps: gaps, now: now) else { continue }
            actions.append(action)
            // The caller drops an abandoned gap from what it reports next.
            if case .abandon(_, let range) = action { gaps.removeAll { $0 == range } }
        }
        #expect(actions == Array(repeating: .resend(.init(boot: 1, range: 0...9)), count: ResendScheduler.maxAttempts)
            + [.abandon(boot: 1, range: 0...9), .resend(.init(boot: 1, range: 50...59)), .resend(.init(boot: 1, range: 50...59))])
        #expect(scheduler.next(device: device, boot: 1, gaps: [], now: .seconds(3_600)) == nil, "no gaps, nothing to do")
    }

    @Test func givesUpOnlyAnIntervalAfterTheLastRequest() {
        var scheduler = ResendScheduler()
        for attempt in 0..<ResendScheduler.maxAttempts {
            _ = scheduler.next(device: device, boot: 1, gaps: [3...4], now: ResendScheduler.interval * attempt)
        }
        let last = ResendScheduler.interval * (ResendScheduler.maxAttempts - 1)
        #expect(scheduler.next(device: device, boot: 1, gaps: [3...4], now: last + .seconds(1)) == nil, "the device may still answer")
        #expect(scheduler.next(device: device, boot: 1, gaps: [3...4], now: last + ResendScheduler.interval) == .abandon(boot: 1, range: 3...4))
    }
}
