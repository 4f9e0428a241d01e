import CFFmpeg

/// Converts decoded frames of any pixel format to packed RGB24 at the same size with swscale, honouring the
/// frame's colour range and matrix.
///
/// - Matrix: the frame's `colorspace` tag; when it is unspecified, BT.601, which is what swscale and the ffmpeg
///   CLI assume, so our pixels match `ffmpeg -i x -pix_fmt rgb24`.
/// - Range: the frame's `color_range`; the deprecated `yuvj*` formats are read as their `yuv*` twins in full range.
/// - Alpha (rgba, yuva420p, pal8 with transparency …): DROPPED, the colour channels are kept as stored (no
///   compositing on black), which is what swscale does when converting to a format without alpha.
/// - High bit depth (10/12-bit), 4:2:2/4:4:4, grey: handled by swscale's own converters.
final class RGBConverter {
    private var context: OpaquePointer?
    private var key: Key?
    private var output: SwscalePicture?

    private struct Key: Equatable {
        var width: Int32, height: Int32, format: Int32, fullRange: Bool, colorspace: Int32
        var outWidth: Int32, outHeight: Int32
    }

    deinit { sws_freeContext(context) }

    /// Fills `destination` (exactly `outWidth*outHeight*3` bytes, else false): the frame at its own size, or scaled (bicubic) when a
    /// stream changes resolution midway and the caller keeps the first size.
    func convert(_ frame: UnsafePointer<AVFrame>, into destination: UnsafeMutableBufferPointer<UInt8>,
                 outWidth: Int, outHeight: Int) -> Bool {
        guard outWidth > 0, outHeight > 0, destination.count == outWidth * outHeight * 3 else { return false }
        var format = AVPixelFormat(rawValue: frame.pointee.format)
        var fullRange = frame.pointee.color_range == AVCOL_RANGE_JPEG
        if let plain = Self.nonDeprecatedFormat(format) {
            format = plain
            fullRange = true
        }
        let key = Key(width: frame.pointee.width, height: frame.pointee.height, format: format.rawValue,
                      fullRange: fullRange, colorspace: Int32(frame.pointee.colorspace.rawValue),
                      outWidth: Int32(outWidth), outHeight: Int32(outHeight))
        if key != self.key {
            sws_freeContext(context)
            let resizing = key.outWidth != key.width || key.outHeight != key.height
            context = sws_getContext(key.width, key.height, format, key.outWidth, key.outHeight, AV_PIX_FMT_RGB24,
                                     resizing ? SWS_BICUBIC : SWS_BILINEAR, nil, nil, nil)
            self.key = key
            guard let context else { return false }
            // For RGB inputs swscale ignores these; for YUV they pick the matrix and the input range.
            let matrix = Self.swsColorspace(frame.pointee.colorspace)
            let coefficients = sws_getCoefficients(matrix)
            sws_setColorspaceDetails(context, coefficients, fullRange ? 1 : 0, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                     0, 1 << 16, 1 << 16)
        }
        guard let context else { return false }
        // swscale writes into an FFmpeg-allocated picture (aligned, padded rows), never into `destination` itself.
        guard let picture = try? SwscalePicture.reuse(output, width: outWidth, height: outHeight,
                                                      format: AV_PIX_FMT_RGB24) else { return false }
        output = picture
        guard Swscale.scale(context, from: frame, into: picture.avFrame) else { return false }
        picture.storePackedRGB(into: destination)
        return true
    }

    static func swsColorspace(_ space: AVColorSpace) -> Int32 {
        switch space {
        case AVCOL_SPC_BT709: return SWS_CS_ITU709
        case AVCOL_SPC_FCC: return SWS_CS_FCC
        case AVCOL_SPC_SMPTE240M: return SWS_CS_SMPTE240M
        case AVCOL_SPC_BT2020_NCL, AVCOL_SPC_BT2020_CL: return SWS_CS_BT2020
        case AVCOL_SPC_BT470BG, AVCOL_SPC_SMPTE170M: return SWS_CS_ITU601
        default: return SWS_CS_DEFAULT
        }
    }

    /// `yuvj*` formats mean "yuv* in full range"; swscale warns about them, so they are renamed here.
    static func nonDeprecatedFormat(_ format: AVPixelFormat) -> AVPixelFormat? {
        switch format {
        case AV_PIX_FMT_YUVJ420P: return AV_PIX_FMT_YUV420P
        case AV_PIX_FMT_YUVJ422P: return AV_PIX_FMT_YUV422P
        case AV_PIX_FMT_YUVJ444P: return AV_PIX_FMT_YUV444P
        case AV_PIX_FMT_YUVJ440P: return AV_PIX_FMT_YUV440P
        case AV_PIX_FMT_YUVJ411P: return AV_PIX_FMT_YUV411P
        default: return nil
        }
    }
}
