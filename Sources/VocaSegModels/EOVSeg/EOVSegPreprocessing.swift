import Foundation
import VocaSegCore
import VocaSegTensor

/// The size EOV-Seg's test mapper resized the frame to before padding: masks are cropped back to it (detectron2's
/// `sem_seg_postprocess`) before they are resized to the frame.
struct EOVSegResizedSize: ModelPayload {
    var resizedWidth: Int
    var resizedHeight: Int
}

/// EOV-Seg's input preparation (spec §1.2, §2.1): shortest edge to 640 (long side ≤ 2560) with Pillow bilinear on
/// uint8, ImageNet mean/std, then zero padding on the right and bottom up to multiples of 32 (after normalising,
/// so the padding is 0 in normalised units, as `ImageList.from_tensors` pads).
enum EOVSegPreprocessing {
    static func run(_ frame: RGBImage, config c: EOVSegConfig) -> PreprocessedFrame {
        let (pixels, w, h) = ShortestEdgeResize.apply(frame, shortEdge: c.shortEdge, maxSize: c.maxSize)
        let d = c.sizeDivisibility
        let pw = (w + d - 1) / d * d, ph = (h + d - 1) / d * d
        var data = [Float](repeating: 0, count: 3 * ph * pw)
        data.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                for ch in 0..<3 {
                    let m = c.pixelMean[ch], s = c.pixelStd[ch]
                    let plane = ch * ph * pw
                    for y in 0..<h {
                        for x in 0..<w {
                            // (x − mean) / std as PyTorch evaluates it (a true division, not a reciprocal).
                            dst[plane + y * pw + x] = (Float(src[(y * w + x) * 3 + ch]) - m) / s
                        }
                    }
                }
            }
        }
        return PreprocessedFrame(channels: 3, width: pw, height: ph, data: data, originalWidth: frame.width,
                                 originalHeight: frame.height,
                                 payload: EOVSegResizedSize(resizedWidth: w, resizedHeight: h))
    }
}
