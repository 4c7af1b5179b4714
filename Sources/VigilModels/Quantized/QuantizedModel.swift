import Foundation

/// A loadable quantized linear model (`config/models/*.json`, made by `tools/models/train.py`):
/// int16 features centred by integer offsets, int16 coefficients, int32 accumulation saturating
/// at every step, and an integer threshold. `tools/models/reference.py` computes the same
/// integers; the tests compare both on the model's test set, bit for bit.
public struct QuantizedModel: Sendable, Equatable, Decodable {
    public struct Feature: Sendable, Equatable, Decodable {
        public let name: String
        /// The protocol channel (wire id) the feature reads.
        public let channel: UInt8
        public let offset: Int32
        public let coefficient: Int16
    }

    /// Model id and version, carried by every alert the model raises.
    public let model: String
    public let version: String
    public let kind: String
    /// The accumulator holds the logit times 2^fractionBits.
    public let fractionBits: Int
    public let features: [Feature]
    public let bias: Int32
    public let threshold: Int32

    enum CodingKeys: String, CodingKey {
        case model, version, kind, features, bias, threshold
        case fractionBits = "fraction_bits"
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses and checks a model file's contents.
    public init(json: Data) throws {
        let decoded = try JSONDecoder().decode(QuantizedModel.self, from: json)
        guard decoded.kind == "logistic_regression" else { throw LoadError(description: "unsupported model kind \(decoded.kind)") }
        guard !decoded.features.isEmpty, (0...30).contains(decoded.fractionBits) else {
            throw LoadError(description: "a model needs features and fraction_bits within 0...30")
        }
        self = decoded
    }

    public struct Output: Sendable, Equatable {
        /// The logit times 2^fractionBits.
        public let accumulator: Int32
        public let positive: Bool
    }

    /// Scores one set of raw feature values (protocol units, in ``features`` order).
    public func evaluate(_ raw: [Int32]) -> Output {
        precondition(raw.count == features.count)
        var accumulator = bias
        for (feature, value) in zip(features, raw) {
            let centred = Int32(clamping: Int64(value) - Int64(feature.offset))
            let centred16 = Int64(Int16(clamping: centred))
            accumulator = Int32(clamping: Int64(accumulator) + Int64(feature.coefficient) * centred16)
        }
        return Output(accumulator: accumulator, positive: accumulator >= threshold)
    }
}
