import Foundation
import VigilAgent

/// Output for a person at a terminal or for a script: colour only on a terminal (and never with
/// NO_COLOR set), aligned columns, sparklines, human times.
enum Terminal {
    static let isInteractive = isatty(STDOUT_FILENO) == 1
    static let colour = isInteractive && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        && ProcessInfo.processInfo.environment["TERM"] != "dumb"

    enum Style: String {
        case red = "31", green = "32", yellow = "33", dim = "2", bold = "1"
    }

    static func paint(_ text: String, _ style: Style) -> String {
        colour ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// Columns padded to their widest cell (measured without colour codes), two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], visibleWidth(cell)) } }
        return all.enumerated().map { number, row in
            let line = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - visibleWidth(cell))
            }.joined(separator: "  ")
            return number == 0 ? paint(line, .bold) : line
        }.joined(separator: "\n")
    }

    static func visibleWidth(_ text: String) -> Int {
        var count = 0
        var escaping = false
        for character in text {
            if character == "\u{1B}" { escaping = true } else if escaping { if character == "m" { escaping = false } } else { count += 1 }
        }
        return count
    }

    static let blocks = Array("▁▂▃▄▅▆▇█")

    /// One block character per value, scaled between the values' minimum and maximum.
    static func sparkline(_ values: [Double]) -> String {
        guard let low = values.min(), let high = values.max() else { return "" }
        let span = high - low
        return String(values.map { value in
            span == 0 ? blocks[3] : blocks[min(blocks.count - 1, Int((value - low) / span * Double(blocks.count - 1) + 0.5))]
        })
    }

    /// "12 s ago", "3 min ago", "2 h ago", "4 d ago"; "never" for nil.
    static func ago(_ time: Int64?, now: Int64) -> String {
        guard let time else { return "never" }
        let seconds = max(0, (now - time) / 1_000)
        switch seconds {
        case ..<120: return "\(seconds) s ago"
        case ..<7_200: return "\(seconds / 60) min ago"
        case ..<172_800: return "\(seconds / 3_600) h ago"
        default: return "\(seconds / 86_400) d ago"
        }
    }

    static func duration(seconds: Double) -> String {
        switch seconds {
        case ..<120: String(format: "%.0f s", seconds)
        case ..<7_200: String(format: "%.0f min", seconds / 60)
        default: String(format: "%.1f h", seconds / 3_600)
        }
    }

    static func bytes(_ count: Int64) -> String {
        count >= 1 << 30 ? String(format: "%.1f GiB", Double(count) / Double(1 << 30))
            : count >= 1 << 20 ? String(format: "%.1f MiB", Double(count) / Double(1 << 20))
            : "\(count / 1_024) KiB"
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000) }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = VigilAgent.ControlJSON.encoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
