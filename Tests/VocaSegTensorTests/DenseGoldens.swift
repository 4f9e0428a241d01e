import Foundation
import Testing
import VocaSegTestSupport
import VocaSegTensor

/// Loads the dense-op goldens written by Scripts/reference/ops_dense_goldens.py.
enum DenseGoldens {
    static let folder = repoRoot().appendingPathComponent("Tests/VocaSegTensorTests/Goldens/dense")

    static func tensor(_ caseName: String, _ name: String) throws -> Tensor {
        let a = try Npy.read(folder.appendingPathComponent("\(caseName).\(name).npy"))
        return Tensor(shape: a.shape, data: a.floats)
    }

    /// Compares `actual` with the golden `<case>.<name>.npy`: shapes must match and |a − e| ≤ atol + rtol·|e|.
    static func check(_ actual: Tensor, _ caseName: String, _ name: String = "y", atol: Float = 1e-5, rtol: Float = 1e-5,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try tensor(caseName, name)
        #expect(actual.shape == expected.shape, "\(caseName).\(name): shape \(actual.shape) vs \(expected.shape)",
                sourceLocation: sourceLocation)
        let result = closeness(actual.toArray(), expected.toArray(), atol: atol, rtol: rtol, label: "\(caseName).\(name)")
        #expect(result.passed, "\(result)", sourceLocation: sourceLocation)
    }
}
