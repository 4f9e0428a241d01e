/// Splits cleaned text into the pieces CLIP runs BPE on, as open_clip's pattern does (leftmost alternative wins,
/// case-insensitive):
///
///     <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
///
/// Letters run together, every digit is its own piece, other non-space characters (punctuation, symbols, marks,
/// emoji) run together, and whitespace separates. Categories come from Swift's Unicode tables; open_clip's come from
/// the Python `regex` module's, so a character assigned in a newer Unicode version may be classed differently.
enum TokenizerPreTokenizer {
    private static let alternatives: [[Unicode.Scalar]] = [
        "<start_of_text>", "<end_of_text>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d",
    ].map { Array($0.unicodeScalars) }

    /// The pieces of `text` as ranges of scalar offsets, in order.
    static func split(_ text: [Unicode.Scalar]) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var i = 0
        let n = text.count
        while i < n {
            if text[i] == "'" || text[i] == "<", let literal = alternatives.first(where: { matches($0, in: text, at: i) }) {
                pieces.append(i..<(i + literal.count))
                i += literal.count
                continue
            }
            let kind = Kind(text[i])
            switch kind {
            case .space:
                i += 1
            case .number:
                pieces.append(i..<(i + 1))
                i += 1
            case .letter, .other:
                var end = i + 1
                while end < n, Kind(text[end]) == kind { end += 1 }
                pieces.append(i..<end)
                i = end
            }
        }
        return pieces
    }

    private enum Kind: Equatable {
        case letter, number, space, other

        init(_ s: Unicode.Scalar) {
            if s.isASCII {
                switch s {
                case "a"..."z", "A"..."Z": self = .letter
                case "0"..."9": self = .number
                case " ", "\t", "\n", "\r", "\u{0B}", "\u{0C}": self = .space
                default: self = .other
                }
                return
            }
            switch s.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: self = .letter
            case .decimalNumber, .letterNumber, .otherNumber: self = .number
            default: self = s.properties.isWhitespace ? .space : .other
            }
        }
    }

    /// Case-insensitive literal match with the `regex` module's simple case folding. The text is already lower-case,
    /// so the only fold left to honour among these letters is U+017F LONG S matching "s".
    private static func matches(_ literal: [Unicode.Scalar], in text: [Unicode.Scalar], at start: Int) -> Bool {
        guard start + literal.count <= text.count else { return false }
        for (k, expected) in literal.enumerated() {
            let actual = text[start + k]
            if actual == expected { continue }
            if expected == "s", actual == "\u{017F}" || actual == "S" { continue }
            if ("a"..."z").contains(expected), actual.value == expected.value - 32 { continue }
            return false
        }
        return true
    }
}
