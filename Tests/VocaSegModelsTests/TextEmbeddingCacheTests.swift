import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The on-disk text-embedding cache, on the tiny ERR-Seg model: the first prepare computes and stores, the next
/// one (a fresh model, as in a new run) reads back exactly the reference embeddings without running the encoder.
@Suite(.serialized) struct TextEmbeddingCacheTests {
    func freshModel(cache: String) throws -> ERRSegModel {
        let model = try ERRSegModel.load(
            checkpointPath: ERRSegGoldens.tinyDirectory.appendingPathComponent("errseg_tiny.pth").path,
            config: try ERRSegGoldens.config(), tokenizer: try CLIPTokenizer(vocabularyPath: ERRSegGoldens.tokenizerPath))
        let checkpoint = ERRSegGoldens.tinyDirectory.appendingPathComponent("errseg_tiny.pth").path
        model.textEmbeddingCache = TextEmbeddingCache(
            directory: cache, weightsIdentity: TextEmbeddingCache.fileIdentity(path: checkpoint, cacheDirectory: cache))
        return model
    }

    @Test func aSecondRunReadsTheEmbeddingsBack() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-tec-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vocabulary = try ERRSegGoldens.vocabulary()

        let first = try freshModel(cache: dir)
        try first.prepare(vocabulary: vocabulary)
        #expect(!first.lastPrepareUsedCache)
        let second = try freshModel(cache: dir)
        try second.prepare(vocabulary: vocabulary)
        #expect(second.lastPrepareUsedCache)
        let cached = try #require(second.currentTextEmbeddings)
        try ERRSegGoldens.expectClose(cached, "text_embed", tolerance: 1e-5)

        // Another vocabulary (one class renamed) is another key.
        var classes = vocabulary.classes
        classes[0] = Vocabulary.Class(synonyms: ["zebra crossing"])
        let third = try freshModel(cache: dir)
        try third.prepare(vocabulary: try Vocabulary(classes: classes))
        #expect(!third.lastPrepareUsedCache)
    }

    @Test func aDamagedCacheFileIsIgnoredAndRewritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-tec-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vocabulary = try ERRSegGoldens.vocabulary()
        try freshModel(cache: dir).prepare(vocabulary: vocabulary)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".bin") {
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(name)))
        }
        let model = try freshModel(cache: dir)
        try model.prepare(vocabulary: vocabulary)
        #expect(!model.lastPrepareUsedCache)
        try ERRSegGoldens.expectClose(try #require(model.currentTextEmbeddings), "text_embed", tolerance: 1e-5)
        let again = try freshModel(cache: dir)
        try again.prepare(vocabulary: vocabulary)
        #expect(again.lastPrepareUsedCache)
    }

    @Test func theWeightsIdentityFollowsTheFileContent() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-tec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.bin"), b = dir.appendingPathComponent("b.bin")
        try Data(repeating: 7, count: 1000).write(to: a)
        try Data(repeating: 7, count: 1000).write(to: b)
        let ia = TextEmbeddingCache.fileIdentity(path: a.path, cacheDirectory: dir.path)
        #expect(ia.hasPrefix("fnv:"))
        #expect(ia == TextEmbeddingCache.fileIdentity(path: b.path, cacheDirectory: dir.path))
        var changed = Data(repeating: 7, count: 1000)
        changed[500] = 8
        try changed.write(to: b)
        #expect(ia != TextEmbeddingCache.fileIdentity(path: b.path, cacheDirectory: dir.path))
    }

    @Test func aPromptEnsembleAveragesTemplatesPerSynonymAndCachesEveryRow() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vocaseg-tec-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try freshModel(cache: dir)
        let tokenizer = try CLIPTokenizer(vocabularyPath: ERRSegGoldens.tokenizerPath)
        let templates = ["a photo of a {}.", "a {} in the scene"]
        let vocabulary = try Vocabulary(classes: [.init(synonyms: ["sofa", "couch", "settee"]), .init(synonyms: ["sky"])])
        let encoder = try PromptEnsembleEncoder(text: model.text, tokenizer: tokenizer,
                                                ensemble: PromptEnsemble(templates: templates, synonyms: .all))
        encoder.cache = model.textEmbeddingCache
        let (rows, cached) = try encoder.encode(vocabulary)
        #expect(!cached && rows.groups == [0..<3, 3..<4] && rows.embeddings.shape == [4, 32])
        // Row 1 ("couch") is the normalised mean of its two normalised template rows.
        let single = RowNormalization.unitRows(try model.text.encode(tokens: templates.map {
            tokenizer.tokenize($0.replacingOccurrences(of: "{}", with: "couch"), contextLength: 77)
        })).toArray()
        let mean = (0..<32).map { (single[$0] + single[32 + $0]) / 2 }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let row = Array(rows.embeddings.toArray()[32..<64])
        #expect(zip(row, mean).allSatisfy { abs($0 - $1 / norm) < 1e-6 })
        // A second encoder finds all four rows, with their groups, in the cache.
        let again = try PromptEnsembleEncoder(text: model.text, tokenizer: tokenizer,
                                              ensemble: PromptEnsemble(templates: templates, synonyms: .all))
        again.cache = model.textEmbeddingCache
        let (back, hit) = try again.encode(vocabulary)
        #expect(hit && back.groups == rows.groups && back.embeddings.toArray() == rows.embeddings.toArray())
        // Other templates are another key.
        let other = try PromptEnsembleEncoder(text: model.text, tokenizer: tokenizer,
                                              ensemble: PromptEnsemble(templates: ["{}"], synonyms: .all))
        other.cache = model.textEmbeddingCache
        #expect(try !other.encode(vocabulary).cached)
    }
}
