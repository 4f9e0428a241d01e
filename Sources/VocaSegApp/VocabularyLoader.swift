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
}
