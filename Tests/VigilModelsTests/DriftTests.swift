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

/// The integer CUSUM against a floating-point one over random series: each step's deviation,
/// slack and σ are truncated to Q8 (σ by the integer square root), so each step can lose at most
/// 3 Q8 units (0.012 of a value unit) and the error grows at most by that per step since the
/// sums were last at zero; the signals agree whenever the float sum is clear of the threshold by
/// more than that bound.
@Suite struct CUSUMReferenceTests {
    @Test(arguments: [1, 2, 3, 4, 5])
    func sumsStayWithinTheDocumentedBoundOfAFloatReference(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        let meanQ16 = Int64(720) << 16 + Int64.random(in: 0..<65_536, using: &random)
        let varianceQ16 = Int64.random(in: (100 << 16)...(2_500 << 16), using: &random)
        let mean = Double(meanQ16) / 65_536, sigma = (Double(varianceQ16) / 65_536).squareRoot()
        var fixed = CUSUM(kQ8: 128, hQ8: 1_280)
        var upper = 0.0, lower = 0.0, steps = 0
        let shift = Int.random(in: -40...40, using: &random)
        for _ in 0..<2_000 {
            let value = 720 + shift + Int.random(in: -60...60, using: &random)
            upper = max(0, upper + (Double(value) - mean) - 0.5 * sigma)
            lower = max(0, lower - (Double(value) - mean) - 0.5 * sigma)
            steps += 1
            let bound = Double(3 * steps + 1) / 256
            let signal = fixed.update(value, meanQ16: meanQ16, varianceQ16: varianceQ16)
            let threshold = 5 * sigma
            if upper > threshold + bound || lower > threshold + bound {
                #expect(signal != .none, "float signals well past the threshold")
            } else if upper < threshold - bound && lower < threshold - bound {
                #expect(signal == .none, "float is well below the threshold")
                #expect(abs(Double(fixed.upper) / 256 - upper) <= bound && abs(Double(fixed.lower) / 256 - lower) <= bound,
                        "sums \(Double(fixed.upper) / 256), \(Double(fixed.lower) / 256) vs \(upper), \(lower)")
            }
            if signal != .none || upper > threshold || lower > threshold {
                // Either one signalled (within the bound of the threshold they may disagree):
                // both restart from zero.
                upper = 0
                lower = 0
                steps = 0
                fixed = CUSUM(kQ8: 128, hQ8: 1_280)
            } else if upper == 0 && lower == 0 && fixed.upper == 0 && fixed.lower == 0 {
                steps = 0
            }
        }
    }
}
