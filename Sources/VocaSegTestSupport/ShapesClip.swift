import VocaSegCore

/// A synthetic clip whose true identities are known: two stuff regions (vocabulary 0 and 1) under moving
/// rectangles (things of classes 2 and 3) that cross each other, leave and re-enter view for a few frames, appear
/// late and leave for good. Painted in `ShapesColorCode`; use the vocabulary `ShapesClip.vocabulary`.
public enum ShapesClip {
    public static let vocabulary = "grass [stuff], sky [stuff], person, car"
    public static let width = 320, height = 180, frameCount = 60

    struct Shape {
        var identity: ShapesColorCode.Identity
        var size: (w: Int, h: Int)
        /// Frames in which the shape is drawn.
        var visible: (Int) -> Bool
        /// Top-left corner in frame `t` (may be partly outside the frame).
        var position: (Int) -> (x: Int, y: Int)
    }

    static func thing(_ c: Int, _ i: Int) -> ShapesColorCode.Identity {
        .init(classIndex: c, instance: i, isThing: true)
    }

    /// Later shapes are drawn over earlier ones (they occlude them).
    static let shapes: [Shape] = [
        // Two people cross: #0 walks right, #1 walks left 10 px lower and is drawn on top.
        Shape(identity: thing(2, 0), size: (30, 40), visible: { _ in true }, position: { t in (20 + 4 * t, 70) }),
        Shape(identity: thing(2, 1), size: (30, 40), visible: { _ in true }, position: { t in (270 - 4 * t, 80) }),
        // A car drives diagonally and is hidden for frames 25-28 (shorter than the tracker's memory).
        Shape(identity: thing(3, 0), size: (50, 25), visible: { !(25...28).contains($0) },
              position: { t in (10 + 3 * t, 20 + t) }),
        // A second car appears at frame 20 and is gone for good after frame 44.
        Shape(identity: thing(3, 1), size: (50, 25), visible: { (20...44).contains($0) },
              position: { t in (250 - 2 * (t - 20), 140) }),
        // A third person enters from the bottom edge at frame 35.
        Shape(identity: thing(2, 2), size: (24, 34), visible: { $0 >= 35 },
              position: { t in (150, 180 - 3 * (t - 35)) }),
    ]

    /// Frame `t` and the true identity of each of its pixels.
    public static func frame(_ t: Int) -> (image: RGBImage, truth: [ShapesColorCode.Identity]) {
        let grass = ShapesColorCode.Identity(classIndex: 0, instance: 0, isThing: false)
        let sky = ShapesColorCode.Identity(classIndex: 1, instance: 0, isThing: false)
        var truth = (0..<(width * height)).map { $0 / width < height * 3 / 5 ? sky : grass }
        for shape in shapes where shape.visible(t) {
            let p = shape.position(t)
            for y in max(p.y, 0)..<min(p.y + shape.size.h, height) {
                for x in max(p.x, 0)..<min(p.x + shape.size.w, width) where x >= 0 {
                    truth[y * width + x] = shape.identity
                }
            }
        }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for (i, id) in truth.enumerated() {
            let c = ShapesColorCode.color(id)
            pixels[i * 3] = c.0
            pixels[i * 3 + 1] = c.1
            pixels[i * 3 + 2] = c.2
        }
        return (RGBImage(width: width, height: height, pixels: pixels), truth)
    }
}

/// Identity switches and fragmentations of tracked segments against the true identities (things only; stuff
/// has one id per class by design).
///
/// - An identity switch: a true object is covered by another track id than the one it had when last seen.
/// - A fragmentation: a true object is covered by more than one track id over the clip (ids − 1 per object).
/// - A merge: one track id covers more than one true object over the clip.
public struct TrackingScore: Sendable, CustomStringConvertible {
    public private(set) var objects = 0
    public private(set) var observations = 0
    public private(set) var identitySwitches = 0
    public private(set) var fragmentations = 0
    public private(set) var merges = 0
    private var last: [ShapesColorCode.Identity: UInt32] = [:]
    private var idsOf: [ShapesColorCode.Identity: Set<UInt32>] = [:]
    private var objectsOf: [UInt32: Set<ShapesColorCode.Identity>] = [:]

    public init() {}

    /// One frame: the track id of each true thing is the id covering most of its pixels.
    public mutating func add(truth: [ShapesColorCode.Identity], trackIds: [UInt32]) {
        var votes: [ShapesColorCode.Identity: [UInt32: Int]] = [:]
        for (id, track) in zip(truth, trackIds) where id.isThing { votes[id, default: [:]][track, default: 0] += 1 }
        for (object, counts) in votes {
            guard let track = counts.max(by: { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key })?.key
            else { continue }
            observations += 1
            if let previous = last[object], previous != track { identitySwitches += 1 }
            last[object] = track
            idsOf[object, default: []].insert(track)
            objectsOf[track, default: []].insert(object)
        }
        objects = idsOf.count
        fragmentations = idsOf.values.reduce(0) { $0 + $1.count - 1 }
        merges = objectsOf.values.reduce(0) { $0 + max($1.count - 1, 0) }
    }

    public var description: String {
        "objects \(objects), observations \(observations), identity switches \(identitySwitches), "
            + "fragmentations \(fragmentations), merges \(merges)"
    }
}
