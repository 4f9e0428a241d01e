import VocaSegCore

/// An 8-bit RGB colour.
public struct RGBColor: Sendable, Hashable, CustomStringConvertible {
    public var r: UInt8
    public var g: UInt8
    public var b: UInt8

    public init(r: UInt8, g: UInt8, b: UInt8) {
        self.r = r
        self.g = g
        self.b = b
    }

    public var description: String { "rgb(\(r), \(g), \(b))" }
}

/// How an overlay looks. Fixed for the lifetime of one `OverlayRenderer`, so every frame of a video is drawn alike.
public struct OverlayOptions: Sendable, Equatable {
    /// Debian's `fonts-dejavu-core` puts DejaVu Sans here.
    public static let defaultFontPath = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

    /// Weight of the class colour in the blend, 0 (frame only) … 1 (colour only). Quantised to 1/256.
    public var alpha: Double
    /// Draw a darker rim where a class region meets another class or unlabeled pixels.
    public var drawsOutlines: Bool
    /// Write each sizeable class's name inside its largest region.
    public var drawsLabels: Bool
    /// Draw a legend (swatch + name) of the classes present in the frame in the top-left corner.
    public var drawsLegend: Bool
    /// Colours that replace the palette's, keyed by class name (matched case-insensitively).
    public var colorOverrides: [String: RGBColor]
    /// TrueType/OpenType font for labels and legend; only opened when labels or the legend are drawn.
    public var fontPath: String
    /// A class gets a name label only if it covers at least this fraction of the frame.
    public var minimumLabelFraction: Double

    public init(alpha: Double = 0.5, drawsOutlines: Bool = true, drawsLabels: Bool = true, drawsLegend: Bool = true,
                colorOverrides: [String: RGBColor] = [:], fontPath: String = OverlayOptions.defaultFontPath,
                minimumLabelFraction: Double = 0.005) {
        self.alpha = alpha
        self.drawsOutlines = drawsOutlines
        self.drawsLabels = drawsLabels
        self.drawsLegend = drawsLegend
        self.colorOverrides = colorOverrides
        self.fontPath = fontPath
        self.minimumLabelFraction = minimumLabelFraction
    }

    func validated() throws -> OverlayOptions {
        guard alpha.isFinite, (0...1).contains(alpha) else {
            throw VocaSegError(.usage, "overlay alpha must be between 0 and 1, got \(alpha)")
        }
        guard minimumLabelFraction.isFinite, (0...1).contains(minimumLabelFraction) else {
            throw VocaSegError(.usage, "minimum label fraction must be between 0 and 1, got \(minimumLabelFraction)")
        }
        // Keys are matched case-insensitively; two spellings of one name would make the winner arbitrary.
        var seen: Set<String> = []
        for name in colorOverrides.keys.sorted() where !seen.insert(name.lowercased()).inserted {
            throw VocaSegError(.usage, "colour override for \"\(name)\" is given twice (names ignore case)")
        }
        return self
    }
}
