import CFFmpeg
import VocaSegCore

/// A picture whose buffers FFmpeg allocated itself (`av_frame_get_buffer`), for handing to swscale.
///
/// Why: swscale's SIMD input readers and output writers work in blocks of 8 to 32 pixels and read or write past the
/// last pixel of a row; FFmpeg only promises correct results for buffers laid out as its own allocators lay them
/// out: every row starting on `av_cpu_max_align()` bytes, the height padded, and spare bytes after the end. A packed
/// RGB24 buffer of exactly `width·height·3` bytes is none of that: with a row of 1278 bytes (426 px) the RGB24
/// writer overran the last row into the next heap block (issue 12). So swscale only ever sees pictures of this
/// type; packed pixels are copied in and out row by row (about 1 ms for a 1080p frame, nothing next to a model).
final class SwscalePicture {
    let width: Int
    let height: Int
    let format: AVPixelFormat
    private var frame: UnsafeMutablePointer<AVFrame>?

    init(width: Int, height: Int, format: AVPixelFormat) throws {
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw VocaSegError(.internal, "SwscalePicture: bad size \(width)x\(height)")
        }
        guard let frame = av_frame_alloc() else { throw VocaSegError(.internal, "out of memory") }
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.format = format.rawValue
        // Alignment 0 = FFmpeg's own choice for this CPU (64 bytes with AVX-512), padding included.
        guard av_frame_get_buffer(frame, 0) >= 0 else {
            var f: UnsafeMutablePointer<AVFrame>? = frame
            av_frame_free(&f)
            throw VocaSegError(.internal, "out of memory for a \(width)x\(height) picture")
        }
        self.width = width
        self.height = height
        self.format = format
        self.frame = frame
    }

    deinit { av_frame_free(&frame) }

    /// The same picture, reused when the size and format match (a scaler keeps one per direction).
    static func reuse(_ existing: SwscalePicture?, width: Int, height: Int, format: AVPixelFormat) throws -> SwscalePicture {
        if let existing, existing.width == width, existing.height == height, existing.format == format { return existing }
        return try SwscalePicture(width: width, height: height, format: format)
    }

    var avFrame: UnsafeMutablePointer<AVFrame> { frame! }

    /// Copies packed RGB24 rows (`width·3` bytes each, `count` bytes in all) into plane 0.
    func loadPackedRGB(_ pixels: UnsafeBufferPointer<UInt8>) {
        let rowBytes = width * 3
        guard format == AV_PIX_FMT_RGB24, pixels.count == rowBytes * height, let src = pixels.baseAddress else {
            fatalError("SwscalePicture.loadPackedRGB: \(pixels.count) bytes for \(width)x\(height) RGB24")
        }
        let stride = Int(avFrame.pointee.linesize.0)
        let plane = avFrame.pointee.data.0!
        for y in 0..<height { (plane + y * stride).update(from: src + y * rowBytes, count: rowBytes) }
    }

    /// Copies plane 0 out as packed RGB24 rows into a buffer of exactly `width·height·3` bytes.
    func storePackedRGB(into pixels: UnsafeMutableBufferPointer<UInt8>) {
        let rowBytes = width * 3
        guard format == AV_PIX_FMT_RGB24, pixels.count == rowBytes * height, let dst = pixels.baseAddress else {
            fatalError("SwscalePicture.storePackedRGB: \(pixels.count) bytes for \(width)x\(height) RGB24")
        }
        let stride = Int(avFrame.pointee.linesize.0)
        let plane = avFrame.pointee.data.0!
        for y in 0..<height { (dst + y * rowBytes).update(from: plane + y * stride, count: rowBytes) }
    }
}

enum Swscale {
    /// Runs `context` over all of `source` into `destination` (FFmpeg-allocated frames both, the source a decoded
    /// frame or a `SwscalePicture`). Returns false unless swscale produced every output row.
    static func scale(_ context: OpaquePointer, from source: UnsafePointer<AVFrame>,
                      into destination: UnsafeMutablePointer<AVFrame>) -> Bool {
        let rows = withUnsafePointer(to: source.pointee.data) { srcTuple in
            srcTuple.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { srcData in
                withUnsafePointer(to: source.pointee.linesize) { srcLines in
                    srcLines.withMemoryRebound(to: Int32.self, capacity: 8) { srcStride in
                        withUnsafeMutablePointer(to: &destination.pointee.data) { dstTuple in
                            dstTuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { dstData in
                                withUnsafePointer(to: destination.pointee.linesize) { dstLines in
                                    dstLines.withMemoryRebound(to: Int32.self, capacity: 8) { dstStride in
                                        sws_scale(context, srcData, srcStride, 0, source.pointee.height, dstData,
                                                  dstStride)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return rows == destination.pointee.height
    }
}
