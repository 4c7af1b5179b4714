import Testing
import VigilCore
@testable import VigilModels

@Suite struct DriftTests {
    /// A baseline warmed on noise around 72.0 /min with σ ≈ 1.7 /min (uniform ±3.0).
    func warmedBaseline(_ random: inout SplitMix64) -> EWMABaseline {
        var baseline = EWMABaseline(shift: 6, warmup: 64)
        for _ in 0..<1_000 { baseline.update(720 + Int.random(in: -30...30, using: &random)) }
        return baseline
    }

    @Test func inControlNoiseRarelySignals() {
        var random = SplitMix64(seed: 5)
        let baseline = warmedBaseline(&random)
        var cusum = CUSUM(kQ8: 128, hQ8: 1_280)   // k = 0.5 σ, h = 5 σ
        var signals = 0
        for _ in 0..<5_000 {
            if cusum.update(720 + Int.random(in: -30...30, using: &random), meanQ16: baseline.mean, varianceQ16: baseline.variance) != .none {
                signals += 1
            }
        }
        // The in-control average run length for k = 0.5, h = 5 is several hundred readings.
        #expect(signals <= 10)
    }

    @Test(arguments: [(20, CUSUM.Signal.upward), (-20, .downward)])
    func aOneSigmaShiftIsFoundWithinTensOfReadings(shift: Int, expected: CUSUM.Signal) {
        var random = SplitMix64(seed: 9)
        let baseline = warmedBaseline(&random)
        var cusum = CUSUM(kQ8: 128, hQ8: 1_280)
        var found: Int?
        for index in 0..<200 {
            let signal = cusum.update(720 + shift + Int.random(in: -30...30, using: &random), meanQ16: baseline.mean, varianceQ16: baseline.variance)
            if signal != .none {
                #expect(signal == expected)
                found = index
                break
            }
        }
        #expect(found != nil && found! < 60, "a 1.2 σ shift took \(String(describing: found)) readings")
    }

    @Test(arguments: [0, 1, 2, 3, 15, 16, 17, 1 << 32, (1 << 40) + 12_345, UInt64.max] as [UInt64])
    func integerSquareRootIsTheFloor(n: UInt64) {
        let root = CUSUM.squareRoot(n)
        #expect(root.multipliedReportingOverflow(by: root).partialValue <= n || root == 4_294_967_295)
        let next = root + 1
        let (square, overflow) = next.multipliedReportingOverflow(by: next)
        #expect(overflow || square > n)
    }

    @Test func rateOfChangeLooksBackExactlyOneWindow() {
        var rate = RateOfChange(window: 3)
        let readings = [700, 710, 725, 740, 760, 790, 800]
        let results = readings.map { rate.update($0) }
        #expect(results == [nil, nil, nil, 40, 50, 65, 60])
    }
}
