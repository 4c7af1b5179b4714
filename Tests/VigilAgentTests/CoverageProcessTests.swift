import Foundation
import Testing
import VigilCore
import VigilMQTT
import VigilProtocol
import VigilTestSupport
import VigilProvisioning

/// A week of a sensor's readings (replayed from its memory, so times are its own) through the
/// real agent, broker and validating endpoint: the seven days that are over arrive as coverage
/// Observations whose figures match what the test computes from what it sent, and `vigil report
/// coverage` shows the same.
@Suite struct CoverageProcessTests {
    /// What the test sent on one local day.
    struct Sent {
        var worn: Set<Int> = []
        var detached: Set<Int> = []
        var seqs: [UInt32] = []
    }

    @Test func aWeekOfReadingsGivesTheCoverageTheTestComputes() async throws {
        let broker = try MosquittoBroker()
        let dir = try TemporaryDirectory("coverage")
        defer { dir.remove() }
        let endpoint = try FHIREndpoint(directory: dir, arguments: ["--store", dir.file("fhir.jsonl")])
        defer { endpoint.stop() }
        let metricsPort = try freeLoopbackPort()
        let config = try writeAgentConfig(
            in: dir, gateway: "gw-c", brokerPort: broker.port, metricsPort: metricsPort,
            sections: """
                technical:
                  enabled: false
                  tick_seconds: 1
                uplink:
                  fhir:
                    base_url: \(endpoint.baseURL)

                """)
        let keyBytes = Array(repeating: UInt8(0x5A), count: 32)
        try DeviceRegistry.write(.init(device: "ring-c", patient: "Patient/p-c", kind: "ring", key: hexString(keyBytes)),
                                 to: URL(fileURLWithPath: dir.path + "/state/devices"))

        // Local days as the agent counts them (the same machine, the same zone).
        let offset = Int64(TimeZone.current.secondsFromGMT()) * 1_000
        let now = Int64(Date().timeIntervalSince1970 * 1_000)
        let today = (now + offset).quotient(86_400_000)
        func dayStart(_ day: Int64) -> Int64 { day * 86_400_000 - offset }

        // Days 7…1 before today: worn from a morning hour for some hours, a detached hour, one
        // silent day; a reading every 2 minutes, and a numbered reading lost now and then. Off
        // the wrist the ring has no pulse or SpO2 to send, only a perfusion index of zero.
        var sent: [Int64: Sent] = [:]
        var frames: [(seq: UInt32, t0: Int64, records: [Record])] = []
        var seq: UInt32 = 0
        for back in (1...7 as ClosedRange<Int64>).reversed() where back != 4 {
            let day = today - back
            var records: [Record] = []
            var t0: Int64 = 0
            var frameSeq: UInt32 = 0
            func flush() {
                if !records.isEmpty { frames.append((frameSeq, t0, records)) }
                records = []
            }
            let wornHours = Int(back) + 3
            for slot in 0..<((wornHours + 1) * 30) {
                let minute = 6 * 60 + slot * 2 + Int(back)
                let time = dayStart(day) + Int64(minute) * 60_000
                let worn = slot < wornHours * 30
                if slot % 23 == 22 {
                    // Lost: numbered but never sent; the frame ends here.
                    flush()
                    seq += 1
                    continue
                }
                if records.isEmpty { t0 = time; frameSeq = seq }
                let wobble = Int16(seq % 9)
                records.append(Record(dt: UInt32(time - t0), values: worn ? [(.pulseRate, 700 + wobble), (.spo2, 965 + wobble % 3)]
                                                                          : [(.perfusionIndex, 0), (.activity, 20)]))
                if worn { sent[day, default: Sent()].worn.insert(minute) } else { sent[day, default: Sent()].detached.insert(minute) }
                sent[day, default: Sent()].seqs.append(seq)
                seq += 1
                if records.count == FrameFormat.maxRecords { flush() }
            }
            flush()
        }

        let agent = try ChildProcess(builtProduct("vigil"), ["run", "--config", config], stderrPath: dir.file("agent.log"))
        defer { agent.terminate() }
        #expect(await eventually { (try? httpGet(port: metricsPort, path: "/metrics").body.contains("vigil_mqtt_connected 1")) == true })
        let key = DeviceKey(device: DeviceID("ring-c")!, bytes: keyBytes)!
        let sensor = MQTTClient(configuration: .init(port: broker.port, clientID: "ring-c"), logger: .init(label: "t"))
        try await sensor.start()
        for frame in frames {
            try await sensor.publish(topic: "vigil/v1/ring-c/up", payload: FrameEncoder.readings(
                key: key, boot: 1, seq: frame.seq, t0: UInt64(frame.t0), records: frame.records.map { .init(dt: $0.dt, values: $0.values) },
                flags: .clockSynced))
            // Under the validator's sustained rate (a frame per 50 ms).
            try await Task.sleep(for: .milliseconds(60))
        }
        await sensor.shutdown()
        let total = sent.values.reduce(0) { $0 + $1.seqs.count }
        #expect(await eventually(timeout: .seconds(60)) {
            (try? httpGet(port: metricsPort, path: "/metrics").body.contains(#"vigil_readings_accepted_total{device="ring-c"} \#(total)"#)) == true
        }, "every reading stored")

        // The days are over: reported once their readings settle, revised as late frames came
        // in (a conditional update replaces the earlier version); the latest version of each
        // day holds every reading sent.
        func latest() -> [String: [String: Any]] {
            let lines = ((try? String(contentsOfFile: dir.file("fhir.jsonl"), encoding: .utf8)) ?? "").split(separator: "\n")
            var byIdentifier: [String: [String: Any]] = [:]
            for line in lines {
                guard let resource = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let identifier = (resource["identifier"] as? [[String: Any]])?.first?["value"] as? String,
                      identifier.contains(":coverage:") else { continue }
                byIdentifier[identifier] = resource
            }
            return byIdentifier
        }
        #expect(await eventually(timeout: .seconds(120)) {
            let days = latest()
            return days.count == 7 && days.values.reduce(0) { $0 + (Self.components($1)["readings-received"] ?? 0) } == Double(total)
        }, "seven coverage days upstream with every reading")
        let stored = Array(latest().values)
        #expect(stored.count == 7)
        let firstDay = today - 7
        for back in 1...7 as ClosedRange<Int64> {
            let day = today - back
            let label = String(ISOTime.seconds(day * 86_400_000).prefix(10))
            let expected = sent[day] ?? Sent()
            let observation = try #require(stored.first {
                (($0["identifier"] as? [[String: Any]])?.first?["value"] as? String)?.hasSuffix(":coverage:Patient/p-c:\(label)") == true
            }, "day \(label)")
            let values = Self.components(observation)
            let usable = expected.worn.count
            let notWorn = expected.detached.subtracting(expected.worn).count
            // Coverage began with the first reading sent: that day counts from its minute.
            let firstMinute = day == firstDay ? (expected.worn.union(expected.detached).min() ?? 0) : 0
            let counted = 1_440 - firstMinute
            let numbered = expected.seqs.isEmpty ? 0 : Int(expected.seqs.max()! - expected.seqs.min()!) + 1
            #expect(values["usable-minutes"] == Double(usable), "\(label): \(values)")
            #expect(values["not-worn-minutes"] == Double(notWorn), "\(label)")
            #expect(values["silent-minutes"] == Double(counted - usable - notWorn), "\(label)")
            #expect(values["readings-received"] == Double(expected.seqs.count), "\(label)")
            #expect(values["readings-expected"] == Double(numbered), "\(label)")
            let withReadings = (day - 29...day).filter { !(sent[$0]?.seqs.isEmpty ?? true) }.count
            #expect(values["days-with-readings-30"] == Double(withReadings), "\(label)")
            let period = observation["effectivePeriod"] as? [String: Any]
            #expect(period?["start"] as? String == ISOTime.milliseconds(dayStart(day) + Int64(firstMinute) * 60_000))
        }
        #expect((try endpoint.stats()["invalid"] as? Int) == 0, "the endpoint validated every resource")

        // The technician's view: the same figures, and today so far.
        let report = try await runProcess(builtProduct("vigil"), ["report", "coverage", "--config", config, "--days", "8", "--json"])
        #expect(report.status == 0, "\(report.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 8, "seven days and today")
        let silentDay = String(ISOTime.seconds((today - 4) * 86_400_000).prefix(10))
        #expect(rows.first { $0["day"] as? String == silentDay }?["silent_minutes"] as? Int == 1_440)
        let table = try await runProcess(builtProduct("vigil"), ["report", "coverage", "--config", config])
        #expect(table.status == 0 && table.stdout.contains("Patient/p-c") && table.stdout.contains("▓"), "\(table.stdout)")
        agent.signal(SIGTERM)
        _ = await agent.waitAsync(timeout: .seconds(10))
    }

    static func components(_ observation: [String: Any]) -> [String: Double] {
        var values: [String: Double] = [:]
        for component in observation["component"] as? [[String: Any]] ?? [] {
            guard let code = ((component["code"] as? [String: Any])?["coding"] as? [[String: Any]])?.first?["code"] as? String,
                  let value = (component["valueQuantity"] as? [String: Any])?["value"] as? Double else { continue }
            values[code] = value
        }
        return values
    }

    struct Record {
        var dt: UInt32
        var values: [(Channel, Int16)]
    }
}

extension Int64 {
    fileprivate func quotient(_ divisor: Int64) -> Int64 { self >= 0 ? self / divisor : (self - divisor + 1) / divisor }
}
