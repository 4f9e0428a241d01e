import Foundation
import VocaSegCore
import VocaSegTensor

/// EOV-Seg's view of a vocabulary (spec §2.0, §4.2): the text classifier `TC` [T, D] (one unit row per synonym, each
/// the normalised mean of 14 prompt embeddings, then the normalised void embedding as the last row), how many rows
/// each class has (logits are max-pooled over them), and which classes are "seen" (one of their synonyms is in the
/// COCO panoptic training vocabulary) or things. Computed once per vocabulary; the rows are cached on disk.
public struct EOVSegTextClassifier: @unchecked Sendable {
    /// [T, D]: synonym rows in vocabulary order, void last.
    public var rows: Tensor
    /// Rows of each class, in order (sums to T − 1).
    public var synonymCounts: [Int]
    /// Per class: a synonym is one of COCO panoptic's training names (α = 0.4 in the ensemble, else β = 0.8).
    public var seen: [Bool]
    public var isThing: [Bool]

    public var classCount: Int { synonymCounts.count }

    /// ViLD's 14 prompt templates, as EOV-Seg (and FC-CLIP) use them; 2–5 have no final period.
    public static let templates = [
        "a photo of a {}.",
        "This is a photo of a {}",
        "There is a {} in the scene",
        "There is the {} in the scene",
        "a photo of a {} in the scene",
        "a photo of a small {}.",
        "a photo of a medium {}.",
        "a photo of a large {}.",
        "This is a photo of a small {}.",
        "This is a photo of a medium {}.",
        "This is a photo of a large {}.",
        "There is a small {} in the scene.",
        "There is a medium {} in the scene.",
        "There is a large {} in the scene.",
    ]

    public static let ensemble = PromptEnsemble(templates: templates, synonyms: .all)

    /// Whether a class with these spellings was in EOV-Seg's training vocabulary. The official code compares the
    /// split names exactly; names are compared lower-cased here so that `Person` counts as `person` (the official
    /// vocabulary files are all lower case, so their results are the same).
    public static func isSeen(_ synonyms: [String]) -> Bool {
        synonyms.contains { COCOPanopticTrainNames.allNames.contains($0.lowercased()) }
    }

    /// The classifier from encoded synonym rows (unit rows, grouped by class) and the checkpoint's `void_embedding`.
    init(synonymRows: TextEmbeddingRows, voidEmbedding: Tensor, vocabulary: Vocabulary) {
        let d = synonymRows.embeddings.shape[1]
        opCheck(voidEmbedding.count == d, "EOV-Seg void embedding has \(voidEmbedding.count) values, text rows \(d)")
        let t = synonymRows.embeddings.shape[0] + 1
        let out = Tensor(uninitializedShape: [t, d])
        let src = synonymRows.embeddings.contiguous()
        out.data.update(from: src.data, count: (t - 1) * d)
        let void = RowNormalization.unitRows(voidEmbedding.reshaped([1, d]))
        (out.data + (t - 1) * d).update(from: void.data, count: d)
        rows = out
        synonymCounts = synonymRows.groups.map(\.count)
        seen = vocabulary.classes.map { Self.isSeen($0.synonyms) }
        isThing = vocabulary.classes.map(\.isThing)
    }

    /// A classifier given directly (tests: the reference's `TC`).
    public init(rows: Tensor, synonymCounts: [Int], seen: [Bool], isThing: [Bool]) {
        opCheck(rows.rank == 2 && rows.shape[0] == synonymCounts.reduce(0, +) + 1,
                "EOV-Seg text classifier \(rows.shape) does not fit \(synonymCounts.count) classes plus void")
        opCheck(seen.count == synonymCounts.count && isThing.count == synonymCounts.count,
                "EOV-Seg text classifier: one seen and thing flag per class")
        self.rows = rows
        self.synonymCounts = synonymCounts
        self.seen = seen
        self.isThing = isThing
    }
}
