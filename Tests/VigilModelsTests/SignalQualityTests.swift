import Testing
import VigilModels

/// Signal quality: each check grades the reading and names the channels it makes untrustworthy.
@Suite struct SignalQualityTests {
    // Channel wire ids (PROTOCOL.md).
    let hr: UInt8 = 1, pr: UInt8 = 2, spo2: UInt8 = 3, rr: UInt8 = 4, core: UInt8 = 6, pi: UInt8 = 9, activity: UInt8 = 10, battery: UInt8 = 11

    /// A plausible, gently varying reading at second `n`.
    func normal(_ n: Int) -> [(channel: UInt8, value: Int16)] {
        [(pr, Int16(720 + n % 7)), (spo2, 970), (rr, Int16(150 + n % 3)), (pi, Int16(300 + n % 5)), (activity, 40), (battery, 80)]
    }

    @Test func aNormalSignalIsGood() {
        var quality = SignalQuality()
        for n in 0..<120 {
            let assessment = quality.assess(time: Int64(n) * 1_000, values: normal(n))
            #expect(assessment == SignalQuality.Assessment(), "reading \(n): \(assessment)")
        }
    }

    @Test func motionExcludesTheOpticalChannelsButNotRespiration() {
        var quality = SignalQuality()
        var values = normal(0)
        values[4] = (activity, 2_400)
        let assessment = quality.assess(time: 0, values: values)
        #expect(assessment.grade == .poor && assessment.issues == [.motion])
        #expect(assessment.excluded == [hr, pr, spo2, pi])
    }

    @Test func lowPerfusionExcludesSpO2AndPulse() {
        var quality = SignalQuality()
        var values = normal(0)
        values[3] = (pi, 12)
        let assessment = quality.assess(time: 0, values: values)
        #expect(assessment.issues == [.lowPerfusion] && assessment.grade == .poor)
        #expect(assessment.excluded == [spo2, pr, hr])
    }

    @Test func aDetachedSensorIsUnusable() {
        var quality = SignalQuality()
        let zeros = quality.assess(time: 0, values: [(pr, 0), (spo2, 0)])
        #expect(zeros.grade == .unusable && zeros.issues == [.flatLine] && zeros.excluded == [pr, spo2])

        // A pulse rate frozen at one value for 30 readings: flat line from the 30th.
        var frozen = SignalQuality()
        var grades: [SignalQuality.Grade] = []
        for n in 0..<31 { grades.append(frozen.assess(time: Int64(n) * 1_000, values: [(pr, 700), (spo2, 970)]).grade) }
        #expect(grades.prefix(29).allSatisfy { $0 == .good })
        #expect(grades.suffix(2).allSatisfy { $0 == .unusable })
        // SpO2 may sit at one value for long in a healthy patient: never a flat line by itself.
        #expect(!(0..<100).contains { n in frozen.assess(time: 40_000 + Int64(n) * 1_000, values: [(spo2, 980)]).issues.contains(.flatLine) })
        // Nor respiration, which many sensors report in whole breaths: a steady 15 /min must not
        // make the readings unusable (found by the alert-latency benchmark, whose NEWS2 alerts
        // stopped after 30 readings of a steady respiration).
        var steady = SignalQuality()
        let breathing = (0..<100).map { n in steady.assess(time: Int64(n) * 1_000, values: [(pr, Int16(700 + n % 7)), (4, 150)]) }
        #expect(breathing.allSatisfy { $0.grade == .good && $0.excluded.isEmpty })
    }

    @Test func implausibleValuesAreExcludedOneByOne() {
        var quality = SignalQuality()
        let assessment = quality.assess(time: 0, values: [(pr, 2_400), (spo2, 650), (rr, 150), (core, 3_700)])
        #expect(assessment.issues == [.outOfRange] && assessment.grade == .poor)
        #expect(assessment.excluded == [pr, spo2])
    }

    @Test func aSilenceMuchLongerThanUsualIsADropout() {
        var quality = SignalQuality()
        for n in 0..<20 { _ = quality.assess(time: Int64(n) * 5_000, values: normal(n)) }
        let afterOutage = quality.assess(time: 19 * 5_000 + 10 * 60_000, values: normal(20))
        #expect(afterOutage.issues == [.dropout] && afterOutage.grade == .fair && afterOutage.excluded.isEmpty)
        // The outage does not become the new normal: the next regular reading is good again.
        #expect(quality.assess(time: 19 * 5_000 + 10 * 60_000 + 5_000, values: normal(21)).grade == .good)
    }

    @Test func lowBatteryIsFairAndExcludesNothing() {
        var quality = SignalQuality()
        var values = normal(0)
        values[5] = (battery, 9)
        let assessment = quality.assess(time: 0, values: values)
        #expect(assessment.issues == [.lowBattery] && assessment.grade == .fair && assessment.excluded.isEmpty)
    }
}
