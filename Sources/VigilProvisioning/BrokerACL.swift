/// The sensors' part of mosquitto's ACL file: a block Vigil owns between two marker lines, with
/// one `user` section per provisioned device allowing exactly its own topics. Everything outside
/// the block (the agent's and the clinical user's rules) is left as the operator wrote it. Pure.
public struct BrokerACL: Sendable, Equatable {
    public static let begin = "# --- sensors: managed by `vigil sensor add|remove`; edits inside this block are overwritten ---"
    public static let end = "# --- end of sensors ---"

    private var head: [String]
    private var tail: [String]
    /// Whether the file had the block (else it is appended, after a blank line).
    private let hadBlock: Bool
    public private(set) var devices: [String]
    public let topicPrefix: String

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case unbalancedMarkers

        public var description: String { "the ACL file's sensors block is damaged (one of its marker lines is missing)" }
    }

    public init(text: String, topicPrefix: String) throws(ParseError) {
        self.topicPrefix = topicPrefix
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let first = lines.firstIndex(of: Self.begin)
        let last = lines.firstIndex(of: Self.end)
        switch (first, last) {
        case (nil, nil):
            head = lines
            tail = []
            devices = []
            hadBlock = false
        case (let first?, let last?) where first < last:
            head = Array(lines[..<first])
            tail = Array(lines[(last + 1)...])
            hadBlock = true
            devices = lines[first..<last].compactMap { line in
                line.hasPrefix("user ") ? String(line.dropFirst("user ".count)) : nil
            }
        default:
            throw .unbalancedMarkers
        }
    }

    public mutating func add(_ device: String) {
        if !devices.contains(device) { devices.append(device) }
        devices.sort()
    }

    public mutating func remove(_ device: String) { devices.removeAll { $0 == device } }

    /// A device may write its readings and status and read its acks, settings and commands.
    public func rules(for device: String) -> [String] {
        let base = "\(topicPrefix)/\(device)"
        return ["user \(device)", "topic write \(base)/up", "topic write \(base)/status", "topic read \(base)/ack",
                "topic read \(base)/config", "topic read \(base)/cmd"]
    }

    public var text: String {
        var block = [Self.begin]
        for device in devices { block += rules(for: device) }
        block.append(Self.end)
        let separator = !hadBlock && head.last.map({ !$0.isEmpty }) == true ? [""] : []
        return (head + separator + block + tail).joined(separator: "\n") + "\n"
    }
}
