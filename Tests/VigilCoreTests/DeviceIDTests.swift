import Testing
import VigilCore

@Suite struct DeviceIDTests {
    @Test(arguments: ["w1", "ward-7_bed-3", String(repeating: "x", count: 32), "ABCxyz019"])
    func acceptsSafeIdentifiers(raw: String) {
        #expect(DeviceID(raw)?.rawValue == raw)
    }

    @Test(arguments: ["", "a/b", "a+b", "a#", "sp ace", "é", String(repeating: "x", count: 33), "a\u{0}b"])
    func rejectsAnythingThatCouldEscapeATopicOrAFileName(raw: String) {
        #expect(DeviceID(raw) == nil)
    }
}
