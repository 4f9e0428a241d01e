import CFFmpeg
import VocaSegCore

/// Resizes RGB24 pictures with swscale, keeping one scaler context for as long as the sizes stay the same.
/// Use one instance per thread.
public final class FrameScaler: @unchecked Sendable {
    public enum Method: Sendable {
        /// Bilinear interpolation (what most model preprocessing resizes with).
        case bilinear
        /// Averaging over the source area: the right choice for large downscales (no aliasing).
        case area
        case bicubic

        var swsFlags: Int32 {
            switch self {
            case .bilinear: return SWS_BILINEAR
            case .area: return SWS_AREA
            case .bicubic: return SWS_BICUBIC
            }
        }
    }

    public let method: Method
    private var context: OpaquePointer?
    private var source: SwscalePicture?
    private var destination: SwscalePicture?

    public init(method: Method = .bilinear) { self.method = method }
    deinit { sws_freeContext(context) }

    /// `image` resized to `width`×`height` (a copy when the size is unchanged).
    public func scale(_ image: RGBImage, width: Int, height: Int) throws -> RGBImage {
        guard width > 0, height > 0, image.width > 0, image.height > 0 else {
            throw VocaSegError(.internal, "FrameScaler: cannot scale \(image.width)x\(image.height) to \(width)x\(height)")
        }
        if width == image.width, height == image.height { return image }
        // Accurate rounding and full chroma are irrelevant for RGB→RGB; bit-exact keeps results reproducible.
        context = sws_getCachedContext(context, Int32(image.width), Int32(image.height), AV_PIX_FMT_RGB24,
                                       Int32(width), Int32(height), AV_PIX_FMT_RGB24,
                                       method.swsFlags | SWS_ACCURATE_RND, nil, nil, nil)
        guard let context else { throw VocaSegError(.internal, "FrameScaler: swscale refused the sizes") }
        // Both sides go through FFmpeg-allocated pictures: swscale reads and writes past row ends (see
        // `SwscalePicture`), which packed arrays cannot absorb.
        let input = try SwscalePicture.reuse(source, width: image.width, height: image.height, format: AV_PIX_FMT_RGB24)
        let output = try SwscalePicture.reuse(destination, width: width, height: height, format: AV_PIX_FMT_RGB24)
        source = input
        destination = output
        image.pixels.withUnsafeBufferPointer { input.loadPackedRGB($0) }
        guard Swscale.scale(context, from: input.avFrame, into: output.avFrame) else {
            throw VocaSegError(.internal, "FrameScaler: swscale failed")
        }
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, count in
            output.storePackedRGB(into: UnsafeMutableBufferPointer(rebasing: out[0..<(width * height * 3)]))
            count = width * height * 3
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
