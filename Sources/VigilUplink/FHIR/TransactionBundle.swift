/// A FHIR transaction Bundle of conditional creates: each entry is `POST <type>` with
/// `ifNoneExist: identifier=<system>|<value>`, so a retried upload creates nothing twice; Devices
/// are conditional updates (`PUT Device?identifier=…`), so new firmware or battery replace the
/// old; AuditEvents, which have no identifier in R4, are updates by logical id (`PUT AuditEvent/<id>`). Devices the entries reference come first (conditional references are resolved after).
/// Every entry has a `fullUrl` (``FHIRResource/fullURL``); a reference to a resource in the same
/// Bundle points at it, one to a resource sent earlier stays a conditional reference.
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
                let present = Set(entries.map(\.identifier))
                for entry in entries {
                    json.object { json in
                        json.field("fullUrl", entry.fullURL)
                        json.key("resource")
                        let local = entry.links.filter { present.contains($0.identifier) }
                        json.raw(local.isEmpty ? entry.json : Self.pointing(entry.json, at: local))
                        json.field("request") { json in
                            if let id = entry.logicalID {
                                json.field("method", "PUT")
                                json.field("url", "\(entry.type)/\(id)")
                            } else if entry.replaces {
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

    /// The resource with each conditional reference to a Bundle member replaced by its `fullUrl`.
    static func pointing(_ json: [UInt8], at links: [FHIRResource.Link]) -> [UInt8] {
        var json = json
        for link in links {
            let needle = Array("\"\(link.reference)\"".utf8)
            let replacement = Array("\"\(FHIRResource.fullURL(link.identifier))\"".utf8)
            var index = 0
            var result: [UInt8] = []
            result.reserveCapacity(json.count)
            while index < json.count {
                if json[index] == needle[0], index + needle.count <= json.count, json[index..<(index + needle.count)].elementsEqual(needle) {
                    result.append(contentsOf: replacement)
                    index += needle.count
                } else {
                    result.append(json[index])
                    index += 1
                }
            }
            json = result
        }
        return json
    }
}
