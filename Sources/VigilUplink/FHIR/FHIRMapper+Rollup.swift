import VigilCore
import VigilStore

extension FHIRMapper {
    static let statisticsSystem = "http://terminology.hl7.org/CodeSystem/observation-statistics"
    static let seriesSystem = "urn:vigil:series"

    /// A minute rollup (minute granularity): its coincident time stamp, then one Observation per
    /// vital. Each has `effectivePeriod` from the minute's first to its last reading, the median
    /// of the usable readings as `valueQuantity` (an actual reading: the lower median), and
    /// components: minimum, maximum and count (the core observation-statistics codes), and every
    /// value as `valueSampledData` at its time rounded to the series' period (`E` where a slot
    /// has no reading, or its reading was unusable). R4 vital-signs profiles are claimed as for a
    /// reading: the median is a Quantity and the period an allowed `effective[x]`.
    func rollup(_ rollup: MinuteRollup) -> [FHIRResource] {
        let sensor = deviceReference(deviceIdentifier(rollup.device))
        let gatewayRef = deviceReference(gatewayIdentifier)
        let timeStamp = identifiers.rollup(rollup, vital: "cts")
        var resources = [coincidentTimeStamp(patient: rollup.patient, timeQuality: rollup.timeQuality, receivedAt: rollup.receivedAt,
                                             deviceTime: rollup.deviceTime, identifier: timeStamp, sensor: sensor, gateway: gatewayRef,
                                             gatewayClock: rollup.gatewayClock)]
        let kind = kindOf(rollup.device)
        var pressure: [MinuteRollup.Series] = []
        for var series in rollup.series {
            series.samples.sort { $0.offset < $1.offset }
            guard !series.samples.isEmpty else { continue }
            if series.channel == .systolicBP || series.channel == .diastolicBP {
                pressure.append(series)
                continue
            }
            guard let code = VitalCode.forChannel(series.channel, kind: kind) else { continue }
            resources.append(minuteObservation(rollup, series, code: code, identifier: identifiers.rollup(rollup, vital: series.channel.key),
                                               sensor: sensor, gateway: gatewayRef, timeStamp: timeStamp))
        }
        if !pressure.isEmpty {
            resources.append(minutePressure(rollup, pressure, identifier: identifiers.rollup(rollup, vital: "bp"), sensor: sensor,
                                            gateway: gatewayRef, timeStamp: timeStamp))
        }
        return resources
    }

    /// Blood pressure of a minute: one panel, as for a reading, whose systolic and diastolic
    /// components are the medians (with the mean arterial pressure of those), and every value of
    /// each as SampledData.
    private func minutePressure(_ rollup: MinuteRollup, _ series: [MinuteRollup.Series], identifier: String, sensor: String,
                                gateway: String, timeStamp: String) -> FHIRResource {
        let link = FHIRResource.Link(type: "Observation", identifier: timeStamp)
        func median(_ channel: Channel) -> Int16? {
            let usable = series.first { $0.channel == channel }?.samples.filter { $0.grade < 3 }.map(\.raw).sorted() ?? []
            return usable.isEmpty ? nil : usable[(usable.count - 1) / 2]
        }
        let systolic = median(.systolicBP), diastolic = median(.diastolicBP)
        var code = VitalCode.bloodPressure
        if systolic == nil || diastolic == nil { code.meetsProfile = false }
        let offsets = series.flatMap { $0.samples.map(\.offset) }
        var json = JSONWriter(capacity: 1_600 + offsets.count * 5)
        json.object { json in
            json.field("resourceType", "Observation")
            meta(&json, profile: code.meetsProfile ? Self.vitalSignsProfileBase + "bp" : nil,
                 tags: Self.timeTags(rollup.timeQuality, gatewayClock: rollup.gatewayClock))
            rollupExtensions(&json, gateway: gateway, link: link)
            identifierArray(&json, identifier)
            json.field("status", "final")
            vitalSignsCategory(&json)
            json.key("code")
            code.write(&json)
            json.field("subject") { json in json.field("reference", patientReference(rollup.patient)) }
            json.field("effectivePeriod") { json in
                json.field("start", fhirInstant(rollup.start + Int64(offsets.min() ?? 0)))
                json.field("end", fhirInstant(rollup.start + Int64(offsets.max() ?? 0)))
            }
            json.field("issued", fhirInstant(rollup.receivedAt))
            json.key("note")
            json.array { json in json.object { json in
                json.field("text", "medians of the minute's \(series.map(\.samples.count).max() ?? 0) readings")
            } }
            json.field("device") { json in json.field("reference", sensor) }
            if !code.meetsProfile {
                json.key("derivedFrom")
                json.array { json in json.object { json in linkReference(&json, link) } }
            }
            json.key("component")
            json.array { json in
                var medians: [(VitalCode, Int16?)] = [(.systolic, systolic), (.diastolic, diastolic)]
                if let systolic, let diastolic { medians.append((.meanPressure, Self.meanArterialPressure(systolic: systolic, diastolic: diastolic))) }
                for (code, raw) in medians {
                    json.object { json in
                        json.key("code")
                        code.write(&json)
                        if let raw {
                            json.key("valueQuantity")
                            quantity(&json, raw: raw, channel: .systolicBP)
                        } else {
                            unusableAbsence(&json, text: nil)
                        }
                    }
                }
                for each in series {
                    json.object { json in
                        json.field("code") { json in
                            json.key("coding")
                            json.array { json in json.object { json in
                                json.field("system", Self.seriesSystem)
                                json.field("code", each.channel == .systolicBP ? "systolic-samples" : "diastolic-samples")
                            } }
                        }
                        sampledData(&json, each)
                    }
                }
            }
        }
        return FHIRResource(type: "Observation", identifier: identifier, json: json.bytes, links: [link])
    }

