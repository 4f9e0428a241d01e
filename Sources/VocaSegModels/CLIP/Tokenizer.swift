import Foundation
import VocaSegCore

/// CLIP's byte-level BPE tokenizer, giving the same ids as open_clip's `SimpleTokenizer` / `open_clip.tokenize`
/// (checked against open_clip 3.3.0 with ftfy 6.3.1; see TokenizerTests).
///
/// Text is cleaned as open_clip does (TokenizerTextCleaning), split into pieces (TokenizerPreTokenizer), each
/// piece's UTF-8 bytes become symbols and the ranked merges are applied; the last symbol of a piece carries `</w>`.
/// Vocabulary: 256 byte symbols, the same with `</w>` (ids 256…511), one id per merge (512 + rank), then
/// `<start_of_text>` = 49406 and `<end_of_text>` = 49407.
///
/// Thread-safe: the per-piece cache is guarded by a lock, so one tokenizer can serve concurrent callers.
public final class CLIPTokenizer: @unchecked Sendable {
    public static let startOfTextID: Int32 = 49406
    public static let endOfTextID: Int32 = 49407
    public static let defaultContextLength = 77
    /// The vocabulary file's name, inside `<model directory>/clip/`.
    public static let vocabularyFileName = "bpe_simple_vocab_16e6.txt.gz"

    /// How many merges were loaded (48,894 for CLIP's vocabulary).
    public let mergeCount: Int

    /// Symbol id of each byte, by byte value.
    private let byteSymbol: [Int32]
    /// (left symbol << 32 | right symbol) → (rank << 32 | merged symbol).
    private let mergeTable: [UInt64: UInt64]
    /// BPE result per piece (keyed by the piece's UTF-8 bytes): pieces repeat a lot across class names and prompts.
    private var cache: [TokenizerBytes: [Int32]] = [:]
    private let cacheLock = NSLock()

    /// Loads the merges from the gzip-compressed vocabulary file; throws `VocaSegError(.model)` naming the file when
    /// it is missing or corrupt.
    public init(vocabularyPath: String) throws {
        let file = try TokenizerVocabularyFile(path: vocabularyPath)

        // open_clip's byte → unicode table: printable Latin-1 bytes keep their code point, the other 68 bytes are
        // given U+0100… in byte order. The vocabulary lists the symbols in that order: printable ones first.
        var printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let printableSet = Set(printable)
        var codePoints = printable
        var next = 256
        for byte in 0..<256 where !printableSet.contains(byte) {
            printable.append(byte)
            codePoints.append(next)
            next += 1
        }
        var byteSymbol = [Int32](repeating: 0, count: 256)
        // Symbols as UTF-8 bytes, in id order.
        var vocabulary: [[UInt8]] = []
        vocabulary.reserveCapacity(512 + file.merges.count + 2)
        for (index, byte) in printable.enumerated() {
            byteSymbol[byte] = Int32(index)
            vocabulary.append(Array(String(Character(Unicode.Scalar(UInt32(codePoints[index]))!)).utf8))
        }
        vocabulary += vocabulary.map { $0 + Array("</w>".utf8) }
        for (left, right) in file.merges { vocabulary.append(Array(left) + Array(right)) }
        vocabulary += [Self.startOfTextBytes, Self.endOfTextBytes]

        // As in Python's dict(zip(vocab, range(...))), a symbol listed twice keeps its last id. Keys are the UTF-8
        // bytes: Python compares code points, which Swift String equality (canonical equivalence) would not.
        var symbolID: [TokenizerBytes: Int32] = [:]
        symbolID.reserveCapacity(vocabulary.count)
        var supersededBy: [Int32: Int32] = [:]
        for (id, symbol) in vocabulary.enumerated() {
            if let earlier = symbolID.updateValue(Int32(id), forKey: TokenizerBytes(symbol)) {
                supersededBy[earlier] = Int32(id)
            }
        }
        guard vocabulary.count == Int(Self.endOfTextID) + 1,
              symbolID[TokenizerBytes(Self.endOfTextBytes)] == Self.endOfTextID else {
            throw VocaSegError(.model, "the CLIP tokenizer vocabulary does not give the 49,408 ids CLIP expects",
                               path: vocabularyPath)
        }

        var mergeTable: [UInt64: UInt64] = [:]
        mergeTable.reserveCapacity(file.merges.count)
        for (rank, (left, right)) in file.merges.enumerated() {
            // A half that is no symbol can never be formed, so that merge can never apply (as in open_clip).
            guard let l = symbolID[TokenizerBytes(Array(left))], let r = symbolID[TokenizerBytes(Array(right))]
            else { continue }
            var merged = Int32(512 + rank)
            while let later = supersededBy[merged] { merged = later }
            mergeTable[Self.pairKey(l, r)] = UInt64(rank) << 32 | UInt64(UInt32(merged))
        }
        self.mergeCount = file.merges.count
        self.byteSymbol = byteSymbol
        self.mergeTable = mergeTable
    }

