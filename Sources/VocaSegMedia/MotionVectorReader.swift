import CFFmpeg
import VocaSegCore

/// Turns a decoded frame's motion vectors (`AV_FRAME_DATA_MOTION_VECTORS`) into a `MotionField`: motion relative to
/// the frame shown just before it, whatever the vector's reference was.
///
/// A vector says that the block centred at dst was predicted from the block centred at dst + motion in a reference
/// picture. FFmpeg tells only whether that picture lies in the past or the future, not which one, and with
/// B-frames (decode order differs from display order), B-pyramids and several references per P-frame it is not
/// simply the previous frame. So, for each block with a past vector, the reader tries the last few displayed
/// frames as its reference and keeps the distance d whose displaced block matches best (sum of absolute grey
/// differences); assuming steady motion, one frame's step is motion / d. A vector into the future (a B-frame's next
/// I or P picture, which is not shown yet) is extrapolated back over the distance to that picture, estimated from
/// the spacing of the last two; a block's past vector wins over its future one. Intra-coded blocks and I-frames
/// carry no vector and stay uncertain.
final class MotionVectorReader {
    /// How far back a reference is looked for (x264 uses up to 16 references; 4 covers B-pyramids and the usual
    /// presets, and a block matched wrongly at small motion costs little).
    static let maxReferenceDistance = 4
    private var recent: [(index: Int, grey: [UInt8])] = []
    private var lastAnchorIndex: Int?
    private var anchorSpacing = 1

    /// The field of `frame` (display index `index`), whose RGB picture in coded orientation is `image`.
    func field(of frame: UnsafeMutablePointer<AVFrame>, image: RGBImage, index: Int) -> MotionField {
        let width = image.width, height = image.height
        let type = frame.pointee.pict_type
        let letter: Character = type == AV_PICTURE_TYPE_I ? "I" : type == AV_PICTURE_TYPE_P ? "P"
            : type == AV_PICTURE_TYPE_B ? "B" : "?"
        var field = MotionField(width: width, height: height, pictureType: letter)
        let grey = Self.grey(image)
        // Distance to the last I or P picture shown: the usual past reference, and the default of the search.
        let back = max(1, index - (lastAnchorIndex ?? (index - 1)))
        defer {
            recent.append((index, grey))
            if recent.count > Self.maxReferenceDistance { recent.removeFirst() }
            if letter == "I" || letter == "P" {
                if lastAnchorIndex != nil { anchorSpacing = back }
                lastAnchorIndex = index
            }
        }
        guard let side = av_frame_get_side_data(frame, AV_FRAME_DATA_MOTION_VECTORS), let data = side.pointee.data
        else { return field }
        let count = Int(side.pointee.size) / MemoryLayout<AVMotionVector>.stride
        let ahead = Float(max(1, anchorSpacing - back))
        // Candidate references: the frames shown just before this one, nearest first, only if none is missing.
        var candidates: [(distance: Int, grey: [UInt8])] = []
        for (i, r) in recent.reversed().enumerated() where r.index == index - i - 1 { candidates.append((i + 1, r.grey)) }

        UnsafeRawPointer(data).withMemoryRebound(to: AVMotionVector.self, capacity: count) { vectors in
            for pass in [1, -1] {
                for i in 0..<count {
                    let v = vectors[i]
                    guard v.motion_scale > 0, v.source.signum() == Int32(pass) else { continue }
                    let mx = Float(v.motion_x) / Float(v.motion_scale), my = Float(v.motion_y) / Float(v.motion_scale)
                    let x = Int(v.dst_x) - Int(v.w) / 2, y = Int(v.dst_y) - Int(v.h) / 2
                    let steps: Float
                    if pass > 0 {
                        steps = -ahead
                    } else {
                        steps = Float(Self.bestDistance(current: grey, candidates: candidates, width: width,
                                                        height: height, x: x, y: y, w: Int(v.w), h: Int(v.h),
                                                        mx: mx, my: my, preferred: back))
                    }
                    field.setBlock(x: x, y: y, width: Int(v.w), height: Int(v.h), dx: mx / steps, dy: my / steps)
                }
            }
        }
        return field
    }

    /// The candidate distance whose frame, displaced by (mx, my), best matches the block (at most its central 8×8
    /// pixels); `preferred` unless another is clearly better (flat blocks match anywhere).
    static func bestDistance(current: [UInt8], candidates: [(distance: Int, grey: [UInt8])], width: Int, height: Int,
                             x: Int, y: Int, w: Int, h: Int, mx: Float, my: Float, preferred: Int) -> Int {
        guard candidates.count > 1 else { return candidates.first?.distance ?? preferred }
        let pw = min(8, w), ph = min(8, h)
        let x0 = x + (w - pw) / 2, y0 = y + (h - ph) / 2
        let ox = Int(mx.rounded()), oy = Int(my.rounded())
        var best = preferred, bestError = Int.max, preferredError = Int.max
        for (distance, reference) in candidates {
            var error = 0
            for j in 0..<ph {
                let cy = min(height - 1, max(0, y0 + j)), ry = min(height - 1, max(0, y0 + j + oy))
                for i in 0..<pw {
                    let cx = min(width - 1, max(0, x0 + i)), rx = min(width - 1, max(0, x0 + i + ox))
                    error += abs(Int(current[cy * width + cx]) - Int(reference[ry * width + rx]))
                }
            }
            if distance == preferred { preferredError = error }
            if error < bestError { bestError = error; best = distance }
        }
        // Keep the usual reference unless another matches better by a clear margin.
        if preferredError != Int.max, preferredError - bestError <= max(pw * ph, bestError / 8) { return preferred }
        return best
    }

    /// Luma-like grey (0.299 R + 0.587 G + 0.114 B) of an RGB picture.
    static func grey(_ image: RGBImage) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: image.width * image.height)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<out.count {
                let r = Int(p[i * 3]) * 77, g = Int(p[i * 3 + 1]) * 150, b = Int(p[i * 3 + 2]) * 29
                out[i] = UInt8((r + g + b) >> 8)
            }
        }
        return out
    }
}
