import Foundation
import Testing
import VigilModels

/// The shipped model (config/models/deterioration-lr.json) gives, on its test set, exactly the
/// integers tools/models/reference.py gives; and the reference agrees with the committed set.
@Suite struct QuantizedModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let modelURL = root.appendingPathComponent("config/models/deterioration-lr.json")
    let testsetURL = root.appendingPathComponent("config/models/deterioration-lr.testset.json")

    @Test func swiftMatchesTheReferenceBitForBitOnTheTestSet() throws {
        let model = try QuantizedModel(json: Data(contentsOf: modelURL))
        #expect(model.model == "deterioration-lr" && model.features.count == 6)
        let testset = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: testsetURL)) as? [String: Any])
        let rows = try #require(testset["rows"] as? [[String: Any]])
        #expect(rows.count > 500)
        var positives = 0
        for (index, row) in rows.enumerated() {
            let features = try #require(row["features"] as? [Int]).map(Int32.init)
            let output = model.evaluate(features)
            #expect(output.accumulator == Int32(try #require(row["acc"] as? Int)), "row \(index)")
            #expect(output.positive == (try #require(row["positive"] as? Bool)), "row \(index)")
            if output.positive { positives += 1 }
        }
        #expect(positives > 0 && positives < rows.count, "the test set exercises both outcomes")
        // The last rows are the edges (inputs far outside int16 once centred: every term clamps).
        #expect(rows.suffix(5).contains { ($0["features"] as? [Int])?.first == Int(Int32.max) })
    }

    /// The accumulator saturates at every step, as reference.py does: three terms of
    /// 32767 × 32767 pass Int32.max, the fourth takes one away again. Saturating only at the end
    /// would give 2 × 1,073,676,289 = 2,147,352,578; per step gives Int32.max − 1,073,676,289.
    @Test func theAccumulatorSaturatesAtEveryStep() throws {
        let json = #"{"model":"m","version":"1","kind":"logistic_regression","fraction_bits":8,"bias":0,"threshold":0,"features":["#
            + (0..<4).map { #"{"name":"f\#($0)","channel":2,"offset":0,"coefficient":\#($0 == 3 ? -32767 : 32767)}"# }.joined(separator: ",")
            + "]}"
        let model = try QuantizedModel(json: Data(json.utf8))
        #expect(model.evaluate([32_767, 32_767, 32_767, 32_767]).accumulator == Int32.max - 1_073_676_289)
        #expect(model.evaluate([40_000, 0, 0, 0]).accumulator == 32_767 * 32_767, "a centred value clamps to int16 first")
    }

    @Test func aBadModelFileSaysWhy() {
        #expect(throws: QuantizedModel.LoadError.self) {
            try QuantizedModel(json: Data(#"{"model":"m","version":"1","kind":"tree","fraction_bits":8,"features":[{"name":"pr","channel":2,"offset":0,"coefficient":1}],"bias":0,"threshold":0}"#.utf8))
        }
    }
}
