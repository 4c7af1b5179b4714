import Foundation
import Testing
import VigilTestSupport
@testable import VigilScoring

@Suite struct ScoreSessionTests {
    func object(_ result: Result<String, ScoreSession.LineError>) throws -> [String: Any] {
        let line = try result.get()
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func news2(_ output: [String: Any]) -> [String: Any] { output["news2"] as? [String: Any] ?? [:] }

    @Test func scoresCarriesForwardWithinFreshnessAndSaysWhatIsMissing() throws {
        var session = ScoreSession(freshnessMinutes: 60)
        let full = try object(session.process(#"{"patient":"p","time":"2026-11-22T08:00:00Z","hr":72,"rr":16,"spo2":97,"temp":36.8,"sbp":125,"o2":false,"consciousness":"A"}"#, line: 1))
        #expect(news2(full)["total"] as? Int == 0)
        #expect(news2(full)["risk"] as? String == "low")
        #expect((news2(full)["missing"] as? [String])?.isEmpty == true)

        let later = try object(session.process(#"{"patient":"p","time":"2026-11-22T08:59:00Z","hr":112.5}"#, line: 2))
        // 112.5 /min rounds to 113: subscore 2; everything else carried from 59 minutes ago.
        #expect((news2(later)["parameters"] as? [String: Int])?["hr"] == 2)
        #expect(news2(later)["total"] as? Int == 2)
        #expect((news2(later)["missing"] as? [String])?.isEmpty == true)

        let stale = try object(session.process(#"{"patient":"p","time":"2026-11-22T09:01:00Z","rr":16}"#, line: 3))
        #expect(news2(stale)["missing"] as? [String] == ["spo2", "o2", "sbp", "consciousness", "temp"])
        #expect((news2(stale)["parameters"] as? [String: Int])?["hr"] == 2)   // 2 minutes old: still fresh

        let other = try object(session.process(#"{"patient":"q","time":"2026-11-22T09:01:00Z"}"#, line: 4))
        #expect((news2(other)["missing"] as? [String])?.count == 7)
    }

    @Test func alertsRaiseEscalateAndClearPerPatient() throws {
        var session = ScoreSession(freshnessMinutes: 60, clearAfter: 2)
        let base = #""o2":false,"consciousness":"A","spo2":97,"sbp":125,"temp":37.0"#
        func alerts(_ time: String, _ hr: Int, _ rr: Int, line: Int) throws -> [[String: Any]] {
            try object(session.process(#"{"patient":"p","time":"2026-11-22T\#(time)Z","hr":\#(hr),"rr":\#(rr),\#(base)}"#, line: line))["alerts"] as? [[String: Any]] ?? []
        }
        #expect(try alerts("08:00:00", 70, 16, line: 1).isEmpty)
        let raise = try alerts("08:05:00", 115, 22, line: 2)            // 2 + 2 = 4, no single 3: low
        #expect(raise.isEmpty)
        let medium = try alerts("08:10:00", 115, 25, line: 3)           // 2 + 3 = 5: medium
        #expect(medium.first?["event"] as? String == "raise")
        #expect(medium.first?["risk"] as? String == "medium")
        #expect(medium.first?["model"] as? String == "news2")
        #expect((medium.first?["parameters"] as? [String: Int])?["rr"] == 3)
        #expect(try alerts("08:15:00", 115, 25, line: 4).isEmpty)      // same band: de-duplicated
        let stillMedium = try alerts("08:20:00", 135, 25, line: 5)      // 3 + 3 = 6: still medium
        #expect(stillMedium.isEmpty)
        #expect(try alerts("08:25:00", 70, 16, line: 6).isEmpty)        // first low: held
        let clear = try alerts("08:30:00", 70, 16, line: 7)
        #expect(clear.first?["event"] as? String == "clear")
        #expect(clear.first?["window_start"] as? String == "2026-11-22T08:10:00Z")
    }

    @Test func badLinesNameTheLineAndKeyAndLeaveStateAlone() {
        var session = ScoreSession()
        func error(_ text: String) -> String? {
            if case .failure(let error) = session.process(text, line: 7) { return error.description }
            return nil
        }
        #expect(error(#"{"patient":"p","time":"yesterday"}"#) == #"line 7: time: expected an RFC 3339 timestamp such as "2026-11-22T08:00:00Z""#)
        #expect(error(#"{"patient":"p","time":"2026-11-22T08:00:00Z","hr":"fast"}"#) == "line 7: hr: expected a number from 0 to 400")
        #expect(error(#"{"patient":"p","time":"2026-11-22T08:00:00Z","spo2":101}"#) == "line 7: spo2: expected a number from 0 to 100")
        #expect(error(#"{"patient":"p","time":"2026-11-22T08:00:00Z","consciousness":"X"}"#) == #"line 7: consciousness: expected "A", "C", "V", "P" or "U""#)
        #expect(error(#"{"patient":"p","time":"2026-11-22T08:00:00Z","spo2_scale":3}"#) == "line 7: spo2_scale: expected 1 or 2")
        #expect(error(#"{"patient":"p","time":"2026-11-22T08:00:00Z","pulse":70}"#)?.hasPrefix("line 7: pulse: unknown key") == true)
        #expect(error(#"{"time":"2026-11-22T08:00:00Z"}"#) == "line 7: patient: expected a non-empty string")
        #expect(error(#"{"patient":"p", "#)?.hasPrefix("line 7: not a JSON object: column") == true)
    }

    @Test func fixedPointParsingRoundsHalfUpWithoutFloats() {
        #expect(fixedPoint("38.05", scale: 1) == 381)
        #expect(fixedPoint("38.04", scale: 1) == 380)
        #expect(fixedPoint("38.05", scale: 2) == 3805)
        #expect(fixedPoint("72", scale: 1) == 720)
        #expect(fixedPoint("-1.5", scale: 0) == -2)
        #expect(fixedPoint("1e3", scale: 0) == nil)
        #expect(fixedPoint("1.", scale: 0) == nil)
        #expect(fixedPoint(".5", scale: 1) == nil)
    }

    @Test func scale2IsAPerPatientSettingThatSticks() throws {
        var session = ScoreSession()
        let first = try object(session.process(#"{"patient":"copd","time":"2026-11-22T08:00:00Z","spo2":90,"o2":false,"spo2_scale":2}"#, line: 1))
        #expect((news2(first)["parameters"] as? [String: Int])?["spo2"] == 0)
        let second = try object(session.process(#"{"patient":"copd","time":"2026-11-22T08:05:00Z","spo2":97,"o2":true}"#, line: 2))
        #expect((news2(second)["parameters"] as? [String: Int])?["spo2"] == 3)
    }
}
