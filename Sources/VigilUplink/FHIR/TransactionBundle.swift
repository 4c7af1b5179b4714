/// A FHIR transaction Bundle of conditional creates: each entry is `POST <type>` with
/// `ifNoneExist: identifier=<system>|<value>`, so a retried upload creates nothing twice; Devices
/// are conditional updates (`PUT Device?identifier=…`), so new firmware or battery replace the
/// old. Devices the entries reference come first (conditional references are resolved after).
public struct TransactionBundle: Sendable {
    public private(set) var entries: [FHIRResource] = []
    public private(set) var byteCount = 0

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }

    public mutating func append(_ resource: FHIRResource) {
        entries.append(resource)
        byteCount += resource.json.count + resource.identifier.utf8.count + 96
    }

    public mutating func append(contentsOf resources: [FHIRResource]) {
        for resource in resources { append(resource) }
    }

    public func encoded(type: String = "transaction") -> [UInt8] {
        var json = JSONWriter(capacity: byteCount + 128)
        json.object { json in
            json.field("resourceType", "Bundle")
            json.field("type", type)
            json.key("entry")
            json.array { json in
                for entry in entries {
                    json.object { json in
                        json.key("resource")
                        json.raw(entry.json)
                        json.field("request") { json in
                            if entry.replaces {
                                json.field("method", "PUT")
                                json.field("url", "\(entry.type)?identifier=\(FHIRResource.identifierSystem)|\(entry.identifier)")
                            } else {
                                json.field("method", "POST")
                                json.field("url", entry.type)
                                json.field("ifNoneExist", "identifier=\(FHIRResource.identifierSystem)|\(entry.identifier)")
                            }
                        }
                    }
                }
            }
        }
        return json.bytes
    }
}
