/// What `vocaseg inspect` shows: every tensor's name, dtype, shape and size, totals, and the model the checkpoint
/// looks like. Encodable, so `--json` is one `JSONEncoder` call.
public struct CheckpointSummary: Sendable, Codable, Equatable {
    public struct Tensor: Sendable, Codable, Equatable {
        public let name: String
        public let dtype: TensorDType
        public let shape: [Int]
        public let elementCount: Int
        public let byteCount: Int
    }

    public let path: String
    public let format: CheckpointFormat
    public let stateDictKey: String?
    public let skippedTopLevelKeys: [String]
    public let nonTensorEntries: [NonTensorEntry]
    public let metadata: [String: String]
    public let tensorCount: Int
    public let totalElements: Int
    public let totalBytes: Int
    /// Tensor count per dtype name.
    public let dtypeCounts: [String: Int]
    public let model: ModelIdentification
    public let tensors: [Tensor]

    public init(_ checkpoint: Checkpoint) {
        path = checkpoint.path
        format = checkpoint.format
        stateDictKey = checkpoint.stateDictKey
        skippedTopLevelKeys = checkpoint.skippedTopLevelKeys
        nonTensorEntries = checkpoint.nonTensorEntries
        metadata = checkpoint.metadata
        tensors = checkpoint.tensors.map {
            Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, elementCount: $0.elementCount,
                   byteCount: $0.byteCount)
        }
        tensorCount = tensors.count
        totalElements = tensors.reduce(0) { $0 + $1.elementCount }
        totalBytes = tensors.reduce(0) { $0 + $1.byteCount }
        dtypeCounts = tensors.reduce(into: [:]) { $0[$1.dtype.rawValue, default: 0] += 1 }
        model = ModelIdentification.identify(checkpoint)
    }

    /// Plain-text rendering for `vocaseg inspect` without `--json`: a header block, then one line per tensor.
    public var text: String {
        var lines = ["\(path): \(format.rawValue), \(tensorCount) tensors, \(totalElements) values, "
                     + "\(Self.megabytes(totalBytes))"]
        let family = model.family == "unknown" ? "unknown model"
            : "\(model.family) \(model.variant ?? "") (\(model.backbone ?? "")), expected \(model.expectedTensorCount ?? 0) "
              + "tensors; evidence: \(model.evidence)"
        lines.append("model: \(family)")
        lines.append("dtypes: " + dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            .joined(separator: ", "))
        if let stateDictKey { lines.append("state dict: '\(stateDictKey)'") }
        if !skippedTopLevelKeys.isEmpty { lines.append("skipped: " + skippedTopLevelKeys.joined(separator: ", ")) }
        if !nonTensorEntries.isEmpty { lines.append("non-tensor entries: " + nonTensorEntries.map(\.description).joined(separator: ", ")) }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { lines.append("metadata \(key): \(value)") }
        let width = tensors.map(\.name.count).max() ?? 0
        for tensor in tensors {
            let name = tensor.name.padding(toLength: width)
            let dtype = tensor.dtype.rawValue.padding(toLength: 8)
            lines.append("  \(name)  \(dtype)  \(tensor.shape)  \(tensor.elementCount)")
        }
        return lines.joined(separator: "\n")
    }

    static func megabytes(_ bytes: Int) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}

/// Which released model a checkpoint holds, judged from signature keys and their shapes (see
/// ../shared/specs/{errseg,eovseg}-statedict-*.txt for the full key lists these signatures come from).
public struct ModelIdentification: Sendable, Codable, Equatable {
    /// "ERR-Seg", "EOV-Seg" or "unknown".
    public let family: String
    /// "B"/"L" for ERR-Seg; "S"/"M"/"L" for EOV-Seg; nil when unknown.
    public let variant: String?
    /// The CLIP backbone the variant uses.
    public let backbone: String?
    /// Tensor count of the reference state dict for this variant (compare with `tensorCount`).
    public let expectedTensorCount: Int?
    /// The key and shape the decision rests on, for the user.
    public let evidence: String

    static let unknown = ModelIdentification(family: "unknown", variant: nil, backbone: nil, expectedTensorCount: nil,
                                             evidence: "no known signature key")

    private struct Signature {
        let keys: [String]
        let firstDimension: Int
        let family: String
        let variant: String
        let backbone: String
        let tensorCount: Int
    }

    private static let signatures: [Signature] = {
        let errSegStem = ["sem_seg_head.clip_model.visual.trunk.stem.0.weight",
                          "sem_seg_head.predictor.clip_model.visual.trunk.stem.0.weight"]
        let eovConvNeXtStem = ["cnn_backbone.clip_model.visual.trunk.stem.0.weight"]
        let eovResNetStem = ["cnn_backbone.clip_model.visual.conv1.weight"]
        return [
            Signature(keys: errSegStem, firstDimension: 128, family: "ERR-Seg", variant: "B",
                      backbone: "ConvNeXt-B (open_clip fork)", tensorCount: 727),
            Signature(keys: errSegStem, firstDimension: 192, family: "ERR-Seg", variant: "L",
                      backbone: "ConvNeXt-L (open_clip fork)", tensorCount: 777),
            Signature(keys: eovConvNeXtStem, firstDimension: 192, family: "EOV-Seg", variant: "L",
                      backbone: "convnext_large_d_320 + ViT-B-16", tensorCount: 1121),
            Signature(keys: eovResNetStem, firstDimension: 32, family: "EOV-Seg", variant: "S",
                      backbone: "RN50 + ViT-B-16", tensorCount: 1067),
            Signature(keys: eovResNetStem, firstDimension: 40, family: "EOV-Seg", variant: "M",
                      backbone: "RN50x4 + ViT-B-16", tensorCount: 1247),
        ]
    }()

    public static func identify(_ checkpoint: Checkpoint) -> ModelIdentification {
        for signature in signatures {
            for key in signature.keys {
                guard let tensor = checkpoint[key], tensor.shape.first == signature.firstDimension else { continue }
                return ModelIdentification(family: signature.family, variant: signature.variant,
                                           backbone: signature.backbone, expectedTensorCount: signature.tensorCount,
                                           evidence: "\(key) \(tensor.shape)")
            }
        }
        return .unknown
    }
}
