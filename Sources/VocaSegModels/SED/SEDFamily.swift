import Foundation
import VocaSegCheckpoint
import VocaSegCore

/// SED's registry entry: its variants, how its checkpoints look, its settings and how to build it.
public struct SEDFamily: ModelFamily {
    public init() {}

    public let name = "SED"
    public let tasks: [SegmentationTask] = [.semantic]

    /// The official README links each checkpoint on Google Drive (github.com/xb534/SED, "Pretrained Models").
    static let downloadPage = "https://github.com/xb534/SED#pretrained-models"
    static let configs: [String: SEDConfig] = ["sed-b": .base, "sed-l": .large]

    public let variants = [
        ModelVariant(name: "sed-b", label: "B", backbone: "ConvNeXt-B (convnext_base_w_320)", expectedTensorCount: 0,
                     defaultFile: "sed-b/model_final.pth",
                     downloadHint: "download the SED ConvNeXt-B model_final.pth linked from \(downloadPage)"),
        ModelVariant(name: "sed-l", label: "L", backbone: "ConvNeXt-L (convnext_large_d_320)", expectedTensorCount: 0,
                     defaultFile: "sed-l/model_final.pth",
                     downloadHint: "download the SED ConvNeXt-L model_final.pth linked from \(downloadPage)"),
    ]

    public let options = [
        FamilyOption(name: "cer", pipelineField: "cer.mode", kind: .choice(["on", "off"]),
                     help: "SED's category early rejection between decoder stages; off runs every class through the whole decoder",
                     defaultDescription: "on"),
        FamilyOption(name: "cer-k", pipelineField: "cer.k", kind: .integer(1...4096),
                     help: "Classes each pixel keeps at every CER point (top-k per pixel, union over pixels)",
                     defaultDescription: "8, the official fast mode"),
        FamilyOption(name: "cer-refresh", pipelineField: "cer.refresh", kind: .integer(1...1_000_000),
                     help: "Video: later frames start from the classes that survived CER's first point, re-chosen every N inferred frames; a scene cut always re-chooses",
                     defaultDescription: "1 (every frame starts from the whole vocabulary, as the original)"),
    ]

    /// `sem_seg_head.predictor.clip_model…` is shared with CAT-Seg; SED alone has the decoder's `head0` and its
    /// correlation-guidance transposed convs. The stem's first dimension tells B (128) from L (192).
    public func recognize(_ checkpoint: Checkpoint) -> CheckpointRecognition? {
        guard checkpoint["\(SEDModel.rootPrefix).transformer.head0.weight"] != nil else { return nil }
        for (variant, width) in zip(variants, [128, 192]) {
            let signature = CheckpointSignature(keys: ["\(SEDModel.rootPrefix).clip_model.visual.trunk.stem.0.weight"],
                                                firstDimension: width)
            if let evidence = signature.match(checkpoint) {
                return CheckpointRecognition(family: name, variant: variant.label, backbone: variant.backbone,
                                             expectedTensorCount: nil, evidence: evidence, supported: true)
            }
        }
        return nil
    }

    func runOptions(_ settings: FamilySettings) -> SEDOptions {
        var o = SEDOptions()
        o.cerK = settings["cer"] == "off" ? nil : (settings["cer-k"].flatMap { Int($0) } ?? 8)
        o.cerRefresh = settings["cer-refresh"].flatMap { Int($0) } ?? 1
        return o
    }

    public func makeModel(_ request: ModelBuildRequest) throws -> SegmentationModel {
        guard var config = Self.configs[request.variant.name] else {
            throw VocaSegError(.internal, "SED has no variant \(request.variant.name)")
        }
        if let size = request.imageSize { config.imageSize = size }
        try config.validate()
        let tokenizer = try CLIPTokenizer(vocabularyPath: request.tokenizerPath)
        let options = runOptions(request.settings)
        let weights: WeightLoader
        let identity: String
        switch request.weights {
        case .checkpoint(let path):
            weights = try WeightLoader(path: path)
            identity = request.textCacheDirectory.map { TextEmbeddingCache.fileIdentity(path: path, cacheDirectory: $0) } ?? ""
        case .random(let seed):
            weights = SEDWeights.random(seed: seed)
            identity = "random:seed\(seed):\(request.variant.name)"
        }
        let model = try SEDModel(config: config, weights: weights, tokenizer: tokenizer, options: options)
        if let directory = request.textCacheDirectory {
            model.textEmbeddingCache = TextEmbeddingCache(directory: directory, weightsIdentity: identity)
        }
        return model
    }

    public func notices(settings: FamilySettings, vocabularySize: Int) -> [String] {
        var out: [String] = []
        if settings["cer"] == "off", settings["cer-k"] != nil || settings["cer-refresh"] != nil {
            out.append("--cer off: --cer-k and --cer-refresh have no effect")
        } else if let k = settings["cer-k"].flatMap({ Int($0) }), k >= vocabularySize {
            out.append("--cer-k \(k) is not smaller than the vocabulary (\(vocabularySize) classes): CER rejects nothing")
        }
        return out
    }
}

/// The weight sources of SED besides a checkpoint: seeded random weights for pipeline and speed checks.
enum SEDWeights {
    static func random(seed: UInt64) -> WeightLoader {
        RandomWeights.loader(seed: seed, transposedConvolutions: [".up.", "decoder_corr_guidance_projection"])
    }
}

extension SEDModel {
    /// The settings for the JSON-lines header.
    public var settingsSummary: [String: any Sendable] {
        ["cer": options.cerK == nil ? "off" : "on", "cer_k": options.cerK ?? 0, "cer_refresh": options.cerRefresh,
         "input_size": config.imageSize, "mode": "full"]
    }
}
