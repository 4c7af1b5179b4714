import Testing
import VigilCore
@testable import VigilValidation

/// The gateway's clock watched against its monotonic clock, and what a jump does to the mapping
/// of sensors without a clock of their own; synced sensors judged only against a trusted clock.
@Suite struct GatewayClockTests {
    static let truth: Int64 = 1_795_350_000_000
    static let twoYears: Int64 = 730 * 86_400_000

    @Test func slewingIsNotAJumpButAStepIs() {
        var clock = GatewayClock()
        #expect(clock.observe(wall: 1_000_000, monotonic: 0) == nil, "the first sample only sets the offset")
        // NTP slews at most 0.5 ms/s: an hour of it in steps of 10 s is never a jump.
        for step in 1...360 { #expect(clock.observe(wall: 1_000_000 + Int64(step) * 10_005, monotonic: Int64(step) * 10_000) == nil) }
        // Wall minus monotonic is now 1_001_800; NTP steps it two years forward.
        let jump = clock.observe(wall: 1_001_800 + Self.twoYears + 3_601_000, monotonic: 3_601_000)
        #expect(jump?.by == Self.twoYears && clock.jumps == 1)
        #expect(clock.observe(wall: 1_001_800 + Self.twoYears + 3_602_000, monotonic: 3_602_000) == nil, "running again after it")
        let back = clock.observe(wall: 1_001_800 + Self.twoYears + 3_603_000 - 3_600_000, monotonic: 3_603_000)
        #expect(back?.by == -3_600_000 && clock.lastJump == back && clock.jumps == 2)
    }

    /// The defect: the offset kept the smallest receive-minus-uptime ever seen, so after the clock
    /// synced forward a sensor that kept running stayed on the old time line until it rebooted.
    @Test func aForwardJumpMovesARunningSensorOntoTheNewTimeLine() {
        var mapper = ClockMapper()
        let behind = Self.truth - Self.twoYears
        for second in Int64(0)..<60 {
            mapper.observe(boot: 1, deviceTime: UInt64(second * 1_000), synced: false, replay: false, receivedAt: behind + second * 1_000 + 40)
        }
        #expect(mapper.map(boot: 1, deviceTime: 59_000, synced: false, receivedAt: behind + 59_040).time == behind + 59_040)
        mapper.shift(by: Self.twoYears)
        for second in Int64(60)..<120 {
            let received = Self.truth + second * 1_000 + 40
            mapper.observe(boot: 1, deviceTime: UInt64(second * 1_000), synced: false, replay: false, receivedAt: received)
            let mapped = mapper.map(boot: 1, deviceTime: UInt64(second * 1_000), synced: false, receivedAt: received)
            #expect(abs(mapped.time - (Self.truth + second * 1_000)) < 1_000 && mapped.quality == .estimated)
        }
    }

    @Test func aBackwardJumpKeepsARunningSensorOnTime() {
        var mapper = ClockMapper()
        let ahead = Self.truth + 3_600_000
        mapper.observe(boot: 1, deviceTime: 0, synced: false, replay: false, receivedAt: ahead + 30)
        mapper.shift(by: -3_600_000)
        // Without the shift the old offset would stay (it is the smaller), and stay an hour ahead.
        mapper.observe(boot: 1, deviceTime: 10_000, synced: false, replay: false, receivedAt: Self.truth + 10_030)
        #expect(mapper.map(boot: 1, deviceTime: 10_000, synced: false, receivedAt: Self.truth + 10_030).time == Self.truth + 10_030)
    }

    @Test func aSyncedSensorIsSuspectOnlyAgainstATrustedGatewayClock() {
        let mapper = ClockMapper()
        let wrongGateway = Self.truth - Self.twoYears
        #expect(mapper.map(boot: 1, deviceTime: UInt64(Self.truth), synced: true, receivedAt: wrongGateway).quality == .suspect)
        let untrusted = mapper.map(boot: 1, deviceTime: UInt64(Self.truth), synced: true, receivedAt: wrongGateway, gatewayTrusted: false)
        #expect(untrusted == (Self.truth, .device), "the device's clock is the better one: not blamed for the gateway's")
    }
}
