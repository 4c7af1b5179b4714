import Testing
@testable import VigilModels

/// Every band edge of Chart 1 for every parameter, both SpO2 scales, the rounding rule, the
/// aggregate and the response bands.
@Suite struct NEWS2Tests {
    typealias Edge = (value: Int, score: Int)

    @Test(arguments: [(8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (0, 3), (60, 3)] as [Edge])
    func respirationEdges(edge: Edge) {
        #expect(NEWS2.respiration(edge.value) == edge.score)
    }

    @Test(arguments: [(91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0), (50, 3)] as [Edge])
    func saturationScale1Edges(edge: Edge) {
        #expect(NEWS2.saturationScale1(edge.value) == edge.score)
        // Oxygen does not change the scale-1 SpO2 subscore (it scores separately).
        var observation = NEWS2.Observation()
        observation.spo2 = edge.value * 10
        observation.onOxygen = true
        #expect(NEWS2.score(observation).subscores[.spo2] == edge.score)
    }

    @Test(arguments: [
        (83, false, 3), (84, false, 2), (85, false, 2), (86, false, 1), (87, false, 1), (88, false, 0), (92, false, 0),
        (93, false, 0), (100, false, 0), (83, true, 3), (88, true, 0), (92, true, 0), (93, true, 1), (94, true, 1),
        (95, true, 2), (96, true, 2), (97, true, 3), (100, true, 3),
    ])
    func saturationScale2Edges(percent: Int, oxygen: Bool, score: Int) {
        #expect(NEWS2.saturationScale2(percent, onOxygen: oxygen) == score)
    }

    @Test(arguments: [(90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3), (40, 3)] as [Edge])
    func systolicEdges(edge: Edge) {
        #expect(NEWS2.systolic(edge.value) == edge.score)
    }

    @Test(arguments: [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)] as [Edge])
    func pulseEdges(edge: Edge) {
        #expect(NEWS2.pulse(edge.value) == edge.score)
    }

    @Test(arguments: [(350, 3), (351, 1), (360, 1), (361, 0), (380, 0), (381, 1), (390, 1), (391, 2), (420, 2)] as [Edge])
    func temperatureEdges(edge: Edge) {
        #expect(NEWS2.temperature(edge.value) == edge.score)
    }

    @Test func finerReadingsRoundHalfUpToTheChart() {
        var observation = NEWS2.Observation()
        observation.pulse = 905          // 90.5 /min → 91 → 1
        observation.respiratoryRate = 204 // 20.4 → 20 → 0
        observation.temperature = 3805   // 38.05 °C → 38.1 → 1
        observation.spo2 = 955           // 95.5 % → 96 → 0
        let score = NEWS2.score(observation)
        #expect(score.subscores == [.pulse: 1, .respiratoryRate: 0, .temperature: 1, .spo2: 0])
        observation.pulse = 904          // 90.4 → 90 → 0
        observation.temperature = 3804   // 38.04 → 38.0 → 0
        #expect(NEWS2.score(observation).subscores[.pulse] == 0)
        #expect(NEWS2.score(observation).subscores[.temperature] == 0)
    }

    @Test func aggregateResponseBandsAndMissingParameters() {
        var o = NEWS2.Observation()
        o.respiratoryRate = 160; o.spo2 = 970; o.onOxygen = false; o.systolicBP = 120
        o.pulse = 700; o.consciousness = .alert; o.temperature = 3700
        let calm = NEWS2.score(o)
        #expect(calm.total == 0 && calm.risk == .low && calm.missing.isEmpty)

        o.consciousness = .confusion      // a single 3: low-medium
        #expect(NEWS2.score(o).total == 3)
        #expect(NEWS2.score(o).risk == .lowMedium)

        o.consciousness = .alert
        o.pulse = 1150; o.respiratoryRate = 220 // 2 + 2 = 4: low
        #expect(NEWS2.score(o).risk == .low)
        o.temperature = 3850                    // + 1 = 5: medium
        #expect(NEWS2.score(o).total == 5 && NEWS2.score(o).risk == .medium)
        o.onOxygen = true                       // + 2 = 7: high
        #expect(NEWS2.score(o).total == 7 && NEWS2.score(o).risk == .high)

        var partial = NEWS2.Observation()
        partial.pulse = 1320
        partial.spo2 = 960
        let score = NEWS2.score(partial)
        #expect(score.total == 3 && score.risk == .lowMedium)
        #expect(score.missing == [.respiratoryRate, .supplementalOxygen, .systolicBP, .consciousness, .temperature])
    }
}
