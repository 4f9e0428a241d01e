import Foundation
import VocaSegCore
import VocaSegTensor

/// The dense-CLIP families' input: detectron2's test-time resize (shortest edge, Pillow bilinear on uint8; nil
/// skips it), per-channel (x − mean) / std, then a bilinear (align_corners False) squash to size×size, the aspect
/// ratio not kept. ERR-Seg (800/1333, ImageNet statistics) and SED (640/2560, CLIP statistics, 768) prepare frames
/// this way.
enum SquareInput {
    static func normalizedSquare(_ frame: RGBImage, shortEdge: Int?, maxSize: Int, mean: [Float], std: [Float],
                                 size: Int) -> Tensor {
        let (pixels, w, h) = shortEdge.map { ShortestEdgeResize.apply(frame, shortEdge: $0, maxSize: maxSize) }
            ?? (frame.pixels, frame.width, frame.height)
        let planes = Tensor(uninitializedShape: [3, h, w])
        let plane = h * w
        pixels.withUnsafeBufferPointer { src in
            ChannelsLast.parallelRanges(h) { rows in
                for ch in 0..<3 {
                    let m = mean[ch], s = std[ch]
                    let dst = planes.data + ch * plane
                    for y in rows {
                        for x in 0..<w {
                            // (x − mean) / std as PyTorch evaluates it (a true division, not a reciprocal).
                            dst[y * w + x] = (Float(src[(y * w + x) * 3 + ch]) - m) / s
                        }
                    }
                }
            }
        }
        return (h == size && w == size) ? planes : Ops.interpolateBilinear(planes, size: (size, size), alignCorners: false)
    }
}
