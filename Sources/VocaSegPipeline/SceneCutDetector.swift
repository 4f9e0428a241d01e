import VocaSegCore

/// Flags a frame whose picture differs wholly from the previous one it saw (a cut between shots), from 16×9 grey
/// thumbnails: cheap enough for every inferred frame, and blind to objects moving over a steady background.
public final class SceneCutDetector {
    static let thumbnailWidth = 16, thumbnailHeight = 9
    public let threshold: Double
    private var previous: [Double]?

    public init(threshold: Double) { self.threshold = threshold }

    /// True when `image` starts a new scene; the first frame is not a cut.
    public func isCut(_ image: RGBImage) -> Bool {
        let thumbnail = Self.thumbnail(image)
        defer { previous = thumbnail }
        guard let previous, previous.count == thumbnail.count else { return false }
        var difference = 0.0
        for (a, b) in zip(previous, thumbnail) { difference += abs(a - b) }
        return difference / Double(thumbnail.count) > threshold
    }

    /// Mean grey (0…1) of each thumbnail cell, sampling every pixel of the cell's block (at most every 4th pixel
    /// each way on big frames, which changes the mean by far less than a cut does).
    static func thumbnail(_ image: RGBImage) -> [Double] {
        guard image.width > 0, image.height > 0 else { return [] }
        var cells = [Double](repeating: 0, count: thumbnailWidth * thumbnailHeight)
        var counts = [Int](repeating: 0, count: cells.count)
        let stride = max(1, min(image.width, image.height) / 256)
        for y in Swift.stride(from: 0, to: image.height, by: stride) {
            let cy = y * thumbnailHeight / image.height
            for x in Swift.stride(from: 0, to: image.width, by: stride) {
                let cx = x * thumbnailWidth / image.width
                let i = (y * image.width + x) * 3
                let grey = (Int(image.pixels[i]) * 299 + Int(image.pixels[i + 1]) * 587 + Int(image.pixels[i + 2]) * 114)
                cells[cy * thumbnailWidth + cx] += Double(grey) / 255_000
                counts[cy * thumbnailWidth + cx] += 1
            }
        }
        return zip(cells, counts).map { $1 > 0 ? $0 / Double($1) : 0 }
    }
}
