import Foundation

/// The class names a user asks for, in order. Class index `i` in every label map refers to `classes[i]`.
///
/// A class may carry synonyms (`"sofa, couch"` on one line of a vocabulary file); the models use the first one
/// in the text prompt, as ERR-Seg's official code does, and outputs name the class by it too.
///
/// Every class is a thing (countable: instances get their own segments and track ids) or stuff (one segment per
/// class). A trailing `[thing]` or `[stuff]` marker on a class decides it (`road, street [stuff]`); without one,
/// the class's names are looked up in the COCO panoptic, ADE20K-150 and Cityscapes metadata; anything else is a
/// thing.
public struct Vocabulary: Sendable, Equatable, Hashable {
    public struct Class: Sendable, Equatable, Hashable {
        /// All spellings, first one preferred; never empty.
        public var synonyms: [String]
        public var name: String { synonyms[0] }
        public var isThing: Bool
        /// `isThing` nil: from the known datasets by name, else thing.
        public init(synonyms: [String], isThing: Bool? = nil) {
            self.synonyms = synonyms
            self.isThing = isThing ?? ThingStuffMarker.knownKind(of: synonyms) ?? true
        }
    }

    public var classes: [Class]
    public var names: [String] { classes.map(\.name) }
    public var count: Int { classes.count }

    /// Two classes of the same name (compared case-insensitively) are an error here.
    public init(classes: [Class]) throws {
        try self.init(classes: classes, allowingRepeatedNames: false)
    }

    /// `allowingRepeatedNames`: whether two classes may have the same name (compared case-insensitively). A typed
    /// list refuses it (most likely a typo); a vocabulary file allows it, because benchmark lists do it on purpose
    /// (ADE-847 has two `screen` classes, a CRT and a projection screen): each stays its own class, with its own
    /// index, text embedding and colour.
    public init(classes: [Class], allowingRepeatedNames: Bool) throws {
        guard !classes.isEmpty else { throw VocaSegError(.usage, "the vocabulary is empty: give at least one class") }
        if !allowingRepeatedNames {
            let repeated = Self.repeatedNames(classes)
            guard repeated.isEmpty else {
                throw VocaSegError(.usage, "the vocabulary names a class more than once: \(repeated.joined(separator: ", "))")
            }
        }
        self.classes = classes
    }

    /// Names given to more than one class, compared case-insensitively: each once, spelt as at its first repeat,
    /// in the order of the first repeats. Empty for a typed list (`init(commaSeparated:)` refuses repeats).
    public var repeatedNames: [String] { Self.repeatedNames(classes) }

    static func repeatedNames(_ classes: [Class]) -> [String] {
        var seen: Set<String> = []
        var reported: Set<String> = []
        var repeated: [String] = []
        for c in classes {
            let key = c.name.lowercased()
            if !seen.insert(key).inserted, reported.insert(key).inserted { repeated.append(c.name) }
        }
        return repeated
    }

    /// `--classes "person, car, road"`: commas separate classes.
    public init(commaSeparated text: String) throws {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if names.contains(where: \.isEmpty), !names.allSatisfy(\.isEmpty) {
            throw VocaSegError(.usage, "the class list \"\(text)\" has an empty name between commas")
        }
        let classes = try names.filter { !$0.isEmpty }.map { item -> Class in
            let name: String, marker: Bool?
            do { (name, marker) = try ThingStuffMarker.split(item) } catch var error as VocaSegError {
                // On the command line a bad marker is a usage error, not a bad input file.
                error.kind = .usage
                throw error
            }
            guard !name.isEmpty else { throw VocaSegError(.usage, "the class list has a marker without a name: \(item)") }
            return Class(synonyms: [name], isThing: marker)
        }
        try self.init(classes: classes)
    }

    /// A vocabulary file: one class per line; `a, b` on a line gives synonyms of one class; a trailing `[thing]`
    /// or `[stuff]` sets the kind; blank lines and lines starting with `#` are skipped. Two lines with the same
    /// name are two classes (see `repeatedNames`).
    public init(fileContents text: String, path: String) throws {
        var classes: [Class] = []
        do {
            for (number, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
                let trimmed = raw.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                let line: String, marker: Bool?
                do { (line, marker) = try ThingStuffMarker.split(trimmed) } catch var error as VocaSegError {
                    error.message = "line \(number + 1): \(error.message)"
                    throw error
                }
                let synonyms = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
                if synonyms.isEmpty {
                    throw VocaSegError(.input, "line \(number + 1): a [thing]/[stuff] marker without a class name")
                }
                classes.append(Class(synonyms: synonyms, isThing: marker))
            }
            try self.init(classes: classes, allowingRepeatedNames: true)
        } catch var error as VocaSegError {
            error.path = path
            throw error
        }
    }
}
