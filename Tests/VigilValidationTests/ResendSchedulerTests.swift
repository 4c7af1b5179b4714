import Testing
import VigilCore
import VigilValidation

/// When to ask a device for missing readings: at most once per interval per device, at most
/// `maxSpan` readings at a time, at most `maxAttempts` times per gap, then the next gap.
@Suite struct ResendSchedulerTests {
    let device = DeviceID("dev-r")!
    let other = DeviceID("dev-o")!

    @Test func asksOncePerIntervalPerDevice() {
        var scheduler = ResendScheduler()
        let gap: [ClosedRange<UInt32>] = [10...19]
        #expect(scheduler.request(device: device, boot: 1, gaps: gap, now: .seconds(0)) == .init(boot: 1, range: 10...19))
        #expect(scheduler.request(device: device, boot: 1, gaps: gap, now: .seconds(4)) == nil, "within the interval")
        #expect(scheduler.request(device: other, boot: 1, gaps: gap, now: .seconds(4)) != nil, "per device")
        #expect(scheduler.request(device: device, boot: 1, gaps: gap, now: ResendScheduler.interval) != nil)
    }

    @Test func capsTheSpanAtWhatADeviceCanHold() {
        var scheduler = ResendScheduler()
        let request = scheduler.request(device: device, boot: 2, gaps: [100...999], now: .zero)
        #expect(request?.range == 100...(100 + ResendScheduler.maxSpan - 1))
    }

    @Test func givesUpOnAGapAfterMaxAttemptsThenAsksForTheNext() {
        var scheduler = ResendScheduler()
        let gaps: [ClosedRange<UInt32>] = [0...9, 50...59]
        var asked: [ClosedRange<UInt32>] = []
        for attempt in 0..<(ResendScheduler.maxAttempts + 2) {
            let now = ResendScheduler.interval * attempt
            if let request = scheduler.request(device: device, boot: 1, gaps: gaps, now: now) { asked.append(request.range) }
        }
        #expect(asked == Array(repeating: 0...9, count: ResendScheduler.maxAttempts) + [50...59, 50...59])
        #expect(scheduler.request(device: device, boot: 1, gaps: [], now: .seconds(3_600)) == nil, "no gaps, no request")
    }
}
