import Foundation
import Logging
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilAgent
import VigilProvisioning

@Suite struct DeviceRegistryTests {
    let key = String(repeating: "ab", count: 32)

    @Test func aDeviceAddedWhileRunningIsFoundWithoutARestart() throws {
        let dir = try TemporaryDirectory("registry")
        defer { dir.remove() }
        let devices = dir.url.appendingPathComponent("devices")
        let registry = DeviceRegistry(directory: devices, logger: Logger(label: "t"))
        registry.reload()
        #expect(registry.profile(for: DeviceID("ring-1")!) == nil)
        try DeviceRegistry.write(.init(device: "ring-1", patient: "Patient/1", kind: "spo2-ring", key: key, channels: ["spo2", "pr"]), to: devices)
        let profile = try #require(registry.profile(for: DeviceID("ring-1")!))
        #expect(profile.patient == "Patient/1")
        #expect(profile.channels == [.spo2, .pulseRate])
        let mode = try FileManager.default.attributesOfItem(atPath: devices.appendingPathComponent("ring-1.json").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func damagedOrMismatchedFilesAreSkippedNotFatal() throws {
        let dir = try TemporaryDirectory("registry")
        defer { dir.remove() }
        let devices = dir.url.appendingPathComponent("devices")
        try DeviceRegistry.write(.init(device: "good", patient: "Patient/1", kind: "k", key: key), to: devices)
        try "{not json".write(to: devices.appendingPathComponent("broken.json"), atomically: true, encoding: .utf8)
        try DeviceRegistry.write(.init(device: "short-key", patient: "Patient/2", kind: "k", key: "abcd"), to: devices)
        var moved = DeviceRecord(device: "other", patient: "Patient/3", kind: "k", key: key)
        try DeviceRegistry.write(moved, to: devices)
        moved.device = "elsewhere"
        try JSONEncoder().encode(moved).write(to: devices.appendingPathComponent("other.json"))
        let lines = Lines()
        let registry = DeviceRegistry(directory: devices, logger: Logger(label: "t") { JournaldLogHandler(label: $0, level: .info, style: .journald, sink: lines.append) })
        registry.reload()
        #expect(registry.count == 1)
        #expect(registry.profile(for: DeviceID("good")!) != nil)
        #expect(lines.all.count == 3)
        #expect(lines.all.contains { $0.contains("file=short-key.json") && $0.contains("key must be 64 hex digits") })
        #expect(lines.all.contains { $0.contains("file=other.json") && $0.contains("does not match") })
    }
}

@Suite struct DeviceSettingsTests {
    @Test func settingsBecomeCONFIGEntriesInKeyOrder() throws {
        let settings = DeviceRecord.Settings(version: 2, settings: ["json_debug": 1, "sample_interval_ms": 5_000, "batch_max": 8])
        let entries = try settings.entries(device: "d")
        #expect(entries.map(\.key) == [1, 3, 4])
        #expect(entries.map(\.value) == [5_000, 8, 1])
    }

    @Test(arguments: [
        (["batch_max": 33], "batch_max must be within 1...32, got 33"),
        (["sample_interval_ms": 10], "sample_interval_ms must be within 1000...3600000, got 10"),
        (["colour": 1], "unknown setting \"colour\""),
    ] as [([String: Int64], String)])
    func badSettingsAreRefusedWithTheReason(settings: [String: Int64], problem: String) {
        #expect {
            try DeviceRecord.Settings(version: 1, settings: settings).entries(device: "d")
        } throws: { error in
            "\(error)".contains(problem)
        }
    }
}
