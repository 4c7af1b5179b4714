import Testing
import VigilCore
import VigilProtocol

@Suite struct TopicsTests {
    let topics = Topics()

    @Test(arguments: Topics.Kind.allCases)
    func buildAndParseRoundTrip(kind: Topics.Kind) throws {
        let device = try #require(DeviceID("hr-strap-01"))
        let topic = topics.topic(device, kind)
        #expect(topic == "vigil/v1/hr-strap-01/\(kind.rawValue)")
        let parsed = try #require(topics.parse(topic))
        #expect(parsed.device == device && parsed.kind == kind)
    }

    @Test(arguments: [
        "vigil/v1/dev/unknown", "vigil/v1//up", "vigil/v1/dev", "vigil/v2/dev/up", "vigil/v1/de+v/up",
        "vigil/v1/dev/up/extra", "xvigil/v1/dev/up", "vigil/v1dev/up", "", "vigil/v1/_gateway/gw/status",
    ])
    func rejectsTopicsOutsideTheScheme(topic: String) {
        #expect(topics.parse(topic) == nil)
    }

    @Test func filtersMatchOneLevelOfDevice() {
        #expect(topics.filter(.up) == "vigil/v1/+/up")
        #expect(Topics(prefix: "site/9").filter(.status) == "site/9/+/status")
        #expect(topics.gatewayStatus("gw-1") == "vigil/v1/_gateway/gw-1/status")
    }
}
