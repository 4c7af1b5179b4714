import Foundation
import Testing
import VigilAgent
import VigilTestSupport

/// The MicroPython reference firmware, under the real MicroPython unix port, against a real
/// mosquitto and the real `vigil run`: every reading a device sampled is accepted by the agent,
/// through a Wi-Fi outage and a reboot, and nothing is rejected.
@Suite struct FirmwareEndToEndTests {
    let root = repositoryRoot()

    @Test func tenDevicesThroughAnOutageAndARebootLoseNothing() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("firmware-e2e")
        defer { dir.remove() }
        let devicesDir = dir.url.appendingPathComponent("state/devices")
        let metricsPort = try freeLoopbackPort()
        let config = try dir.write("vigil.yaml", """
            gateway:
              id: gw-e2e
              state_directory: \(dir.path)/state
            mqtt:
              port: \(broker.port)
            metrics:
              listen: 127.0.0.1:\(metricsPort)
            """)
        var configs: [String] = []
        for index in 0..<10 {
            let id = "dev-\(index)"
            let key = hexString((0..<32).map { UInt8((index * 31 + $0) & 0xFF) })
            try DeviceRegistry.write(.init(device: id, patient: "Patient/p\(index)", kind: "spo2-ring", key: key), to: devicesDir)
            let flash = dir.url.appendingPathComponent("flash-\(index)")
            try FileManager.default.createDirectory(at: flash, withIntermediateDirectories: true)
            configs.append(try dir.write("device-\(index).json", """
                {"device": "\(id)", "key": "\(key)", "broker": {"host": "127.0.0.1", "port": \(broker.port)},
                 "settings": {"sample_interval_ms": 100, "batch_max": 8}, "state_dir": "\(flash.path)",
                 "clock_synced": \(index % 2 == 0)}
                """))
        }
        let deviceConfigs = configs
        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })

        let micropython = root.appendingPathComponent(".venv/bin/micropython").path
        let firmware = root.appendingPathComponent("firmware-protocol/micropython").path
        @Sendable func runDevice(_ index: Int, seconds: Int, extra: [String] = []) async throws -> DeviceStats {
            let result = try await runProcess("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", firmware, micropython,
                                                          // The heap bound documented in firmware-protocol/micropython/README.md.
                                                          "-X", "heapsize=64K", "device.py", deviceConfigs[index],
                                                          "--seconds", "\(seconds)", "--scenario", "stable"] + extra)
            #expect(result.status == 0, "device \(index): \(result.stderr)")
            let json = try jsonObject(result.stdout)
            return DeviceStats(boot: json["boot"] as? Int ?? -1, sampled: json["sampled"] as? Int ?? -1,
                               replayed: json["replayed"] as? Int ?? -1, connects: json["connects"] as? Int ?? -1)
        }
        // All ten at once; device 3 loses Wi-Fi for 1.5 s in the middle.
        let firstRuns = try await withThrowingTaskGroup(of: (Int, DeviceStats).self) { group in
            for index in 0..<10 {
                group.addTask { (index, try await runDevice(index, seconds: 4, extra: index == 3 ? ["--outage", "1:1.5"] : [])) }
            }
            return try await group.reduce(into: [Int: DeviceStats]()) { $0[$1.0] = $1.1 }
        }
        // Device 7 reboots with its ring buffer full of unacknowledged readings.
        let reboot = try await runDevice(7, seconds: 2)
        #expect(reboot.boot == 2)
        // Nothing was acknowledged yet (no store), so the whole first boot is replayed.
        #expect(reboot.replayed >= firstRuns[7]!.sampled)
        #expect(firstRuns[3]!.connects >= 2, "the outage should force a reconnect")

        for index in 0..<10 {
            var expected = firstRuns[index]!.sampled
            if index == 7 { expected += reboot.sampled }
            #expect(expected > 0)
            let line = #"vigil_readings_accepted_total{device="dev-\#(index)"} \#(expected)"#
            #expect(await eventually(timeout: .seconds(20)) {
                (try? httpGet(port: metricsPort, path: "/metrics").body.contains(line)) == true
            }, "dev-\(index): expected \(expected) readings accepted")
        }
        let metrics = try httpGet(port: metricsPort, path: "/metrics").body
        #expect(!metrics.contains("vigil_ingest_rejected_total{"), "nothing may be rejected:\n\(metrics)")
        agent.terminate()
        #expect(await agent.waitAsync(timeout: .seconds(30)) == 0)
    }
}

struct DeviceStats: Sendable {
    let boot: Int
    let sampled: Int
    let replayed: Int
    let connects: Int
}
