extension FHIRMapper {
    static let sensorStateSystem = "urn:vigil:sensor-state"

    /// The heartbeat as a conditional update of the gateway's own Device: one resource per
    /// gateway that the server keeps replacing, so its `meta.lastUpdated` is the last time the
    /// gateway got through, and a hospital alarms on `Device?identifier=…&_lastUpdated=lt…`
    /// without the gateway adding a resource every few minutes (288 a day per home as
    /// Observations). The note's time changes every beat, so a server that skips identical
    /// updates still records one. Each sensor is a `property` whose value names its state.
    public func gatewayHeartbeat(_ beat: GatewayHeartbeat) -> FHIRResource {
        var json = JSONWriter(capacity: 512 + beat.sensors.count * 256)
        json.object { json in
            deviceHeader(&json, identifier: gatewayIdentifier, serial: gateway, name: "Vigil gateway \(gateway)", type: Self.gatewayType,
                         manufacturer: Self.gatewayManufacturer, model: Self.gatewayModel)
            versions(&json, firmware: nil, software: options.softwareVersion)
            if !beat.sensors.isEmpty {
                json.key("property")
                json.array { json in
                    for sensor in beat.sensors {
                        json.object { json in
                            json.field("type") { json in json.field("text", "sensor \(sensor.device)") }
                            json.key("valueCode")
                            json.array { json in json.object { json in
                                json.key("coding")
                                json.array { json in json.object { json in
                                    json.field("system", Self.sensorStateSystem)
                                    json.field("code", sensor.state.rawValue)
                                } }
                                json.field("text", Self.stateText(sensor))
                            } }
                        }
                    }
                }
            }
            json.key("note")
            json.array { json in json.object { json in
                json.field("time", fhirInstant(beat.time))
                json.field("text", "heartbeat: \(beat.summary)")
            } }
        }
        return FHIRResource(type: "Device", identifier: gatewayIdentifier, json: json.bytes, replaces: true)
    }

    private static func stateText(_ sensor: GatewayHeartbeat.Sensor) -> String {
        var text = sensor.state == .never ? "never seen" : sensor.state.rawValue
        if let lastSeen = sensor.lastSeen { text += ", last seen \(fhirInstant(lastSeen))" }
        if let battery = sensor.battery { text += ", battery \(battery) %" }
        return text
    }
}
