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

    /// How the unit prompt rows become a class's rows.
    public enum Averaging: String, Sendable {
        /// One row per prompted name: the mean over the templates, normalised (ERR-Seg, EOV-Seg).
        case overTemplates
        /// One row per template and class: the mean over the class's synonyms, normalised; a class with one name
        /// keeps its unit rows as they are (SED's text bank [T, P, E]).
        case overSynonymsPerTemplate
    }

    /// Each contains `{}`, replaced by the name.
    public var templates: [String]
    public var synonyms: Synonyms
    public var averaging: Averaging

    public init(templates: [String], synonyms: Synonyms, averaging: Averaging = .overTemplates) {
        self.templates = templates
        self.synonyms = synonyms
        self.averaging = averaging
    }

    /// Rows each class gets, in vocabulary order.
    func rowCounts(names: [[String]]) -> [Int] {
        switch averaging {
        case .overTemplates: return names.map(\.count)
        case .overSynonymsPerTemplate: return names.map { _ in templates.count }
        }
    }

    /// Distinguishes the cached layouts (empty for the first one, so that existing cache files stay valid).
    var cacheLayout: String { averaging == .overTemplates ? "" : averaging.rawValue }

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

/// Unit text embeddings of a vocabulary, grouped by class: one row per prompted name, or one per template.
public struct TextEmbeddingRows: @unchecked Sendable {
    /// [R, E], unit rows.
    public var embeddings: Tensor
    /// Row ranges of each class, in vocabulary order (one row each under `Synonyms.first`, one per template under
    /// `Averaging.overSynonymsPerTemplate`).
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
        let sizes = ensemble.rowCounts(names: names)
        let layout = ensemble.cacheLayout
        if let hit = cache?.load(templates: ensemble.templates, names: names, width: width, groupSizes: sizes,
                                 layout: layout) {
            return (hit, true)
        }
        let flat = names.flatMap { $0 }
        let templates = ensemble.templates
        let rows: Tensor
        switch ensemble.averaging {
        case .overTemplates:
            let prompts = flat.flatMap { name in templates.map { $0.replacingOccurrences(of: "{}", with: name) } }
            let unit = try encodeUnit(prompts)
            rows = templates.count == 1 ? unit : Self.averaged(unit, every: templates.count)
        case .overSynonymsPerTemplate:
            // Prompts template-major within a class (template p, then its synonyms), so that a class's synonyms
            // of one template are consecutive rows.
            var prompts: [String] = []
            for group in names {
                for t in templates { for name in group { prompts.append(t.replacingOccurrences(of: "{}", with: name)) } }
            }
            let unit = try encodeUnit(prompts)
            rows = Self.averagedPerClass(unit, synonymCounts: names.map(\.count), templates: templates.count)
        }
        let result = TextEmbeddingRows(embeddings: rows, groups: TextEmbeddingRows.groups(sizes: sizes))
        cache?.store(result, templates: templates, names: names, layout: layout)
        return (result, false)
    }

    /// Unit rows of the prompts, encoded in batches (a batch's activations grow with its size; 80 templates over
    /// a large vocabulary are tens of thousands of prompts).
    private func encodeUnit(_ prompts: [String]) throws -> Tensor {
        let e = text.textProjection.shape[1]
        let out = Tensor(uninitializedShape: [prompts.count, e])
        let batch = 4096
        for start in stride(from: 0, to: prompts.count, by: batch) {
            let part = prompts[start..<min(prompts.count, start + batch)]
            let tokens = part.map { tokenizer.tokenize($0, contextLength: text.contextLength) }
            let unit = RowNormalization.unitRows(try text.encode(tokens: tokens))
            (out.data + start * e).update(from: unit.data, count: part.count * e)
        }
        return out
    }

    /// Unit rows laid out class by class, template-major, `synonymCounts[c]` rows per template → [C·P, E]: per
    /// class and template the normalised mean over the synonyms; one synonym keeps its row untouched.
    static func averagedPerClass(_ x: Tensor, synonymCounts: [Int], templates p: Int) -> Tensor {
        let e = x.shape[1]
        let out = Tensor(zeros: [synonymCounts.count * p, e])
        var src = 0
        for (c, m) in synonymCounts.enumerated() {
            for t in 0..<p {
                let dst = out.data + (c * p + t) * e
                if m == 1 {
                    dst.update(from: x.data + src * e, count: e)
                } else {
                    for j in 0..<m {
                        let row = x.data + (src + j) * e
                        for d in 0..<e { dst[d] += row[d] }
                    }
                    var sum: Float = 0
                    for d in 0..<e {
                        dst[d] /= Float(m)
                        sum += dst[d] * dst[d]
                    }
                    let norm = max(sum.squareRoot(), 1e-12)
                    for d in 0..<e { dst[d] /= norm }
                }
                src += m
            }
        }
        return out
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
