import Testing
import VigilCore
@testable import VigilModels

/// Property tests against a floating-point reference (the tests may use floats; the module may
/// not). Documented bounds: mean within 2^shift + 1 Q16 units (about 0.0005 of a unit for
/// shift 5); variance within 0.1 % of the reference plus 2^shift Q16 units.
@Suite struct EWMABaselineTests {
    struct Reference {
        let alpha: Double
        var mean = 0.0
        var variance = 0.0
        var started = false
        mutating func update(_ x: Double) {
            guard started else { mean = x; started = true; return }
            let diff = x - mean
            let increment = alpha * diff
            mean += increment
            variance = (1 - alpha) * (variance + diff * increment)
        }
    }

    @Test(arguments: [3, 5, 8])
    func tracksTheFloatingPointReferenceWithinTheDocumentedBounds(shift: Int) {
        var random = SplitMix64(seed: UInt64(shift) * 7_919)
        for series in 0..<50 {
            var fixed = EWMABaseline(shift: shift, warmup: 1)
            var reference = Reference(alpha: 1 / Double(1 << shift))
            let center = Int.random(in: 300...2_500, using: &random)
            let spread = Int.random(in: 1...(series % 5 == 0 ? 3_000 : 200), using: &random)
            for _ in 0..<2_000 {
                let value = max(-32_768, min(32_767, center + Int.random(in: -spread...spread, using: &random)))
                fixed.update(value)
                reference.update(Double(value))
                let meanError = abs(Double(fixed.mean) / 65_536 - reference.mean) * 65_536
                #expect(meanError <= Double((1 << shift) + 1), "mean off by \(meanError) Q16 units")
                let varianceError = abs(Double(fixed.variance) / 65_536 - reference.variance)
                #expect(varianceError <= reference.variance * 0.001 + Double(1 << shift) / 65_536 * Double(spread),
                        "variance \(Double(fixed.variance) / 65_536) vs \(reference.variance)")
            }
        }
    }

    @Test func zTestMatchesTheReferenceAwayFromTheBoundary() {
        var baseline = EWMABaseline(shift: 5, warmup: 32)
        var reference = Reference(alpha: 1.0 / 32)
        var random = SplitMix64(seed: 11)
        for _ in 0..<500 {
            let value = 720 + Int.random(in: -30...30, using: &random)
            baseline.update(value)
            reference.update(Double(value))
        }
        let sigma = reference.variance.squareRoot()
        for offset in stride(from: -300, through: 300, by: 7) {
            let value = Int(reference.mean.rounded()) + offset
            let z = abs(Double(value) - reference.mean) / sigma
            if abs(z - 3) < 0.05 { continue }   // too close to call either way
            #expect(baseline.isOutlier(value, zQ8: 768) == (z > 3), "value \(value) z \(z)")
        }
    }

    @Test func warmUpHoldsJudgement() {
        var baseline = EWMABaseline(shift: 5, warmup: 10)
        for _ in 0..<9 { baseline.update(700) }
        #expect(!baseline.isWarm)
        #expect(!baseline.isOutlier(3_000, zQ8: 768))
        baseline.update(700)
        #expect(baseline.isWarm)
        // A perfectly flat history has zero variance: any change at all is an outlier.
        #expect(baseline.isOutlier(701, zQ8: 768))
        #expect(!baseline.isOutlier(700, zQ8: 768))
    }

    @Test func extremesSaturateInsteadOfWrapping() {
        var baseline = EWMABaseline(shift: 1, warmup: 1)
        for index in 0..<10_000 { baseline.update(index % 2 == 0 ? 32_767 : -32_768) }
        // Alternating extremes: the variance is large and positive (a wrap would make it negative).
        #expect(baseline.variance > Int64(30_000) * 30_000 << 16)
        #expect(EWMABaseline.saturatingAdd(.max, 1) == .max)
        #expect(EWMABaseline.saturatingAdd(.min, -1) == .min)
        #expect(EWMABaseline.saturatingShiftRight(high: 1, low: 0, by: 16) == Int64(1) << 48)
        #expect(EWMABaseline.saturatingShiftRight(high: Int64.max, low: 0, by: 16) == .max)
        #expect(EWMABaseline.saturatingShiftRight(high: -1, low: UInt64.max - 65_535, by: 16) == -1)
    }
}
