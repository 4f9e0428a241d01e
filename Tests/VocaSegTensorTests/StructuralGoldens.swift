import Foundation
import VocaSegTensor
import VocaSegTestSupport

/// Loads the goldens written by Scripts/reference/ops_structural_goldens.py.
enum StructuralGoldens {
    static let folder = repoRoot().appendingPathComponent("Tests/VocaSegTensorTests/Goldens/structural")

    static func array(_ name: String) throws -> NpyArray {
        try Npy.read(folder.appendingPathComponent(name + ".npy"))
    }

    static func tensor(_ name: String) throws -> Tensor {
        let a = try array(name)
        return Tensor(shape: a.shape, data: a.floats)
    }

    static func ints(_ name: String) throws -> [Int] {
        try array(name).ints().map { Int($0) }
    }

    static func bytes(_ name: String) throws -> (shape: [Int], values: [UInt8]) {
        let a = try array(name)
        return (a.shape, a.floats.map { UInt8($0) })
    }
}
