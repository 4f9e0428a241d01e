import CFFmpeg
import Foundation
import VocaSegCore

/// Writes single pictures with libavcodec's own encoders (PNG, MJPEG), atomically (see `AtomicOutputFile`).
public enum ImageFileWriter {
    /// `.png` (lossless RGB24) or `.jpg`/`.jpeg` (4:2:0 full-range BT.601 JPEG, quality ≈ q2), by extension.
    public static func write(_ image: RGBImage, to path: String) throws {
        let ext = (path as NSString).pathExtension.lowercased()
        let data: Data
        switch ext {
        case "png":
            data = try encodePNG(width: image.width, height: image.height, format: AV_PIX_FMT_RGB24, path: path) { frame in
                copyRows(image.pixels, rowBytes: image.width * 3, rows: image.height, into: frame)
            }
        case "jpg", "jpeg":
            data = try encodeJPEG(image, path: path)
        default:
            throw VocaSegError(.usage, "unsupported image type '.\(ext)': use .png, .jpg or .jpeg", path: path)
        }
        try AtomicOutputFile(finalPath: path).write(data)
    }

    /// A label map as PNG: 8-bit indexed (pal8, PLTE = `palette`) when the classes fit in 8 bits — index 255 then
    /// stands for `LabelMap.unlabeled` (black), so up to 255 classes, or 256 when no pixel is unlabeled — else
    /// 16-bit grey whose values are the class indices (65535 = unlabeled).
    public static func writeLabelMap(_ map: LabelMap, palette: [(UInt8, UInt8, UInt8)], to path: String) throws {
        guard (path as NSString).pathExtension.lowercased() == "png" else {
            throw VocaSegError(.usage, "label maps are written as .png", path: path)
        }
        let hasUnlabeled = map.labels.contains(LabelMap.unlabeled)
        if let bad = map.labels.first(where: { $0 != LabelMap.unlabeled && Int($0) >= max(palette.count, 1) }),
           palette.count <= 256 {
            throw VocaSegError(.internal, "label \(bad) has no palette entry (\(palette.count) colours)", path: path)
        }
        let indexed = palette.count <= (hasUnlabeled ? 255 : 256)
        let data: Data
        if indexed {
            data = try encodePNG(width: map.width, height: map.height, format: AV_PIX_FMT_PAL8, path: path) { frame in
                let stride = Int(frame.pointee.linesize.0)
                let rows = frame.pointee.data.0!
                map.labels.withUnsafeBufferPointer { labels in
                    for y in 0..<map.height {
                        let row = rows + y * stride
                        for x in 0..<map.width {
                            let l = labels[y * map.width + x]
                            row[x] = l == LabelMap.unlabeled ? 255 : UInt8(truncatingIfNeeded: l)
                        }
                    }
                }
                // PAL8 palettes are 256 native-endian 0xAARRGGBB words.
                let entries = UnsafeMutableRawPointer(frame.pointee.data.1!).bindMemory(to: UInt32.self, capacity: 256)
                for i in 0..<256 {
                    let c = i < palette.count ? palette[i] : (0, 0, 0)
                    entries[i] = 0xFF00_0000 | UInt32(c.0) << 16 | UInt32(c.1) << 8 | UInt32(c.2)
                }
            }
        } else {
            data = try encodePNG(width: map.width, height: map.height, format: AV_PIX_FMT_GRAY16BE, path: path) { frame in
                let stride = Int(frame.pointee.linesize.0)
                let rows = frame.pointee.data.0!
                map.labels.withUnsafeBufferPointer { labels in
                    for y in 0..<map.height {
                        let row = rows + y * stride
                        for x in 0..<map.width {
                            let l = labels[y * map.width + x]
                            row[2 * x] = UInt8(l >> 8)
                            row[2 * x + 1] = UInt8(l & 0xFF)
                        }
                    }
                }
            }
        }
        try AtomicOutputFile(finalPath: path).write(data)
    }

    // MARK: Encoding

    private static func copyRows(_ bytes: [UInt8], rowBytes: Int, rows: Int, into frame: UnsafeMutablePointer<AVFrame>) {
        let stride = Int(frame.pointee.linesize.0)
        bytes.withUnsafeBufferPointer { src in
            for y in 0..<rows {
                (frame.pointee.data.0! + y * stride).update(from: src.baseAddress! + y * rowBytes, count: rowBytes)
            }
        }
    }

