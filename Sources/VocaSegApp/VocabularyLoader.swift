import Foundation
import VocaSegCore

enum VocabularyLoader {
    /// The vocabulary from `--classes` or `--vocab FILE`.
    static func load(classes: String?, file: String?) throws -> Vocabulary {
        if let classes { return try Vocabulary(commaSeparated: classes) }
        guard let file else { throw VocaSegError(.usage, "no vocabulary given") }
        guard FileManager.default.fileExists(atPath: file) else {
            throw VocaSegError(.input, "vocabulary file does not exist", path: file)
        }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw VocaSegError(.input, "vocabulary file cannot be read", path: file)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw VocaSegError(.input, "vocabulary file is not UTF-8 text", path: file)
        }
        if file.lowercased().hasSuffix(".json") {
            // A JSON list of class names, as ERR-Seg's and CAT-Seg's datasets/*.json; "a, b" entries are synonyms.
            guard let list = try? JSONSerialization.jsonObject(with: data) as? [String] else {
                throw VocaSegError(.input, "vocabulary JSON must be a list of class-name strings", path: file)
            }
            return try Vocabulary(fileContents: list.joined(separator: "\n"), path: file)
        }
        return try Vocabulary(fileContents: text, path: file)
    }

    /// One-line notices about a loaded vocabulary: a file that names several classes alike (ADE-847's two
    /// `screen`s) keeps each as its own class, and says so once. `file`: where it came from (nil: `--classes`,
    /// which refuses repeated names).
    static func notices(for vocabulary: Vocabulary, file: String?) -> [String] {
        let repeated = vocabulary.repeatedNames
        guard !repeated.isEmpty else { return [] }
        let shown = 12
        var list = repeated.prefix(shown).joined(separator: ", ")
        if repeated.count > shown { list += ", … \(repeated.count - shown) more" }
        let entry = file?.lowercased().hasSuffix(".json") == true ? "entry" : "line"
        let count = repeated.count == 1 ? "1 name appears" : "\(repeated.count) names appear"
        return ["\(file ?? "vocabulary"): \(count) more than once (\(list)); each \(entry) stays its own class"]
    }
}
