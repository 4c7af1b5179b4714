import Foundation

/// A documented test seam (README, "Time"): with `VIGIL_TEST_CLOCK=<file>` the agent's wall clock
/// is the system's plus the file's first number (ms), and it is synchronised when the second is
/// 1 — so a real agent can be run with a wrong, unsynchronised clock that then jumps, which
/// libfaketime cannot do to a Swift program without stalling its timers. The file is read on
/// every use (a test rewrites it); never set in production, and logged loudly when it is.
package struct TestClock: Sendable {
    package static let variable = "VIGIL_TEST_CLOCK"

    let path: String

    package init?(environment: [String: String]) {
        guard let path = environment[Self.variable], !path.isEmpty else { return nil }
        self.path = path
    }

    private var state: (error: Int64, synchronized: Bool) {
        let fields = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(whereSeparator: \.isWhitespace)
        return (fields.first.flatMap { Int64($0) } ?? 0, fields.dropFirst().first == "1")
    }

    package var wall: Int64 { Int64(Date().timeIntervalSince1970 * 1_000) + state.error }

    package var synchronized: Bool { state.synchronized }
}
