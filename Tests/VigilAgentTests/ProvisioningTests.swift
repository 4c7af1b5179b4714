import Foundation
import Testing
import Logging
import VigilAgent
import VigilTestSupport
import VigilProvisioning

/// The broker files `vigil sensor add|remove` edit, checked against the real mosquitto tools,
/// and the technician's settings syntax.
@Suite struct ProvisioningTests {
    @Test func passwordHashesMatchMosquittoPasswd() async throws {
        let dir = try TemporaryDirectory("passwd")
        defer { dir.remove() }
        let path = try dir.write("passwd", "")
        try MosquittoBroker.run("/usr/bin/mosquitto_passwd", ["-b", path, "dev-1", "correct horse"])
        let line = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .newlines)
        let fields = line.split(separator: "$")
        let salt = try #require(Data(base64Encoded: String(fields[3])))
        #expect(try "dev-1:" + MosquittoPasswordFile.hash(password: "correct horse", salt: Array(salt)) == line)
        let file = MosquittoPasswordFile(text: line + "\n")
        #expect(file.verify(user: "dev-1", password: "correct horse"))
        #expect(!file.verify(user: "dev-1", password: "wrong"))
        #expect(!file.verify(user: "dev-2", password: "correct horse"))
    }

    @Test func passwordFileEditsKeepOtherEntries() throws {
        var file = MosquittoPasswordFile(text: "# kept\nvigil-agent:$7$101$abc$def\n")
        try file.set(user: "dev-1", password: "p1", salt: Array(repeating: 1, count: 12))
        try file.set(user: "dev-1", password: "p2", salt: Array(repeating: 2, count: 12))
        #expect(file.users == ["vigil-agent", "dev-1"])
        #expect(file.verify(user: "dev-1", password: "p2") && !file.verify(user: "dev-1", password: "p1"))
        let removed = file.remove(user: "dev-1")
        let removedAgain = file.remove(user: "dev-1")
        #expect(removed && !removedAgain)
        #expect(file.text == "# kept\nvigil-agent:$7$101$abc$def\n")
    }

    @Test func aclBlockIsTheOnlyPartEdited() throws {
        let shipped = try String(contentsOf: repositoryRoot().appendingPathComponent("config/mosquitto/acl"), encoding: .utf8)
        var acl = try BrokerACL(text: shipped, topicPrefix: "vigil/v1")
        #expect(acl.devices.isEmpty)
        #expect(acl.text == shipped, "parsing and writing back changes nothing")
        acl.add("dev-b")
        acl.add("dev-a")
        acl.add("dev-a")
        let text = acl.text
        #expect(text.hasPrefix(String(shipped.prefix(upTo: shipped.range(of: BrokerACL.begin)!.lowerBound))))
        #expect(text.contains("user dev-a\ntopic write vigil/v1/dev-a/up\ntopic write vigil/v1/dev-a/status\ntopic read vigil/v1/dev-a/ack\n"
            + "topic read vigil/v1/dev-a/config\ntopic read vigil/v1/dev-a/cmd\nuser dev-b\n"))
        var reread = try BrokerACL(text: text, topicPrefix: "vigil/v1")
        #expect(reread.devices == ["dev-a", "dev-b"])
        reread.remove("dev-a")
        reread.remove("dev-b")
        #expect(reread.text == shipped)
        #expect(throws: BrokerACL.ParseError.unbalancedMarkers) { try BrokerACL(text: BrokerACL.begin + "\n", topicPrefix: "vigil/v1") }
        // A file without the block (an operator's own) gets one at its end.
        let appended = try BrokerACL(text: "user vigil-agent\ntopic read vigil/v1/+/up\n", topicPrefix: "p").text
        #expect(appended == "user vigil-agent\ntopic read vigil/v1/+/up\n\n\(BrokerACL.begin)\n\(BrokerACL.end)\n")
    }

    @Test(arguments: [
        (["interval=5s"], ["sample_interval_ms": 5_000]),
        (["interval=1500ms", "batch_max=4"], ["sample_interval_ms": 1_500, "batch_max": 4]),
        (["sample_interval_ms=2000", "json_debug=1"], ["sample_interval_ms": 2_000, "json_debug": 1]),
        (["interval=2m"], ["sample_interval_ms": 120_000]),
        (["channels=spo2,pr"], ["channel_mask": 0b1100]),
    ] as [([String], [String: Int64])])
    func settingsParse(arguments: [String], expected: [String: Int64]) throws {
        #expect(try SensorSettings.parse(arguments) == expected)
    }

    @Test(arguments: [
        ("interval", "interval: expected key=value"),
        ("interval=500ms", "interval=500ms: expected a sampling interval from 1s to 1h"),
        ("interval=soon", "interval=soon: expected a sampling interval"),
        ("batch_max=33", "batch_max=33: expected an integer from 1 to 32"),
        ("channels=spo2,lux", "channels=spo2,lux: expected channel names from hr,pr,spo2"),
        ("channels=hr", "channels=hr: expected channels this device is registered for (pr,spo2)"),
        ("colour=blue", "colour=blue: expected one of interval, channels, batch_max, json_debug"),
    ])
    func badSettingsNameTheArgumentAndWhatWasExpected(argument: String, message: String) {
        #expect {
            try SensorSettings.parse([argument], allowed: ["spo2", "pr"])
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }

    @Test func settingsReadBackAsTyped() {
        #expect(SensorSettings.describe(["sample_interval_ms": 5_000, "channel_mask": 0b1100, "batch_max": 4])
            == "batch_max=4 channels=pr,spo2 interval=5s")
    }

    @Test func provisionerRefusesBadInputAndDuplicatesBeforeTouchingAnything() throws {
        let dir = try TemporaryDirectory("provisioner")
        defer { dir.remove() }
        let acl = try dir.write("acl", try String(contentsOf: repositoryRoot().appendingPathComponent("config/mosquitto/acl"), encoding: .utf8))
        let passwd = try dir.write("passwd", "")
        let configuration = try VigilConfiguration.parse(yaml: """
            gateway:
              state_directory: \(dir.file("state"))
            broker:
              password_file: \(passwd)
              acl_file: \(acl)
              pid_file: "off"
              device_ca_file: "off"
            """, path: "t.yaml")
        let provisioner = Provisioner(configuration: configuration)
        func sensor(_ id: String, patient: String = "Patient/1", kind: String = "spo2-ring") -> Provisioner.NewSensor {
            .init(device: id, patient: patient, kind: kind, channels: nil, settings: [:], deviceStateDirectory: "vigil")
        }
        for (bad, message) in [(sensor("bad id"), "device id: expected"), (sensor("_gateway"), "device id: expected"),
                               (sensor("d1", patient: "123"), "--patient: expected a FHIR reference"),
                               (sensor("d1", kind: "toaster"), "--kind: expected one of bp-cuff, spo2-ring, thermometer, vitals-patch")] {
            #expect { try provisioner.add(bad) } throws: { "\($0)".hasPrefix(message) }
        }
        #expect(try String(contentsOfFile: passwd, encoding: .utf8).isEmpty, "nothing written for bad input")
        let outcome = try provisioner.add(sensor("d1"))
        #expect(!outcome.brokerReloaded, "pid_file off: the technician is told to reload")
        let boot = try #require(try JSONSerialization.jsonObject(with: Data(outcome.bootFile)) as? [String: Any])
        #expect((boot["broker"] as? [String: Any])?["ca"] == nil, "plain MQTT when device_ca_file is off")
        #expect(boot["channels"] as? [String] == ["pr", "spo2", "pi", "activity", "battery"])
        #expect { try provisioner.add(sensor("d1")) } throws: { "\($0)".contains("already provisioned") }
        #expect { try provisioner.remove("d2") } throws: { "\($0)".contains("d2 is not provisioned") }
        #expect { try provisioner.set("d1", changes: ["batch_max": 99]) } throws: { "\($0)".contains("batch_max must be within 1...32") }
        #expect(try provisioner.set("d1", changes: ["batch_max": 4]).version == 1)
        #expect(try provisioner.set("d1", changes: ["sample_interval_ms": 2_000]) == .init(version: 2, settings: ["batch_max": 4, "sample_interval_ms": 2_000]))
        // Maker and model are kept for the sensor's FHIR Device; a record without them still loads.
        var made = sensor("d3")
        made.manufacturer = "Acme Medical"
        made.model = "RingOx 2"
        #expect(try provisioner.add(made).record.model == "RingOx 2")
        let registry = DeviceRegistry(directory: URL(fileURLWithPath: dir.file("state") + "/devices"), logger: Logger(label: "t"))
        registry.reload()
        #expect(registry.summaries["d3"]?.manufacturer == "Acme Medical" && registry.summaries["d3"]?.model == "RingOx 2")
        #expect(registry.summaries["d1"] != nil && registry.summaries["d1"]?.model == nil)
    }
}
