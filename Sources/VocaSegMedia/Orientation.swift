import CFFmpeg
import Dispatch
import Foundation

/// One of the eight ways a display matrix can place the coded picture (rotations by multiples of 90° and their
/// mirror images), reduced from the 3x3 matrix FFmpeg exports.
///
/// The matrix maps a coded pixel (x, y) to display coordinates `x' = a·x + c·y + tx`, `y' = b·x + d·y + ty`
/// (QuickTime/FFmpeg layout `[a b u; c d v; tx ty w]`). After rounding a, b, c, d to −1/0/+1 the same linear map,
/// with the offsets chosen so that coordinates start at 0, is applied to the pixels. This agrees with FFmpeg ≥ 6.1's
/// autorotation (transpose/hflip/vflip chosen from the matrix, flips from its signs). FFmpeg 5.1's CLI ignores
/// mirroring and would turn a mirror matrix into a 180° rotation.
struct Orientation: Equatable, Sendable {
    var a: Int, b: Int, c: Int, d: Int

    static let identity = Orientation(a: 1, b: 0, c: 0, d: 1)

    var isIdentity: Bool { self == .identity }
    /// Whether width and height trade places.
    var swapsAxes: Bool { a == 0 }
    var isMirrored: Bool { a * d - b * c < 0 }

    /// Reads the stream's display matrix; identity when absent or not a multiple of 90°.
    init(displayMatrix: UnsafePointer<Int32>?) {
        guard let m = displayMatrix else { self = .identity; return }
        func unit(_ v: Int32) -> Int {
            let x = Double(v) / 65536.0
            return abs(x) < 0.5 ? 0 : (x > 0 ? 1 : -1)
        }
        let candidate = Orientation(a: unit(m[0]), b: unit(m[1]), c: unit(m[3]), d: unit(m[4]))
        // Exactly one non-zero entry per row and column: a right-angle rotation, possibly mirrored.
        let valid = abs(candidate.a * candidate.d - candidate.b * candidate.c) == 1
            && (candidate.a == 0) == (candidate.d == 0) && (candidate.b == 0) == (candidate.c == 0)
        self = valid ? candidate : .identity
    }

    init(a: Int, b: Int, c: Int, d: Int) { self.a = a; self.b = b; self.c = c; self.d = d }

    func outputSize(width: Int, height: Int) -> (width: Int, height: Int) {
        swapsAxes ? (height, width) : (width, height)
    }

    /// Copies the packed RGB24 picture `source` (width×height) into `destination` placed as the matrix says.
    /// Works in 64×64 tiles so transposes stay cache friendly; tile rows run in parallel.
    func apply(source: UnsafePointer<UInt8>, width: Int, height: Int, destination: UnsafeMutablePointer<UInt8>) {
        let (dw, dh) = outputSize(width: width, height: height)
        // Destination pixel index of coded pixel (x, y): x·stepX + y·stepY + origin.
        let offX = (a < 0 || c < 0) ? dw - 1 : 0
        let offY = (b < 0 || d < 0) ? dh - 1 : 0
        let stepX = a + b * dw
        let stepY = c + d * dw
        let origin = offY * dw + offX
        let tile = 64
        let tileRows = (height + tile - 1) / tile
        let src = UnsafeSendablePointer(source)
        let dst = UnsafeSendableMutablePointer(destination)
        DispatchQueue.concurrentPerform(iterations: tileRows) { tileRow in
            let y0 = tileRow * tile, y1 = min(y0 + tile, height)
            var x0 = 0
            while x0 < width {
                let x1 = min(x0 + tile, width)
                for y in y0..<y1 {
                    let rowIn = src.pointer + y * width * 3
                    var out = origin + y * stepY + x0 * stepX
                    for x in x0..<x1 {
                        let s = rowIn + x * 3, o = dst.pointer + out * 3
                        o[0] = s[0]; o[1] = s[1]; o[2] = s[2]
                        out += stepX
                    }
                }
                x0 = x1
            }
        }
    }
}

/// Raw pointers handed to `concurrentPerform` workers that write disjoint regions.
struct UnsafeSendablePointer: @unchecked Sendable {
    let pointer: UnsafePointer<UInt8>
    init(_ pointer: UnsafePointer<UInt8>) { self.pointer = pointer }
}

struct UnsafeSendableMutablePointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt8>
    init(_ pointer: UnsafeMutablePointer<UInt8>) { self.pointer = pointer }
}
