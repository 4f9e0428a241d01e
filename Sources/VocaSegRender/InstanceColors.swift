import VocaSegCore

/// Colours of thing instances: the class colour, lightened or darkened by a step picked from the track id, so that
/// instances of one class read as one family yet neighbours differ, and a track keeps its colour in every frame and
/// every run (the id, not the frame, decides it). Stuff keeps the class colour.
enum InstanceColors {
    /// Mix weights towards white (positive) or black (negative); 0 is the class colour itself.
    static let shades: [Double] = [0, 0.45, -0.40, 0.25, -0.25, 0.60, -0.55]

    static func color(classColor c: RGBColor, trackId: UInt32, isThing: Bool) -> RGBColor {
        guard isThing else { return c }
        // Consecutive ids step through the table 3 at a time, so ids born together (neighbours in a crowd) get
        // far-apart shades.
        let shade = shades[Int((UInt64(trackId) &* 3) % UInt64(shades.count))]
        func mix(_ v: UInt8) -> UInt8 {
            let x = Double(v)
            let y = shade >= 0 ? x + (255 - x) * shade : x * (1 + shade)
            return UInt8(max(0, min(255, y.rounded())))
        }
        return RGBColor(r: mix(c.r), g: mix(c.g), b: mix(c.b))
    }
}
