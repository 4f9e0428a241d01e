import Foundation
import VocaSegCore
import VocaSegTensor

/// How a family turns class names into text embeddings: every prompt template applied to every name it uses.
/// ERR-Seg prompts the first synonym with one template; EOV-Seg averages 14 templates over every synonym; SED 80.
public struct PromptEnsemble: Sendable, Equatable {
    public enum Synonyms: String, Sendable {
        /// Only a class's first spelling is prompted (ERR-Seg's official code).
        case first
        /// Every spelling gets its own row; the rows of one class form its synonym group.
        case all
    }

    /// Each contains `{}`, replaced by the name.
    public var templates: [String]
    public var synonyms: Synonyms

    public init(templates: [String], synonyms: Synonyms) {
        self.templates = templates
        self.synonyms = synonyms
    }

    /// The names each class is prompted with, in vocabulary order.
    public func names(for vocabulary: Vocabulary) -> [[String]] {
        vocabulary.classes.map { synonyms == .first ? [$0.name] : $0.synonyms }
    }

    func validate() throws {
        guard !templates.isEmpty, templates.allSatisfy({ $0.contains("{}") }) else {
            throw VocaSegError(.model, "every prompt template must contain {} (got \(templates))")
        }
    }
}

/// Unit text embeddings of a vocabulary: one row per prompted name, grouped by class.
public struct TextEmbeddingRows: @unchecked Sendable {
    /// [R, E], unit rows.
    public var embeddings: Tensor
    /// Row ranges of each class, in vocabulary order (one row each under `Synonyms.first`).
    public var groups: [Range<Int>]

    public init(embeddings: Tensor, groups: [Range<Int>]) {
        self.embeddings = embeddings
        self.groups = groups
    }

    /// Groups of the given sizes laid out one after another.
    static func groups(sizes: [Int]) -> [Range<Int>] {
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return start..<(start + n)
        }
    }
}

/// Classes × synonyms × templates through a CLIP text tower into averaged unit rows, with a disk cache.
///
/// Each prompt is encoded and L2-normalised; the rows of one name are averaged over the templates and normalised
/// again (as the reference implementations' prompt ensembles do). With a single template the normalised row is
/// used as is: averaging one row and normalising it a second time would change its last bits, and ERR-Seg's
/// numbers must not move.
public final class PromptEnsembleEncoder: @unchecked Sendable {
    let text: CLIPTextTransformer
    let tokenizer: CLIPTokenizer
    public let ensemble: PromptEnsemble
    /// Where encoded vocabularies are kept between runs (nil: always compute).
    public var cache: TextEmbeddingCache?

    init(text: CLIPTextTransformer, tokenizer: CLIPTokenizer, ensemble: PromptEnsemble) throws {
        try ensemble.validate()
        self.text = text
        self.tokenizer = tokenizer
        self.ensemble = ensemble
    }

    /// The vocabulary's rows and whether they came from the cache.
    public func encode(_ vocabulary: Vocabulary) throws -> (rows: TextEmbeddingRows, cached: Bool) {
        let names = ensemble.names(for: vocabulary)
        let width = text.textProjection.shape[1]
        if let hit = cache?.load(templates: ensemble.templates, names: names, width: width) { return (hit, true) }
        let flat = names.flatMap { $0 }
        let templates = ensemble.templates
        let prompts = flat.flatMap { name in templates.map { $0.replacingOccurrences(of: "{}", with: name) } }
        let tokens = prompts.map { tokenizer.tokenize($0, contextLength: text.contextLength) }
        let unit = RowNormalization.unitRows(try text.encode(tokens: tokens))
        let rows = templates.count == 1 ? unit : Self.averaged(unit, every: templates.count)
        let result = TextEmbeddingRows(embeddings: rows, groups: TextEmbeddingRows.groups(sizes: names.map(\.count)))
        cache?.store(result, templates: templates, names: names)
        return (result, false)
    }

    /// Means of consecutive runs of `n` rows of [R·n, E], normalised: [R, E].
    static func averaged(_ x: Tensor, every n: Int) -> Tensor {
        let e = x.shape[1], r = x.shape[0] / n
        let mean = Tensor(zeros: [r, e])
        for i in 0..<r {
            let dst = mean.data + i * e
            for t in 0..<n {
                let src = x.data + (i * n + t) * e
                for j in 0..<e { dst[j] += src[j] }
            }
            for j in 0..<e { dst[j] /= Float(n) }
        }
        return RowNormalization.unitRows(mean)
    }
}
