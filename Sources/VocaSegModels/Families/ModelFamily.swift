import Foundation
import VocaSegCheckpoint
import VocaSegCore

/// What a segmentation run is asked for; a family offers one or both.
public enum SegmentationTask: String, Sendable, CaseIterable {
    case semantic, panoptic
}

/// One released model of a family, by the name the CLI uses.
public struct ModelVariant: Sendable, Equatable {
    /// CLI name, e.g. `errseg-b`.
    public var name: String
    /// The family's own label, e.g. `B`.
    public var label: String
    public var backbone: String
    /// Tensor count of the released state dict (inspect compares it with the file's).
    public var expectedTensorCount: Int
    /// Where the checkpoint lives below the model directory, e.g. `errseg-b/model_final.pth`.
    public var defaultFile: String
    /// How to get that file, said when it is missing.
    public var downloadHint: String

    public init(name: String, label: String, backbone: String, expectedTensorCount: Int, defaultFile: String,
                downloadHint: String) {
        self.name = name
        self.label = label
        self.backbone = backbone
        self.expectedTensorCount = expectedTensorCount
        self.defaultFile = defaultFile
        self.downloadHint = downloadHint
    }
}

/// A setting of one family, offered as a CLI flag (`--NAME`) and as a pipeline-file field (`pipelineField`).
public struct FamilyOption: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case integer(ClosedRange<Int>)
        case choice([String])
    }

    /// Flag name without dashes, e.g. `crm-k`; also the key in `FamilySettings`.
    public var name: String
    /// Dotted field in a pipeline file, e.g. `crm.k`.
    public var pipelineField: String
    public var kind: Kind
    public var help: String
    /// The default as the user reads it in `--help`, e.g. `32, or the vocabulary size if smaller`.
    public var defaultDescription: String

    public init(name: String, pipelineField: String, kind: Kind, help: String, defaultDescription: String) {
        self.name = name
        self.pipelineField = pipelineField
        self.kind = kind
        self.help = help
        self.defaultDescription = defaultDescription
    }

    /// `help` with its default and accepted values, for `--help`.
    public var fullHelp: String {
        let accepted: String
        switch kind {
        case .integer(let range): accepted = "\(range.lowerBound)…\(range.upperBound)"
        case .choice(let values): accepted = values.joined(separator: " | ")
        }
        return "\(help) (\(accepted)). Default: \(defaultDescription)."
    }

    /// Checks a raw value; throws a usage error naming the flag.
    public func validate(_ raw: String) throws {
        switch kind {
        case .integer(let range):
            guard let v = Int(raw), range.contains(v) else {
                throw VocaSegError(.usage, "--\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound) (got \(raw))")
            }
        case .choice(let values):
            guard values.contains(raw) else {
                throw VocaSegError(.usage, "--\(name) must be \(values.joined(separator: " or ")) (got \(raw))")
            }
        }
    }
}

/// Family settings as given (flag name → raw value), validated against the family's `FamilyOption`s.
public typealias FamilySettings = [String: String]

/// A family's verdict on a checkpoint's keys and shapes.
public struct CheckpointRecognition: Sendable, Codable, Equatable {
    /// "ERR-Seg", "EOV-Seg", "SED", "CAT-Seg" or "unknown".
    public var family: String
    /// The variant's label (B, L, …), when the shapes tell.
    public var variant: String?
    public var backbone: String?
    public var expectedTensorCount: Int?
    /// The key and shape the decision rests on, for the user.
    public var evidence: String
    /// Whether this build can run it.
    public var supported: Bool

    public static let unknown = CheckpointRecognition(family: "unknown", variant: nil, backbone: nil,
                                                      expectedTensorCount: nil, evidence: "no known signature key",
                                                      supported: false)
}

/// Where a model's weights come from.
public enum ModelWeights: Sendable, Equatable {
    /// A checkpoint in the family's official key layout (`.pth` or safetensors).
    case checkpoint(path: String)
    /// Seeded random weights: the output is meaningless (for pipeline and speed checks).
    case random(seed: UInt64)
}

/// Everything a family needs to build one model.
public struct ModelBuildRequest: Sendable {
    public var variant: ModelVariant
    public var weights: ModelWeights
    /// The CLIP BPE vocabulary (class names are encoded with it).
    public var tokenizerPath: String
    /// Square input size override (nil: the variant's own).
    public var imageSize: Int?
    public var settings: FamilySettings
    public var task: SegmentationTask
    /// Where text embeddings are kept between runs (nil: no disk cache).
    public var textCacheDirectory: String?

    public init(variant: ModelVariant, weights: ModelWeights, tokenizerPath: String, imageSize: Int? = nil,
                settings: FamilySettings = [:], task: SegmentationTask = .semantic, textCacheDirectory: String? = nil) {
        self.variant = variant
        self.weights = weights
        self.tokenizerPath = tokenizerPath
        self.imageSize = imageSize
        self.settings = settings
        self.task = task
        self.textCacheDirectory = textCacheDirectory
    }
}

/// Everything the product knows about one model family, in one place: the registry (`ModelFamilies`) asks the
/// families, and `--model`, `inspect`, `--help`, pipeline files and the missing-weights message come from there.
public protocol ModelFamily: Sendable {
    /// Display name, e.g. `ERR-Seg`.
    var name: String { get }
    var variants: [ModelVariant] { get }
    /// Tasks it can run; the first is the default.
    var tasks: [SegmentationTask] { get }
    var options: [FamilyOption] { get }
    /// Its verdict on a checkpoint, from keys and shapes alone (nothing is read but the index), or nil.
    func recognize(_ checkpoint: Checkpoint) -> CheckpointRecognition?
    func makeModel(_ request: ModelBuildRequest) throws -> SegmentationModel
    /// One-line notices about settings that will not do what they say with this vocabulary.
    func notices(settings: FamilySettings, vocabularySize: Int) -> [String]
}

extension ModelFamily {
    public func notices(settings: FamilySettings, vocabularySize: Int) -> [String] { [] }

    /// The task to run: the asked one if offered, else a usage error; the family's first when none is asked.
    public func task(_ asked: String?) throws -> SegmentationTask {
        guard let asked else { return tasks[0] }
        guard let task = SegmentationTask(rawValue: asked), tasks.contains(task) else {
            throw VocaSegError(.usage, "--task \(asked): \(name) offers \(tasks.map(\.rawValue).joined(separator: " and ")) only")
        }
        return task
    }
}
