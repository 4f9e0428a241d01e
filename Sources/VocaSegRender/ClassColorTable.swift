import VocaSegCore

/// Per-class colours and the lookup tables the blend loop reads, built once per renderer.
///
/// The blend is `out = (a·c + (256 − a)·f + 128) >> 8` per channel with `a = round(alpha·256)`: for alpha = 0.5
/// that is round-half-up of (c + f) / 2. `a·c + 128` is stored premultiplied so the loop does one multiply-add.
struct ClassColorTable: Sendable {
    let colors: [RGBColor]
    /// `3 * classCount` values of `a·c + 128`.
    let premultiplied: [UInt32]
    /// `256 − a`: the frame's weight.
    let frameWeight: UInt32
    /// `3 * classCount` bytes: the opaque outline shade per class (the class colour at 55 % brightness).
    let outline: [UInt8]
    /// `48 * classCount` values: `premultiplied` repeated over 16 interleaved RGB pixels, so a run of one class
    /// blends 16 pixels per step as three 16-lane vectors. Fits UInt16: a·c + 128 + (256 − a)·f ≤ 256·255 + 128.
    let premultipliedPattern: [UInt16]

    init(classNames: [String], alpha: Double, overrides: [String: RGBColor]) {
        var lowercasedOverrides: [String: RGBColor] = [:]
        for (name, color) in overrides { lowercasedOverrides[name.lowercased()] = color }
        colors = classNames.map { name in
            if let color = lowercasedOverrides[name.lowercased()] { return color }
            let c = Palette.color(forClassName: name)
            return RGBColor(r: c.r, g: c.g, b: c.b)
        }
        let a = UInt32((alpha * 256).rounded())
        frameWeight = 256 - a
        var premultiplied: [UInt32] = []
        var outline: [UInt8] = []
        for color in colors {
            for channel in [color.r, color.g, color.b] {
                premultiplied.append(a * UInt32(channel) + 128)
                outline.append(Self.darken(channel))
            }
        }
        self.premultiplied = premultiplied
        self.outline = outline
        premultipliedPattern = (0..<colors.count).flatMap { c in
            (0..<48).map { UInt16(premultiplied[c * 3 + $0 % 3]) }
        }
    }

    static func darken(_ c: UInt8) -> UInt8 { UInt8((UInt32(c) * 141 + 128) >> 8) }
}
