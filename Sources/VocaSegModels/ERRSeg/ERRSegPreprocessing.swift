import Foundation
import VocaSegCore
import VocaSegTensor

/// ERR-Seg's input preparation (spec §5): official = shortest edge 800 (long side ≤ 1333), direct = the frame as
/// it is; then normalised and squashed to the model size (`SquareInput`).
enum ERRSegPreprocessing {
    static func run(_ frame: RGBImage, config c: ERRSegConfig, official: Bool) -> PreprocessedFrame {
        let input = SquareInput.normalizedSquare(frame, shortEdge: official ? c.minSizeTest : nil, maxSize: c.maxSizeTest,
                                                 mean: c.pixelMean, std: c.pixelStd, size: c.imageSize)
        return PreprocessedFrame(channels: 3, width: c.imageSize, height: c.imageSize, data: input.toArray(),
                                 originalWidth: frame.width, originalHeight: frame.height,
                                 payload: FrameThumbnail(thumbnail: SceneThumbnail.make(frame)))
    }
}
