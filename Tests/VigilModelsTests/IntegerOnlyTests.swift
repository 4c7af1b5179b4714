import Foundation
import Testing

/// VigilModels scores with integers only, so every CPU gives the same answer: no floating-point
/// type may appear in its sources (comments included, to keep the rule simple and visible).
@Suite struct IntegerOnlyTests {
    @Test func noFloatingPointInTheScoringModule() throws {
        let sources = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/VigilModels")
        let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        #expect(!files.isEmpty)
        let forbidden = try NSRegularExpression(pattern: #"\b(Double|Float|Float16|Float32|Float64|Float80|CGFloat|Decimal)\b"#)
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let hits = forbidden.numberOfMatches(in: text, range: NSRange(text.startIndex..., in: text))
            #expect(hits == 0, "\(file.lastPathComponent) uses a floating-point type")
        }
    }
}