    private func rollupExtensions(_ json: inout JSONWriter, gateway: String, link: FHIRResource.Link) {
        json.key("extension")
        json.array { json in
            gatewayExtension(&json, gateway)
            json.object { json in
                json.field("url", Self.preconditionExtension)
                json.field("valueReference") { json in linkReference(&json, link) }
            }
        }
    }

    private func minuteObservation(_ rollup: MinuteRollup, _ series: MinuteRollup.Series, code: VitalCode, identifier: String,
                                   sensor: String, gateway: String, timeStamp: String) -> FHIRResource {
        let channel = series.channel
        let usable = series.samples.filter { $0.grade < 3 }.map(\.raw).sorted()
        let poor = series.samples.filter { $0.grade == 2 }.count
        let link = FHIRResource.Link(type: "Observation", identifier: timeStamp)
        let vitalSign = code.vitalSignsProfile != nil
        var json = JSONWriter(capacity: 1_400 + series.samples.count * 6)
        json.object { json in
            json.field("resourceType", "Observation")
            meta(&json, profile: code.vitalSignsProfile.map { Self.vitalSignsProfileBase + $0 },
                 tags: Self.timeTags(rollup.timeQuality, gatewayClock: rollup.gatewayClock))
            rollupExtensions(&json, gateway: gateway, link: link)
            identifierArray(&json, identifier)
            json.field("status", "final")
            if vitalSign { vitalSignsCategory(&json) }
            json.key("code")
            code.write(&json)
            json.field("subject") { json in json.field("reference", patientReference(rollup.patient)) }
            json.field("effectivePeriod") { json in
                json.field("start", fhirInstant(rollup.start + Int64(series.samples.first!.offset)))
                json.field("end", fhirInstant(rollup.start + Int64(series.samples.last!.offset)))
            }
            json.field("issued", fhirInstant(rollup.receivedAt))
            if usable.isEmpty {
                unusableAbsence(&json, text: "signal quality unusable for the whole minute")
            } else {
                json.key("valueQuantity")
                quantity(&json, raw: usable[(usable.count - 1) / 2], channel: channel)
            }
            var text = "median of \(usable.count) usable readings of the minute"
            if poor > 0 { text += ", \(poor) with poor signal" }
            if usable.count < series.samples.count { text += ", \(series.samples.count - usable.count) unusable" }
            json.key("note")
            json.array { json in json.object { json in json.field("text", text) } }
            json.field("device") { json in json.field("reference", sensor) }
            if !vitalSign {
                json.key("derivedFrom")
                json.array { json in json.object { json in linkReference(&json, link) } }
            }
            json.key("component")
            json.array { json in
                if let low = usable.first, let high = usable.last {
                    for (statistic, raw) in [("minimum", low), ("maximum", high)] {
                        json.object { json in
                            statisticCode(&json, statistic)
                            json.key("valueQuantity")
                            quantity(&json, raw: raw, channel: channel)
                        }
                    }
                }
                json.object { json in
                    statisticCode(&json, "count")
                    json.key("valueInteger")
                    json.raw(String(series.samples.count))
                }
                json.object { json in
                    json.field("code") { json in
                        json.key("coding")
                        json.array { json in json.object { json in
                            json.field("system", Self.seriesSystem); json.field("code", "samples"); json.field("display", "Each reading of the minute")
                        } }
                    }
                    sampledData(&json, series)
                }
            }
        }
        return FHIRResource(type: "Observation", identifier: identifier, json: json.bytes, links: [link])
    }

    private func statisticCode(_ json: inout JSONWriter, _ code: String) {
        json.field("code") { json in
            json.key("coding")
            json.array { json in json.object { json in json.field("system", Self.statisticsSystem); json.field("code", code) } }
        }
    }

    private func sampledData(_ json: inout JSONWriter, _ series: MinuteRollup.Series) {
        let (period, slots) = Self.slots(series.samples.map(\.offset))
        var data = [String](repeating: "E", count: (slots.last ?? 0) + 1)
        for (sample, slot) in zip(series.samples, slots) where sample.grade < 3 { data[slot] = String(sample.raw) }
        let channel = series.channel
        json.field("valueSampledData") { json in
            json.field("origin") { json in
                json.key("value"); json.raw("0")
                json.field("unit", channel.unit); json.field("system", VitalCode.ucumSystem); json.field("code", channel.unit)
            }
            json.key("period"); json.raw(String(period))
            json.key("factor"); json.raw(decimal(1, divisor: Int(channel.divisor)))
            json.key("dimensions"); json.raw("1")
            json.field("data", data.joined(separator: " "))
        }
    }

    /// The largest round period (ms) at or below the median interval that gives every reading a
    /// slot of its own, and each reading's slot (its time after the first, rounded to the period).
    /// Offsets ascending.
    static func slots(_ offsets: [UInt16]) -> (period: Int, slots: [Int]) {
        guard offsets.count > 1 else { return (1_000, offsets.map { _ in 0 }) }
        let first = Int(offsets[0])
        let intervals = zip(offsets.dropFirst(), offsets).map { Int($0) - Int($1) }.sorted()
        let median = max(1, intervals[(intervals.count - 1) / 2])
        for period in [1_000, 500, 250, 200, 100, 50, 20, 10, 5, 2, 1] where period <= median || period == 1 {
            let slots = offsets.map { (Int($0) - first + period / 2) / period }
            if zip(slots.dropFirst(), slots).allSatisfy({ $0 > $1 }) { return (period, slots) }
        }
        // Readings within a millisecond of each other: one slot each, in order.
        var slots: [Int] = []
        for offset in offsets { slots.append(max((slots.last ?? -1) + 1, Int(offset) - first)) }
        return (1, slots)
    }
}
