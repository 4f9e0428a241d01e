/// HTML character-reference decoding as open_clip's clean-up does it, in two flavours:
/// - `pythonUnescape`: Python's `html.unescape` (HTML5 rules: numeric references with or without `;`, the
///   Windows-1252 fix-ups of `&#128;`–`&#159;`, legacy names without `;`, longest-prefix matching);
/// - `ftfyUnescape`: ftfy's stricter `unescape_html` (only `&name;`/`&#…;` with the semicolon, plus all-caps names).
///
/// Named references use the full HTML5 table (TokenizerHTMLEntities), so both are exact.
enum TokenizerHTMLUnescape {
    /// HTML5's named references keyed by the name as written after `&` ("amp;", and "amp" for legacy names).
    static let html5: [String: [Unicode.Scalar]] = {
        var table: [String: [Unicode.Scalar]] = [:]
        table.reserveCapacity(TokenizerHTMLEntities.count)
        for line in TokenizerHTMLEntities.table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2 else { continue }
            table[String(fields[0])] = fields[1].split(separator: ",").compactMap {
                UInt32($0, radix: 16).flatMap(Unicode.Scalar.init)
            }
        }
        return table
    }()

    /// ftfy's entity table (keyed by the name with its `;`): HTML5's names that end in `;`, plus the all-caps
    /// spelling of each lower-case name when that spelling is not itself a reference, decoding to the upper-cased
    /// text (`&EACUTE;` → `É`, `&SZLIG;` → `SS`).
    static let ftfyNames: [String: [Unicode.Scalar]] = {
        var table: [String: [Unicode.Scalar]] = [:]
        for (name, value) in html5 where name.hasSuffix(";") {
            table[name] = value
            let upper = name.uppercased()
            guard name == name.lowercased(), upper != name else { continue }
            let reference = Array(("&" + upper).unicodeScalars)
            if pythonUnescape(reference) == reference {
                table[upper] = value.flatMap { $0.properties.uppercaseMapping.unicodeScalars }
            }
        }
        return table
    }()

    /// Python's `html._invalid_charrefs`: numeric references that HTML5 maps elsewhere (mostly Windows-1252).
    /// For U+0080…U+009F this is also the "sloppy Windows-1252" decoding ftfy uses to fix C1 controls.
    static let remappedCharacterReferences: [UInt32: UInt32] = [
        0x00: 0xFFFD, 0x0D: 0x0D, 0x80: 0x20AC, 0x81: 0x81, 0x82: 0x201A, 0x83: 0x0192, 0x84: 0x201E, 0x85: 0x2026,
        0x86: 0x2020, 0x87: 0x2021, 0x88: 0x02C6, 0x89: 0x2030, 0x8A: 0x0160, 0x8B: 0x2039, 0x8C: 0x0152, 0x8D: 0x8D,
        0x8E: 0x017D, 0x8F: 0x8F, 0x90: 0x90, 0x91: 0x2018, 0x92: 0x2019, 0x93: 0x201C, 0x94: 0x201D, 0x95: 0x2022,
        0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02DC, 0x99: 0x2122, 0x9A: 0x0161, 0x9B: 0x203A, 0x9C: 0x0153, 0x9D: 0x9D,
        0x9E: 0x017E, 0x9F: 0x0178,
    ]

    /// Python's `html._invalid_codepoints`: numeric references that decode to nothing.
    private static func decodesToNothing(_ value: UInt32) -> Bool {
        switch value {
        case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F...0x9F, 0xFDD0...0xFDEF: return true
        default: return value & 0xFFFE == 0xFFFE  // U+xFFFE and U+xFFFF of every plane
        }
    }

    /// The text a numeric reference stands for, per `html._replace_charref` (value nil = overflowed, > U+10FFFF).
    private static func numericReference(_ value: UInt32?) -> [Unicode.Scalar] {
        guard let value, value <= 0x10FFFF else { return ["\u{FFFD}"] }
        if let remapped = remappedCharacterReferences[value] { return [Unicode.Scalar(remapped)!] }
        if (0xD800...0xDFFF).contains(value) { return ["\u{FFFD}"] }
        if decodesToNothing(value) { return [] }
        return [Unicode.Scalar(value)!]
    }

    private static func isASCIIDigit(_ s: Unicode.Scalar) -> Bool { ("0"..."9").contains(s) }
    private static func isASCIIHexDigit(_ s: Unicode.Scalar) -> Bool {
        isASCIIDigit(s) || ("a"..."f").contains(s) || ("A"..."F").contains(s)
    }
    private static func isASCIIAlphanumeric(_ s: Unicode.Scalar) -> Bool {
        isASCIIDigit(s) || ("a"..."z").contains(s) || ("A"..."Z").contains(s)
    }

    /// Parses digits in `radix`; nil when the value exceeds U+10FFFF (Python then yields U+FFFD).
    private static func parse(_ digits: ArraySlice<Unicode.Scalar>, radix: UInt32) -> UInt32? {
        var value: UInt32 = 0
        for d in digits {
            let digit: UInt32
            switch d {
            case "0"..."9": digit = d.value - 0x30
            case "a"..."f": digit = d.value - 0x61 + 10
            default: digit = d.value - 0x41 + 10
            }
            value = value * radix + digit
            if value > 0x10FFFF { return nil }
        }
        return value
    }

    /// Python's `html.unescape`.
    static func pythonUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("&") else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        let n = text.count
        while i < n {
            guard text[i] == "&", i + 1 < n else { out.append(text[i]); i += 1; continue }
            if text[i + 1] == "#" {
                // `#[0-9]+;?` or `#[xX][0-9a-fA-F]+;?`; "&#" followed by anything else is literal text.
                var start = i + 2
                var radix: UInt32 = 10
                if start < n, text[start] == "x" || text[start] == "X" { radix = 16; start += 1 }
                var end = start
                while end < n, radix == 16 ? isASCIIHexDigit(text[end]) : isASCIIDigit(text[end]) { end += 1 }
                guard end > start else { out.append(text[i]); i += 1; continue }
                out.append(contentsOf: numericReference(parse(text[start..<end], radix: radix)))
                i = end < n && text[end] == ";" ? end + 1 : end
                continue
            }
            // `[^\t\n\f <&#;]{1,32};?`
            var end = i + 1
            while end < n, end - (i + 1) < 32, !isNameTerminator(text[end]) { end += 1 }
            guard end > i + 1 else { out.append(text[i]); i += 1; continue }
            let hasSemicolon = end < n && text[end] == ";"
            let nameScalars = Array(text[(i + 1)..<end])
            let name = String(String.UnicodeScalarView(nameScalars))
            i = hasSemicolon ? end + 1 : end
            // Every known name is ASCII; checking first also keeps Swift's canonical-equivalence String comparison
            // (U+212A KELVIN SIGN == "K") from matching what Python's exact comparison would not.
            if nameScalars.allSatisfy(\.isASCII), let value = html5[hasSemicolon ? name + ";" : name] {
                out.append(contentsOf: value)
                continue
            }
            // The longest prefix (at least two characters, never the whole) that is a legacy name wins.
            let whole = nameScalars + (hasSemicolon ? [";"] : [])
            var matched = false
            var length = whole.count - 1
            while length >= 2 {
                let prefix = String(String.UnicodeScalarView(whole[0..<length]))
                if whole[0..<length].allSatisfy(\.isASCII), let value = html5[prefix] {
                    out.append(contentsOf: value)
                    out.append(contentsOf: whole[length...])
                    matched = true
                    break
                }
                length -= 1
            }
            if !matched {
                out.append("&")
                out.append(contentsOf: whole)
            }
        }
        return out
    }

    private static func isNameTerminator(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "\t", "\n", "\u{0C}", " ", "<", "&", "#", ";": return true
        default: return false
        }
    }

    /// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` decoded when it is a known name or a numeric reference
    /// whose decoding consumes the semicolon.
    static func ftfyUnescape(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard text.contains("&") else { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var i = 0
        let n = text.count
        while i < n {
            guard text[i] == "&" else { out.append(text[i]); i += 1; continue }
            let numeric = i + 1 < n && text[i + 1] == "#"
            let start = numeric ? i + 2 : i + 1
            var end = start
            while end < n, isASCIIAlphanumeric(text[end]) { end += 1 }
            guard end > start, end - start <= 24, end < n, text[end] == ";" else {
                out.append(text[i]); i += 1; continue
            }
            let reference = Array(text[i...end])
            if !numeric, let value = ftfyNames[String(String.UnicodeScalarView(text[start...end]))] {
                out.append(contentsOf: value)
            } else if numeric {
                let decoded = pythonUnescape(reference)
                out.append(contentsOf: decoded.contains(";") ? reference : decoded)
            } else {
                out.append(contentsOf: reference)
            }
            i = end + 1
        }
        return out
    }
}
