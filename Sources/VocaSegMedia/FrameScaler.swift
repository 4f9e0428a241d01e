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
        var rows: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { out, count in
            count = width * height * 3
            image.pixels.withUnsafeBufferPointer { src in
                var srcData: [UnsafePointer<UInt8>?] = [src.baseAddress, nil, nil, nil]
                var srcStride: [Int32] = [Int32(image.width * 3), 0, 0, 0]
                var dstData: [UnsafeMutablePointer<UInt8>?] = [out.baseAddress, nil, nil, nil]
                var dstStride: [Int32] = [Int32(width * 3), 0, 0, 0]
                rows = sws_scale(context, &srcData, &srcStride, 0, Int32(image.height), &dstData, &dstStride)
            }
        }
        guard rows == Int32(height) else { throw VocaSegError(.internal, "FrameScaler: swscale failed") }
        return RGBImage(width: width, height: height, pixels: pixels)
    }
}
