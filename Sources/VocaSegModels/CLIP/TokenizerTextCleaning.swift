import Foundation

/// open_clip's `_clean_lower`: `whitespace_clean(basic_clean(text)).lower()`, where `basic_clean` is
/// `ftfy.fix_text`, `html.unescape` twice and `strip`. Works on Unicode scalars throughout because Python strings are
/// sequences of code points (Swift's `Character`s and `==` would merge canonically equivalent spellings).
///
/// ftfy is reproduced for the fixers that change well-formed text — HTML references (see TokenizerHTMLUnescape),
/// C1 controls, Latin ligatures, full/half-width forms, curly quotes, line breaks, terminal escapes, control
/// characters, NFC — applied per line until nothing changes, as `ftfy.fix_text` does (ftfy 6.3.1). Not reproduced:
/// ftfy's mojibake repair (`fix_encoding`: "cafÃ©" → "café"), which only fires on text that was decoded with the
/// wrong encoding; such text is tokenized as written (TokenizerTests records it as a known issue).
/// Case mappings and normalisation come from Swift's and Foundation's Unicode tables, open_clip's from Python 3.11's
/// (Unicode 14): characters assigned after Unicode 14 may be treated differently.
enum TokenizerTextCleaning {
    static func cleanAndLowercase(_ text: String) -> [Unicode.Scalar] {
        var scalars = ftfyFixText(Array(text.unicodeScalars))
        scalars = TokenizerHTMLUnescape.pythonUnescape(TokenizerHTMLUnescape.pythonUnescape(scalars))
        return pythonLowercase(collapseWhitespace(scalars))
    }

    // MARK: ftfy