    private static func encodePNG(width: Int, height: Int, format: AVPixelFormat, path: String,
                                  fill: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws -> Data {
        try encode(codecID: AV_CODEC_ID_PNG, width: width, height: height, format: format, path: path,
                   configure: { _ in }, fill: fill)
    }

    private static func encodeJPEG(_ image: RGBImage, path: String) throws -> Data {
        try encode(codecID: AV_CODEC_ID_MJPEG, width: image.width, height: image.height, format: AV_PIX_FMT_YUVJ420P,
                   path: path, configure: { ctx in
                       ctx.pointee.color_range = AVCOL_RANGE_JPEG
                       ctx.pointee.flags |= AV_CODEC_FLAG_QSCALE
                       ctx.pointee.global_quality = 2 * Int32(FF_QP2LAMBDA)
                   }, fill: { frame in
                       frame.pointee.quality = 2 * Int32(FF_QP2LAMBDA)
                       frame.pointee.color_range = AVCOL_RANGE_JPEG
                       guard rgbToFullRangeYUV(image, into: frame) else {
                           throw VocaSegError(.internal, "RGB→YUV conversion for JPEG failed", path: path)
                       }
                   })
    }

    /// JPEG's colour model: BT.601 matrix, full range.
    private static func rgbToFullRangeYUV(_ image: RGBImage, into frame: UnsafeMutablePointer<AVFrame>) -> Bool {
        guard let sws = sws_getContext(Int32(image.width), Int32(image.height), AV_PIX_FMT_RGB24,
                                       Int32(image.width), Int32(image.height), AV_PIX_FMT_YUV420P,
                                       SWS_BILINEAR | SWS_ACCURATE_RND, nil, nil, nil) else { return false }
        defer { sws_freeContext(sws) }
        let bt601 = sws_getCoefficients(SWS_CS_ITU601)
        sws_setColorspaceDetails(sws, bt601, 1, bt601, 1, 0, 1 << 16, 1 << 16)
        // The packed source goes through an FFmpeg-allocated picture: swscale reads past row ends.
        guard let input = try? SwscalePicture(width: image.width, height: image.height, format: AV_PIX_FMT_RGB24)
        else { return false }
        image.pixels.withUnsafeBufferPointer { input.loadPackedRGB($0) }
        return Swscale.scale(sws, from: input.avFrame, into: frame)
    }

    private static func encode(codecID: AVCodecID, width: Int, height: Int, format: AVPixelFormat, path: String,
                               configure: (UnsafeMutablePointer<AVCodecContext>) -> Void,
                               fill: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws -> Data {
        _ = MediaLibrary.configureOnce
        guard width > 0, height > 0 else { throw VocaSegError(.internal, "cannot write an empty picture", path: path) }
        guard let encoder = avcodec_find_encoder(codecID) else {
            throw VocaSegError(.internal, "this FFmpeg build has no \(FF.string(avcodec_get_name(codecID)) ?? "") encoder",
                               path: path)
        }
        var ctx = avcodec_alloc_context3(encoder)
        var frame = av_frame_alloc()
        var packet = av_packet_alloc()
        defer {
            avcodec_free_context(&ctx)
            av_frame_free(&frame)
            av_packet_free(&packet)
        }
        guard let ctx, let frame, let packet else { throw VocaSegError(.internal, "out of memory", path: path) }
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = format
        ctx.pointee.time_base = AVRational(num: 1, den: 25)
        configure(ctx)
        let opened = avcodec_open2(ctx, encoder, nil)
        guard opened >= 0 else {
            throw VocaSegError(.internal, "cannot open the image encoder: \(FF.describe(opened))", path: path)
        }
        frame.pointee.format = format.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        guard av_frame_get_buffer(frame, 0) >= 0 else { throw VocaSegError(.internal, "out of memory", path: path) }
        try fill(frame)
        frame.pointee.pts = 0
        var result = Data()
        for input in [frame, nil] as [UnsafeMutablePointer<AVFrame>?] {
            let sent = avcodec_send_frame(ctx, input)
            guard sent >= 0 else { throw VocaSegError(.internal, "the image encoder failed: \(FF.describe(sent))", path: path) }
            while avcodec_receive_packet(ctx, packet) >= 0 {
                result.append(packet.pointee.data, count: Int(packet.pointee.size))
                av_packet_unref(packet)
            }
        }
        guard !result.isEmpty else { throw VocaSegError(.internal, "the image encoder produced nothing", path: path) }
        return result
    }
}
