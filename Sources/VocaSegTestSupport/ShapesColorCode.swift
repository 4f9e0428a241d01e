import VocaSegCore

/// The colour code the synthetic shapes are painted in, so that a stand-in model can segment them exactly and a
/// test can read back the true identity of every pixel.
///
/// Each channel carries one of five levels (0, 64, 128, 192, 255), decoded to the nearest level, which survives
/// a lossy video codec away from edges. R's level is the vocabulary index; B ≥ 128 marks stuff; for things G's
/// level is the instance within its class.
public enum ShapesColorCode {
    public static let levels: [UInt8] = [0, 64, 128, 192, 255]

    public struct Identity: Hashable, Sendable, CustomStringConvertible {
        public var classIndex: Int
        public var instance: Int
        public var isThing: Bool
        public init(classIndex: Int, instance: Int, isThing: Bool) {
            self.classIndex = classIndex
            self.instance = instance
            self.isThing = isThing
        }
        public var description: String { isThing ? "class \(classIndex) #\(instance)" : "stuff \(classIndex)" }
    }

    public static func color(_ id: Identity) -> (UInt8, UInt8, UInt8) {
        (levels[id.classIndex], id.isThing ? levels[id.instance] : 0, id.isThing ? 0 : 255)
    }

    @inline(__always)
    static func level(_ v: UInt8) -> Int { (Int(v) + 32) / 64 }

    public static func identity(r: UInt8, g: UInt8, b: UInt8) -> Identity {
        let thing = level(b) < 2
        return Identity(classIndex: level(r), instance: thing ? level(g) : 0, isThing: thing)
    }
}