    /// `ftfy.fix_text`: lines are fixed independently; once a line contains "<" (real HTML), entity decoding is
    /// switched off for it and every later line.
    static func ftfyFixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var unescapeHTML = true
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count, text[end] != "\n" { end += 1 }
            end = min(end + 1, text.count)
            let segment = Array(text[start..<end])
            if unescapeHTML, segment.contains("<") { unescapeHTML = false }
            out.append(contentsOf: fixSegment(segment, unescapeHTML: unescapeHTML))
            start = end
        }
        return out
    }

    /// `ftfy.fix_and_explain` without `fix_encoding`: the fixers in ftfy's order, repeated until a fixed point.
    private static func fixSegment(_ segment: [Unicode.Scalar], unescapeHTML: Bool) -> [Unicode.Scalar] {
        var text = segment
        while true {
            let original = text
            if unescapeHTML { text = TokenizerHTMLUnescape.ftfyUnescape(text) }
            text = mapScalars(text, fixC1ControlLigatureWidthQuote)
            text = fixLineBreaks(text)
            text = removeTerminalEscapes(text)
            text = text.filter { !isRemovedControl($0.value) }
            text = nfc(text)
            if text == original { return text }
        }
    }

    private static func mapScalars(
        _ text: [Unicode.Scalar], _ transform: (Unicode.Scalar) -> [Unicode.Scalar]?
    ) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for s in text {
            if let replacement = transform(s) { out.append(contentsOf: replacement) } else { out.append(s) }
        }
        return out
    }

    /// ftfy's `fix_c1_controls`, `fix_latin_ligatures`, `fix_character_width` and `uncurl_quotes`, which each map
    /// single scalars of disjoint ranges. Where one's output is another's input (U+0092 → ’ → ', ŉ → ʼn → 'n) ftfy
    /// finishes in the same round and this pass in the next; the fixed point is the same.
    private static func fixC1ControlLigatureWidthQuote(_ s: Unicode.Scalar) -> [Unicode.Scalar]? {
        let v = s.value
        if v < 0x80 { return nil }
        if v <= 0x9F, let windows1252 = TokenizerHTMLUnescape.remappedCharacterReferences[v] {
            return [Unicode.Scalar(windows1252)!]
        }
        if let ligature = latinLigatures[v] { return Array(ligature.unicodeScalars) }
        if v == 0x3000 { return [" "] }
        if (0xFF01...0xFFEF).contains(v) { return widthForms[v] }
        if v == 0x02BC || (0x2018...0x201B).contains(v) { return ["'"] }
        if (0x201C...0x201F).contains(v) { return ["\""] }
        return nil
    }

    /// ftfy's LIGATURES table: Latin typographic ligatures and legacy digraphs (not æ/œ, which are letters).
    private static let latinLigatures: [UInt32: String] = [
        0x0132: "IJ", 0x0133: "ij", 0x0149: "\u{02BC}n", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz",
        0x01C4: "D\u{017D}", 0x01C5: "D\u{017E}", 0x01C6: "d\u{017E}", 0x01C7: "LJ", 0x01C8: "Lj", 0x01C9: "lj",
        0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj", 0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi",
        0xFB04: "ffl", 0xFB05: "\u{017F}t", 0xFB06: "st",
    ]

    /// ftfy's width map: every scalar of the Halfwidth and Fullwidth Forms block whose NFKC form differs.
    private static let widthForms: [UInt32: [Unicode.Scalar]] = {
        var table: [UInt32: [Unicode.Scalar]] = [:]
        for v in UInt32(0xFF01)...0xFFEF {
            guard let scalar = Unicode.Scalar(v) else { continue }
            let original = String(String.UnicodeScalarView([scalar]))
            let compatible = Array(original.precomposedStringWithCompatibilityMapping.unicodeScalars)
            if compatible != [scalar] { table[v] = compatible }
        }
        return table
    }()

    /// ftfy's `fix_line_breaks`: CRLF, CR, U+2028, U+2029 and U+0085 become "\n".
    private static func fixLineBreaks(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains(where: { ["\r", "\u{2028}", "\u{2029}", "\u{85}"].contains($0) }) else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            let s = text[i]
            if s == "\r", i + 1 < text.count, text[i + 1] == "\n" {
                out.append("\n"); i += 2; continue
            }
            out.append(["\r", "\u{2028}", "\u{2029}", "\u{85}"].contains(s) ? "\n" : s)
            i += 1
        }
        return out
    }

    /// ftfy's `remove_terminal_escapes`: `ESC [ (digits|;)* letter`, where Python's `\d` is any decimal digit.
    private static func removeTerminalEscapes(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("\u{1B}") else { return text }
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < text.count {
            if text[i] == "\u{1B}", i + 1 < text.count, text[i + 1] == "[" {
                var j = i + 2
                while j < text.count, text[j] == ";" || text[j].properties.numericType == .decimal { j += 1 }
                if j < text.count, text[j].isASCII, text[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(text[i])
            i += 1
        }
        return out
    }

    /// ftfy's `remove_control_chars`: C0 controls other than \t \n \f \r, DEL, deprecated Arabic format
    /// controls, the BOM and interlinear annotation/object replacement characters.
    private static func isRemovedControl(_ v: UInt32) -> Bool {
        switch v {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    /// Unicode NFC. Scalars below U+0300 neither decompose nor combine, so such text is already NFC.
    private static func nfc(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if text.allSatisfy({ $0.value < 0x300 }) { return text }
        let string = String(String.UnicodeScalarView(text))
        return Array(string.precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    // MARK: whitespace and case

    /// Python's `str.isspace` (Unicode White_Space plus the information separators U+001C…U+001F).
    static func isPythonWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default: return false
        }
    }

    /// `" ".join(text.split())` (which also strips).
    static func collapseWhitespace(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var pendingSpace = false
        for s in text {
            if isPythonWhitespace(s) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(s)
            }
        }
        return out
    }

    /// Python's `str.lower()`: full lower-case mappings (İ → i̇) and the Final_Sigma rule (Σ at the end of a word
    /// becomes ς), which Swift's `lowercased()` does not apply.
    static func pythonLowercase(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for (i, s) in text.enumerated() {
            if s.isASCII {
                out.append(("A"..."Z").contains(s) ? Unicode.Scalar(s.value + 32)! : s)
            } else if s == "\u{03A3}" {
                out.append(isFinalSigma(text, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    /// Final_Sigma: a cased letter before (skipping case-ignorables) and none after (skipping case-ignorables).
    private static func isFinalSigma(_ text: [Unicode.Scalar], at index: Int) -> Bool {
        var j = index - 1
        while j >= 0, text[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0, text[j].properties.isCased else { return false }
        j = index + 1
        while j < text.count, text[j].properties.isCaseIgnorable { j += 1 }
        return j == text.count || !text[j].properties.isCased
    }
}