    /// `$VOCASEG_MODELS/clip/bpe_simple_vocab_16e6.txt.gz`, the model directory defaulting to
    /// `${XDG_DATA_HOME:-~/.local/share}/vocaseg/models` as in Scripts/setup.sh.
    public static func defaultVocabularyPath(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String {
        let modelDirectory: String
        if let models = environment["VOCASEG_MODELS"], !models.isEmpty {
            modelDirectory = models
        } else {
            let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share"
            modelDirectory = dataHome + "/vocaseg/models"
        }
        return modelDirectory + "/clip/" + vocabularyFileName
    }

    /// The token ids of `text`, without start/end tokens or padding (open_clip's `SimpleTokenizer.encode`).
    public func encode(_ text: String) -> [Int32] {
        let cleaned = TokenizerTextCleaning.cleanAndLowercase(text)
        var ids: [Int32] = []
        for piece in TokenizerPreTokenizer.split(cleaned) {
            var bytes: [UInt8] = []
            for scalar in cleaned[piece] { bytes.append(contentsOf: UTF8.encode(scalar)!) }
            ids.append(contentsOf: bpe(bytes))
        }
        return ids
    }

    /// `contextLength` ids: start token, the text's ids, end token, zeros. Text too long is cut and the last kept
    /// position becomes the end token, as open_clip does.
    public func tokenize(_ text: String, contextLength: Int = CLIPTokenizer.defaultContextLength) -> [Int32] {
        precondition(contextLength > 0, "a context length must be positive")
        var ids = [Self.startOfTextID] + encode(text) + [Self.endOfTextID]
        if ids.count > contextLength {
            ids.removeLast(ids.count - contextLength)
            ids[contextLength - 1] = Self.endOfTextID
        }
        ids += [Int32](repeating: 0, count: contextLength - ids.count)
        return ids
    }

    /// `tokenize` for each text, rows concatenated (`texts.count × contextLength`, row-major) for a text encoder.
    public func tokenize(_ texts: [String], contextLength: Int = CLIPTokenizer.defaultContextLength) -> [Int32] {
        var rows: [Int32] = []
        rows.reserveCapacity(texts.count * contextLength)
        for text in texts { rows += tokenize(text, contextLength: contextLength) }
        return rows
    }

    /// The position of the end token in one row of `tokenize`'s output: CLIP's text encoder pools there. open_clip
    /// takes the argmax of the ids (the end token has the largest id); this is the first position of the maximum.
    public static func eotIndex<C: Collection>(_ ids: C) -> Int where C.Element == Int32 {
        var best = 0
        var bestValue = Int32.min
        for (position, id) in ids.enumerated() where id > bestValue {
            best = position
            bestValue = id
        }
        return best
    }

    // MARK: BPE

    private func bpe(_ bytes: [UInt8]) -> [Int32] {
        let key = TokenizerBytes(bytes)
        cacheLock.lock()
        let cached = cache[key]
        cacheLock.unlock()
        if let cached { return cached }
        let ids = mergeSymbols(bytes)
        cacheLock.lock()
        cache[key] = ids
        cacheLock.unlock()
        return ids
    }

    private static let startOfTextBytes = Array("<start_of_text>".utf8)
    private static let endOfTextBytes = Array("<end_of_text>".utf8)

    /// open_clip's `bpe`: repeatedly merge every occurrence of the adjacent pair with the lowest rank.
    private func mergeSymbols(_ bytes: [UInt8]) -> [Int32] {
        // The special tokens are pre-seeded in open_clip's cache, so typing them in text yields their ids.
        if bytes == Self.startOfTextBytes { return [Self.startOfTextID] }
        if bytes == Self.endOfTextBytes { return [Self.endOfTextID] }

        var word = bytes.map { byteSymbol[Int($0)] }
        word[word.count - 1] += 256  // the `</w>` variant of the last byte
        var merged: [Int32] = []
        merged.reserveCapacity(word.count)
        while word.count > 1 {
            var bestRank = UInt64.max
            var bestLeft: Int32 = 0
            var bestRight: Int32 = 0
            var bestMerged: Int32 = 0
            for k in 0..<(word.count - 1) {
                guard let entry = mergeTable[Self.pairKey(word[k], word[k + 1])] else { continue }
                let rank = entry >> 32
                if rank < bestRank {
                    bestRank = rank
                    bestLeft = word[k]
                    bestRight = word[k + 1]
                    bestMerged = Int32(truncatingIfNeeded: entry & 0xFFFF_FFFF)
                }
            }
            if bestRank == UInt64.max { break }
            merged.removeAll(keepingCapacity: true)
            var k = 0
            while k < word.count {
                if k + 1 < word.count, word[k] == bestLeft, word[k + 1] == bestRight {
                    merged.append(bestMerged)
                    k += 2
                } else {
                    merged.append(word[k])
                    k += 1
                }
            }
            swap(&word, &merged)
        }
        return word
    }

    @inline(__always)
    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }
}

/// UTF-8 bytes as a dictionary key, hashed in one block (an `[UInt8]` key hashes byte by byte) and compared
/// exactly (a `String` key would compare by canonical equivalence, Python's by code point).
struct TokenizerBytes: Hashable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    static func == (a: TokenizerBytes, b: TokenizerBytes) -> Bool {
        a.bytes.count == b.bytes.count && a.bytes.withUnsafeBytes { x in b.bytes.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}
