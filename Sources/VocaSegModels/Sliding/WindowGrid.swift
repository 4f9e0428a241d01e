import Foundation
import VocaSegCore

/// Square windows over a canvas: a regular grid with stride ⌊window·(1 − overlap)⌋, the last row and column
/// clamped to the border (so no window pads and the last ones overlap more, as mmsegmentation's slide inference).
/// On a canvas that the grid fits exactly (CAT-Seg's 640² canvas, 384 windows, overlap 0.333) the windows are
/// exactly `nn.Unfold`'s.
public struct WindowGrid: Sendable, Equatable {
    public struct Origin: Sendable, Equatable {
        public var y: Int
        public var x: Int
        public init(y: Int, x: Int) { self.y = y; self.x = x }
    }

    public let canvasHeight: Int
    public let canvasWidth: Int
    public let window: Int
    public let stride: Int
    /// Top-left corners, row-major (top row left to right first).
    public let origins: [Origin]

    public init(canvasHeight: Int, canvasWidth: Int, window: Int, overlap: Double) throws {
        guard window > 0, canvasHeight >= window, canvasWidth >= window else {
            throw VocaSegError(.internal, "sliding window \(window) does not fit a \(canvasWidth)x\(canvasHeight) canvas")
        }
        guard overlap >= 0, overlap < 1 else { throw VocaSegError(.usage, "the window overlap must be in [0, 1)") }
        self.canvasHeight = canvasHeight
        self.canvasWidth = canvasWidth
        self.window = window
        // The tiny epsilon keeps 384·(1 − 1/3) at 256 whichever way the double rounds (Python's int() of it is 256).
        stride = max(1, Int((Double(window) * (1 - overlap) + 1e-9).rounded(.down)))
        let ys = WindowGrid.starts(length: canvasHeight, window: window, stride: stride)
        let xs = WindowGrid.starts(length: canvasWidth, window: window, stride: stride)
        origins = ys.flatMap { y in xs.map { Origin(y: y, x: $0) } }
    }

    /// Window starts along one axis: ⌈(length − window) / stride⌉ + 1 of them, the last one moved back to end at
    /// the border.
    static func starts(length: Int, window: Int, stride: Int) -> [Int] {
        let count = (length - window + stride - 1) / stride + 1
        return (0..<count).map { min($0 * stride, length - window) }
    }

    /// How many windows cover each canvas pixel, [canvasHeight · canvasWidth] (CAT-Seg's `fold(unfold(ones))`).
    public func coverage() -> [Float] {
        var counts = [Float](repeating: 0, count: canvasHeight * canvasWidth)
        for o in origins {
            for y in o.y..<(o.y + window) {
                let row = y * canvasWidth
                for x in o.x..<(o.x + window) { counts[row + x] += 1 }
            }
        }
        return counts
    }

    /// The working resolution for a frame: scaled down (aspect kept) so the longest side is at most `maxSide`,
    /// then, if the shortest side is below one window, scaled up so that it holds exactly one.
    public static func workingSize(frameWidth w: Int, frameHeight h: Int, window: Int,
                                   maxSide: Int) -> (width: Int, height: Int) {
        guard w > 0, h > 0 else { return (w, h) }
        var scale = 1.0
        if max(w, h) > maxSide { scale = Double(maxSide) / Double(max(w, h)) }
        if Double(min(w, h)) * scale < Double(window) { scale = Double(window) / Double(min(w, h)) }
        if scale == 1 { return (w, h) }
        let sw = max(window, Int((Double(w) * scale).rounded()))
        let sh = max(window, Int((Double(h) * scale).rounded()))
        return (sw, sh)
    }
}
