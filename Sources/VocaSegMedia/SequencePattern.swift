import Foundation
import VocaSegCore

/// A printf-style numbered file name such as `frame_%06d.png`, as FFmpeg's image2 muxer and demuxer use: exactly one
/// `%d`, `%Nd` or `%0Nd`, and `%%` for a literal percent sign. Expanded here rather than with `String(format:)`, so
/// that a user's file name is never a format string.
public struct SequencePattern: Sendable, Equatable {
    public let pattern: String
    private let prefix: String
    private let suffix: String
    private let width: Int
    private let zeroPadded: Bool

    /// Whether `path`'s file name holds a frame-number directive.
    public static func isPattern(_ path: String) -> Bool { InputLocator.isSequencePattern(path) }

    public init(_ pattern: String) throws {
        self.pattern = pattern
        var before = "", after = ""
        var found: (width: Int, zero: Bool)?
        var chars = Array(pattern)[...]
        while let c = chars.popFirst() {
            guard c == "%" else {
                if found == nil { before.append(c) } else { after.append(c) }
                continue
            }
            if chars.first == "%" {
                chars.removeFirst()
                if found == nil { before.append("%") } else { after.append("%") }
                continue
            }
            let zero = chars.first == "0"
            var digits = ""
            while let d = chars.first, d.isASCII, d.isNumber { digits.append(d); chars.removeFirst() }
            guard chars.first == "d", found == nil else {
                throw VocaSegError(.usage, "a numbered sequence needs exactly one %d, %4d or %06d (and %% for a "
                                   + "percent sign)", path: pattern)
            }
            chars.removeFirst()
            let width = Int(digits) ?? 0
            guard width <= 16 else { throw VocaSegError(.usage, "the frame number is at most 16 digits wide", path: pattern) }
            found = (width, zero)
        }
        guard let found else { throw VocaSegError(.usage, "the sequence pattern holds no %d", path: pattern) }
        guard !after.contains("/") else {
            throw VocaSegError(.usage, "the frame number must be in the file name, not in a folder name", path: pattern)
        }
        prefix = before
        suffix = after
        width = found.width
        zeroPadded = found.zero
    }

    /// The path of frame `number` (0 or more), padded as printf pads: zeros for `%06d`, spaces for `%6d`.
    public func path(for number: Int) -> String {
        precondition(number >= 0, "SequencePattern: negative frame number")
        var digits = String(number)
        if digits.count < width {
            digits = String(repeating: zeroPadded ? "0" : " ", count: width - digits.count) + digits
        }
        return prefix + digits + suffix
    }

    /// Folder part of the pattern ("." when none).
    public var directory: String {
        let dir = (pattern as NSString).deletingLastPathComponent
        return dir.isEmpty ? "." : dir
    }

    /// The pattern's name without the number and extension, for outputs named after it: `out/seq_%06d.png` →
    /// `out/seq`.
    public var baseName: String {
        let stem = ((prefix + suffix) as NSString).deletingPathExtension
        var trimmed = stem
        while let last = trimmed.last, "_-. ".contains(last) { trimmed.removeLast() }
        return trimmed.isEmpty || trimmed.hasSuffix("/") ? trimmed + "sequence" : trimmed
    }
}
