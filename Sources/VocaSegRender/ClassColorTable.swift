import VocaSegCore

/// Per-class colours and the lookup tables the blend loop reads, built once per renderer and never changed, so
/// worker threads may read them freely.
///
/// The blend is `out = (a·c + (256 − a)·f + 128) >> 8` per channel with `a = round(alpha·256)`: for alpha = 0.5
/// that is round-half-up of (c + f) / 2. `a·c + 128` is stored premultiplied so the loop does one multiply-add.
final class ClassColorTable: @unchecked Sendable {
    let colors: [RGBColor]
    /// `256 − a`: the frame's weight.
    let frameWeight: UInt32
    /// `3 * classCount` values of `a·c + 128`.
    let premultiplied: UnsafeMutablePointer<UInt32>
    /// `3 * classCount` bytes: the opaque outline shade per class (the class colour at 55 % brightness).
    let outline: UnsafeMutablePointer<UInt8>
    /// `48 * classCount` values: `premultiplied` repeated over 16 interleaved RGB pixels, so a run of one class
    /// blends 16 pixels per step as three 16-lane vectors. Fits UInt16: a·c + 128 + (256 − a)·f ≤ 256·255 + 128.
    let premultipliedPattern: UnsafeMutablePointer<UInt16>

    convenience init(classNames: [String], alpha: Double, overrides: [String: RGBColor]) {
        var lowercasedOverrides: [String: RGBColor] = [:]
        for (name, color) in overrides { lowercasedOverrides[name.lowercased()] = color }
        // By index: classes sharing a name get different colours (an override by name sets them all).
        let palette = Palette.colors(forClassNames: classNames)
        self.init(colors: zip(classNames, palette).map { name, c in
            if let color = lowercasedOverrides[name.lowercased()] { return color }
            return RGBColor(r: c.r, g: c.g, b: c.b)
        }, alpha: alpha)
    }

    /// A table for any list of colours: per-segment colours of a panoptic frame are built this way.
    init(colors: [RGBColor], alpha: Double) {
        self.colors = colors
        let a = UInt32((alpha * 256).rounded())
        frameWeight = 256 - a
        premultiplied = .allocate(capacity: 3 * colors.count)
        outline = .allocate(capacity: 3 * colors.count)
        premultipliedPattern = .allocate(capacity: 48 * colors.count)
        for (c, color) in colors.enumerated() {
            for (channel, value) in [color.r, color.g, color.b].enumerated() {
                premultiplied[c * 3 + channel] = a * UInt32(value) + 128
                outline[c * 3 + channel] = Self.darken(value)
            }
            for i in 0..<48 { premultipliedPattern[c * 48 + i] = UInt16(premultiplied[c * 3 + i % 3]) }
        }
    }

    deinit {
        premultiplied.deallocate()
        outline.deallocate()
        premultipliedPattern.deallocate()
    }

    static func darken(_ c: UInt8) -> UInt8 { UInt8((UInt32(c) * 141 + 128) >> 8) }
}
