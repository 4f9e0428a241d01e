/// The `[thing]` / `[stuff]` marker that may end a vocabulary entry, and the fallback to known dataset metadata.
enum ThingStuffMarker {
    /// Splits `"road, street [stuff]"` into `("road, street", false)`. No marker gives nil; a bracketed word that
    /// is neither marker is an error, so a typo such as `[stuf]` is not silently read as a class name.
    static func split(_ entry: String) throws -> (names: String, isThing: Bool?) {
        let text = entry.trimmingCharacters(in: .whitespaces)
        guard text.hasSuffix("]"), let open = text.lastIndex(of: "[") else { return (text, nil) }
        let word = text[text.index(after: open)..<text.index(before: text.endIndex)]
            .trimmingCharacters(in: .whitespaces).lowercased()
        let names = String(text[..<open]).trimmingCharacters(in: .whitespaces)
        switch word {
        case "thing": return (names, true)
        case "stuff": return (names, false)
        default:
            throw VocaSegError(.input, "unknown class marker [\(word)] after \"\(names)\": use [thing] or [stuff]")
        }
    }

    /// The kind the COCO panoptic, ADE20K-150 or Cityscapes metadata gives the first of `synonyms` it knows.
    static func knownKind(of synonyms: [String]) -> Bool? {
        for name in synonyms {
            let key = name.lowercased().trimmingCharacters(in: .whitespaces)
            if KnownClassKinds.things.contains(key) { return true }
            if KnownClassKinds.stuff.contains(key) { return false }
        }
        return nil
    }
}
