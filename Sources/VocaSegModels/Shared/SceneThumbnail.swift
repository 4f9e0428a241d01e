import VocaSegCore

/// A 16×16 grey thumbnail of a frame, for scene-cut checks of the families that reuse a per-frame class choice
/// across frames (ERR-Seg's CRM selection, SED's CER candidates).
enum SceneThumbnail {
    /// Side of the thumbnail.
    static let side = 16

    /// A 16×16 grey thumbnail (block means over a sparse grid of samples): cheap and stable under noise.
    static func make(_ frame: RGBImage) -> [UInt8] {
        let n = side
        var out = [UInt8](repeating: 0, count: n * n)
        let w = frame.width, h = frame.height
        guard w > 0, h > 0 else { return out }
        frame.pixels.withUnsafeBufferPointer { p in
            for by in 0..<n {
                for bx in 0..<n {
                    var sum = 0, count = 0
                    for sy in 0..<4 {
                        let y = min(h - 1, (by * 4 + sy) * h / (4 * n))
                        for sx in 0..<4 {
                            let x = min(w - 1, (bx * 4 + sx) * w / (4 * n))
                            let i = (y * w + x) * 3
                            sum += Int(p[i]) * 77 + Int(p[i + 1]) * 150 + Int(p[i + 2]) * 29
                            count += 1
                        }
                    }
                    out[by * n + bx] = UInt8(min(255, sum / (count * 256)))
                }
            }
        }
        return out
    }

    /// Mean absolute difference of two thumbnails (0…255), or nil when they cannot be compared.
    static func distance(_ a: [UInt8], _ b: [UInt8]) -> Float? {
        guard !a.isEmpty, a.count == b.count else { return nil }
        var sum = 0
        for i in a.indices { sum += abs(Int(a[i]) - Int(b[i])) }
        return Float(sum) / Float(a.count)
    }
}
