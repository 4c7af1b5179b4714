import Testing
import VigilCore

@Suite struct HexTests {
    @Test func decodesEitherCaseAndRefusesAnythingElse() {
        #expect(hexDecoded("00ff7Fa0") == [0x00, 0xFF, 0x7F, 0xA0])
        #expect(hexDecoded("") == [])
        for bad in ["abc", "0g", "+f", " 0", "0x00"] { #expect(hexDecoded(bad) == nil, "\(bad)") }
    }
}
