import Foundation
import VocaSegCheckpoint
import VocaSegCore

/// ERR-Seg's registry entry: its variants, how its checkpoints look, its settings and how to build it.
public struct ERRSegFamily: ModelFamily {
    public init() {}

    public let name = "ERR-Seg"
    public let tasks: [SegmentationTask] = [.semantic]

    static let downloadPage = "https://huggingface.co/lchen1019/ERR-Seg"
    /// Sizes by CLI name.
    static let configs: [String: ERRSegConfig] = ["errseg-b": .base, "errseg-l": .large]

    public let variants = [
        ModelVariant(name: "errseg-b", label: "B", backbone: "ConvNeXt-B (open_clip fork)", expectedTensorCount: 727,
                     defaultFile: "errseg-b/model_final.pth",
                     downloadHint: "download model_final.pth for ERR-Seg B from \(downloadPage) (or run Scripts/fetch-weights.sh errseg-b)"),
        ModelVariant(name: "errseg-l", label: "L", backbone: "ConvNeXt-L (open_clip fork)", expectedTensorCount: 777,
                     defaultFile: "errseg-l/model_final.pth",
                     downloadHint: "download model_final.pth for ERR-Seg L from \(downloadPage) (or run Scripts/fetch-weights.sh errseg-l)"),
    ]

    public let options = [
        FamilyOption(name: "crm-k", pipelineField: "crm.k", kind: .integer(1...4096),
                     help: "Classes ERR-Seg's CRM keeps per frame", defaultDescription: "32, or the vocabulary size if smaller"),
        // Video default 8: keeping the CRM's selection for 8 inferred frames (a scene cut re-selects at once)
        // measured on the sample clip: selection changes 42 → 3 and pixels changing label between frames
        // 36.7% → 28.4%, at no measurable cost. 1 is the paper's behaviour.
        FamilyOption(name: "crm-refresh", pipelineField: "crm.refresh", kind: .integer(1...1_000_000),
                     help: "Re-select the kept classes every N inferred frames; a scene cut always re-selects",
                     defaultDescription: "8 (1 = every frame, as the paper)"),
        FamilyOption(name: "resize", pipelineField: "inference.resize", kind: .choice(["official", "direct"]),
                     help: "official: short side 800, then the model size, as ERR-Seg's evaluation; direct: straight to the model size",
                     defaultDescription: "official"),
    ]

    /// The stem's first dimension tells B (128) from L (192). `sem_seg_head.predictor.clip_model…` is not ERR-Seg
    /// (it is the SED/CAT-Seg layout), so only the plain `sem_seg_head.clip_model…` key counts.
    public func recognize(_ checkpoint: Checkpoint) -> CheckpointRecognition? {
        for (variant, width) in zip(variants, [128, 192]) {
            let signature = CheckpointSignature(keys: ["sem_seg_head.clip_model.visual.trunk.stem.0.weight"],
                                                firstDimension: width)
            if let evidence = signature.match(checkpoint) {
                return CheckpointRecognition(family: name, variant: variant.label, backbone: variant.backbone,
                                             expectedTensorCount: variant.expectedTensorCount, evidence: evidence,
                                             supported: true)
            }
        }
        return nil
    }

    /// Run-time options from the settings (already validated against `options`).
    func runOptions(_ settings: FamilySettings) -> ERRSegOptions {
        var o = ERRSegOptions()
        o.classesKept = settings["crm-k"].flatMap { Int($0) }
        o.crmRefresh = settings["crm-refresh"].flatMap { Int($0) } ?? 8
        o.resizeMode = settings["resize"].flatMap(ERRSegOptions.ResizeMode.init(rawValue:)) ?? .official
        return o
    }

    public func makeModel(_ request: ModelBuildRequest) throws -> SegmentationModel {
        guard var config = Self.configs[request.variant.name] else {
            throw VocaSegError(.internal, "ERR-Seg has no variant \(request.variant.name)")
        }
        if let size = request.imageSize { config.imageSize = size }
        try config.validate()
        let tokenizer = try CLIPTokenizer(vocabularyPath: request.tokenizerPath)
        let options = runOptions(request.settings)
        let model: ERRSegModel
        let identity: String
        switch request.weights {
        case .checkpoint(let path):
            model = try ERRSegModel.load(checkpointPath: path, config: config, tokenizer: tokenizer, options: options)
            identity = request.textCacheDirectory.map { TextEmbeddingCache.fileIdentity(path: path, cacheDirectory: $0) } ?? ""
        case .random(let seed):
            model = try ERRSegModel.random(config: config, seed: seed, tokenizer: tokenizer, options: options)
            identity = "random:seed\(seed):\(request.variant.name)"
        }
        if let directory = request.textCacheDirectory {
            model.textEmbeddingCache = TextEmbeddingCache(directory: directory, weightsIdentity: identity)
        }
        return model
    }

    public func notices(settings: FamilySettings, vocabularySize: Int) -> [String] {
        guard let k = settings["crm-k"].flatMap({ Int($0) }), k > vocabularySize else { return [] }
        return ["--crm-k \(k) is larger than the vocabulary (\(vocabularySize) classes): all \(vocabularySize) are kept"]
    }
}

extension ERRSegModel {
    /// K as it applies to the prepared vocabulary (the configured K before `prepare`), input size, resize, mode.
    public var settingsSummary: [String: any Sendable] {
        let k = currentTextEmbeddings.map { classesKept(vocabularyCount: $0.shape[0]) }
            ?? (options.classesKept ?? config.sampleClassesNum)
        return ["k": k, "input_size": config.imageSize, "resize": options.resizeMode.rawValue,
                "crm_refresh": options.crmRefresh, "mode": "full"]
    }
}
