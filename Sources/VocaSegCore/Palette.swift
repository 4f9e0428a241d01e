/// Stable class colours: a class keeps its colour across frames, runs and vocabularies because the colour is
/// derived from the class name (FNV-1a hash → hue), not from its position in the list.
public enum Palette {
    public static func color(forClassName name: String) -> (r: UInt8, g: UInt8, b: UInt8) {
        var fnv = FNV1a64()
        fnv.add(name.lowercased())
        let hash = fnv.value
        let hue = Double(hash % 360) / 360.0
        let saturation = 0.65 + Double((hash >> 16) % 30) / 100.0
        let value = 0.80 + Double((hash >> 32) % 20) / 100.0
        return hsvToRGB(h: hue, s: saturation, v: value)
    }

    /// The colours of a vocabulary's classes, by index: `color(forClassName:)`, except that a name given to
    /// several classes (a vocabulary file may do that: ADE-847 has two `screen`s) gets another colour for each
    /// repeat (hashed with its ordinal), so that the classes stay apart in overlays and palettes. The first class
    /// of a name keeps the name's colour.
    public static func colors(forClassNames names: [String]) -> [(r: UInt8, g: UInt8, b: UInt8)] {
        var seen: [String: Int] = [:]
        return names.map { name in
            let key = name.lowercased()
            let earlier = seen[key, default: 0]
            seen[key] = earlier + 1
            return color(forClassName: earlier == 0 ? name : "\(name)\u{0}\(earlier + 1)")
        }
    }

    static func hsvToRGB(h: Double, s: Double, v: Double) -> (r: UInt8, g: UInt8, b: UInt8) {
        let i = Int(h * 6) % 6
        let f = h * 6 - Double(Int(h * 6))
        let p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s)
        let (r, g, b): (Double, Double, Double)
        switch i {
        case 0: (r, g, b) = (v, t, p)
        case 1: (r, g, b) = (q, v, p)
        case 2: (r, g, b) = (p, v, t)
        case 3: (r, g, b) = (p, q, v)
        case 4: (r, g, b) = (t, p, v)
        default: (r, g, b) = (v, p, q)
        }
        func byte(_ x: Double) -> UInt8 { UInt8(max(0, min(255, (x * 255).rounded()))) }
        return (byte(r), byte(g), byte(b))
    }
}
