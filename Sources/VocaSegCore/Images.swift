/// An 8-bit RGB picture, interleaved (`r g b r g b …`), rows packed without padding, upright (rotation already
/// applied), square pixels not implied: `sampleAspectRatio` says how wide a pixel is.
public struct RGBImage: Sendable {
    public var width: Int
    public var height: Int
    /// `width * height * 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }
}

/// A per-pixel class index map. `labels[y * width + x]` indexes the vocabulary; `LabelMap.unlabeled` marks a
/// pixel with no class (e.g. outside every mask in panoptic output).
public struct LabelMap: Sendable, Equatable {
    public static let unlabeled: UInt16 = .max
    public var width: Int
    public var height: Int
    public var labels: [UInt16]

    public init(width: Int, height: Int, labels: [UInt16]) {
        precondition(labels.count == width * height, "LabelMap: \(labels.count) labels for \(width)x\(height)")
        self.width = width
        self.height = height
        self.labels = labels
    }

    /// Fraction of pixels per class index, for the classes that occur, sorted by class index.
    public func classFractions() -> [(classIndex: Int, fraction: Double)] {
        var counts: [Int: Int] = [:]
        for l in labels where l != LabelMap.unlabeled { counts[Int(l), default: 0] += 1 }
        let total = Double(max(labels.count, 1))
        return counts.keys.sorted().map { ($0, Double(counts[$0]!) / total) }
    }
}
