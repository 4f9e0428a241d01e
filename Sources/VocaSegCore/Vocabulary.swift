import Foundation

/// The class names a user asks for, in order. Class index `i` in every label map refers to `classes[i]`.
///
/// A class may carry synonyms (`"sofa, couch"` on one line of a vocabulary file); the models use the first one
/// in the text prompt, as ERR-Seg's official code does, and outputs name the class by it too.
public struct Vocabulary: Sendable, Equatable, Hashable {
    public struct Class: Sendable, Equatable, Hashable {
        /// All spellings, first one preferred; never empty.
        public var synonyms: [String]
        public var name: String { synonyms[0] }
        public init(synonyms: [String]) { self.synonyms = synonyms }
    }

    public var classes: [Class]
    public var names: [String] { classes.map(\.name) }
    public var count: Int { classes.count }

    public init(classes: [Class]) throws {
        guard !classes.isEmpty else { throw VocaSegError(.usage, "the vocabulary is empty: give at least one class") }
        var seen: [String: Int] = [:]
        var duplicates: [String] = []
        for c in classes {
            let key = c.name.lowercased()
            if seen[key] != nil, !duplicates.contains(c.name) { duplicates.append(c.name) }
            seen[key, default: 0] += 1
        }
        guard duplicates.isEmpty else {
            throw VocaSegError(.usage, "the vocabulary names a class more than once: \(duplicates.joined(separator: ", "))")
        }
        self.classes = classes
    }

    /// `--classes "person, car, road"`: commas separate classes.
    public init(commaSeparated text: String) throws {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if names.contains(where: \.isEmpty), !names.allSatisfy(\.isEmpty) {
            throw VocaSegError(.usage, "the class list \"\(text)\" has an empty name between commas")
        }
        try self.init(classes: names.filter { !$0.isEmpty }.map { Class(synonyms: [$0]) })
    }

    /// A vocabulary file: one class per line; `a, b` on a line gives synonyms of one class; blank lines and lines
    /// starting with `#` are skipped.
    public init(fileContents text: String, path: String) throws {
        var classes: [Class] = []
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let synonyms = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if !synonyms.isEmpty { classes.append(Class(synonyms: synonyms)) }
        }
        do { try self.init(classes: classes) } catch var error as VocaSegError {
            error.path = path
            throw error
        }
    }
}
