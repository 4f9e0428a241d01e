import VocaSegCore
import VocaSegTensor

/// detectron2's test-time `ResizeShortestEdge` as the official evaluations run it: the short side to `shortEdge`
/// (the long side capped at `maxSize`), sizes rounded as `int(x + 0.5)`, Pillow bilinear on the uint8 pixels.
/// ERR-Seg (800/1333) and EOV-Seg (640/2560) both resize this way before normalising.
enum ShortestEdgeResize {
    /// The frame's pixels at the new size (unchanged when the size already fits), with that size.
    static func apply(_ frame: RGBImage, shortEdge: Int, maxSize: Int) -> (pixels: [UInt8], width: Int, height: Int) {
        let (h, w) = Ops.shortestEdgeResizeShape(height: frame.height, width: frame.width, shortEdge: shortEdge,
                                                 maxSize: maxSize)
        guard h != frame.height || w != frame.width else { return (frame.pixels, frame.width, frame.height) }
        let pixels = frame.pixels.withUnsafeBufferPointer {
            Ops.pilResizeBilinear($0, width: frame.width, height: frame.height, channels: 3, outWidth: w, outHeight: h)
        }
        return (pixels, w, h)
    }
}
