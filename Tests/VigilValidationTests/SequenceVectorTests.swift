import Foundation
import Testing
import VigilCore
import VigilProtocol
import VigilValidation

/// firmware-protocol/vectors/sequences.json: series of valid frames and what the gateway must do
/// with each (stored, duplicate or replayed) and what its durable ACK may then say. The same
/// frames are decoded under MicroPython by test_vectors.py.
struct SequenceScenario: Sendable, CustomTestStringConvertible {
    struct Step: Sendable {
        let frame: [UInt8]
        let boot: UInt32
        let outcome: String
        let stored: [UInt32]
        let ackThrough: UInt32?
    }

    let name: String
    let device: String
    let key: [UInt8]
    let steps: [Step]
    var testDescription: String { name }

    static let all: [SequenceScenario] = {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("firmware-protocol/vectors/sequences.json")
        let root = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        return (root["sequences"] as! [[String: Any]]).map { scenario in
            SequenceScenario(
                name: scenario["name"] as! String, device: scenario["device"] as! String, key: bytes(scenario["key"] as! String),
                steps: (scenario["steps"] as! [[String: Any]]).map { step in
                    let expect = step["expect"] as! [String: Any]
                    return Step(frame: bytes(step["frame"] as! String), boot: UInt32(step["boot"] as! Int),
                                outcome: expect["outcome"] as! String,
                                stored: (expect["stored"] as? [Int] ?? []).map(UInt32.init),
                                ackThrough: (expect["ack_through"] as? Int).map(UInt32.init))
                })
        }
    }()

    static func bytes(_ text: String) -> [UInt8] {
        stride(from: 0, to: text.count, by: 2).map { offset in
            let start = text.index(text.startIndex, offsetBy: offset)
            return UInt8(text[start..<text.index(start, offsetBy: 2)], radix: 16)!
        }
    }
}

@Suite struct SequenceVectorTests {
    @Test func thereAreScenariosForEachOutcome() {
        let outcomes = Set(SequenceScenario.all.flatMap { $0.steps.map(\.outcome) })
        #expect(outcomes == ["accepted", "duplicate", "replayed"])
    }

    @Test(arguments: SequenceScenario.all)
    func theValidatorDoesWhatEachStepExpects(_ scenario: SequenceScenario) throws {
        let device = try #require(DeviceID(scenario.device))
        let profile = DeviceProfile(key: try #require(DeviceKey(device: device, bytes: scenario.key)), patient: "Patient/v")
        var validator = Validator()
        for (index, step) in scenario.steps.enumerated() {
            let outcome = validator.validate(step.frame, from: device, profile: profile, now: .seconds(index), receivedAt: 1_795_350_000_000)
            switch (outcome, step.outcome) {
            case (.accepted(let accepted), "accepted"):
                #expect(accepted.fresh == step.stored, "step \(index)")
                let commit = validator.commit(accepted)
                #expect(commit.ackThrough == step.ackThrough, "step \(index): ack")
            case (.duplicate(_, let boot, let ackThrough), "duplicate"):
                #expect(boot == step.boot && ackThrough == step.ackThrough, "step \(index)")
            case (.rejected(.replayed), "replayed"):
                break
            default:
                Issue.record("step \(index): expected \(step.outcome), got \(outcome)")
            }
        }
    }
}
