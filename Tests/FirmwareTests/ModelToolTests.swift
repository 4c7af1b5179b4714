import Foundation
import Testing
import VigilTestSupport

/// The committed model's test set is what tools/models/reference.py computes (plain CPython, no
/// scikit-learn), so the Swift bit-for-bit test compares against the reference, not a stale file.
@Suite struct ModelToolTests {
    @Test func theCommittedTestSetIsWhatTheReferenceComputes() async throws {
        let root = repositoryRoot()
        let result = try await runProcess("/usr/bin/python3", [
            root.appendingPathComponent("tools/models/reference.py").path, "--check",
            root.appendingPathComponent("config/models/deterioration-lr.json").path,
            root.appendingPathComponent("config/models/deterioration-lr.testset.json").path,
        ])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("reference: 1754 rows, 0 mismatches"))
    }
}
