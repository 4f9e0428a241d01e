import Foundation
import Testing
@testable import VocaSegCheckpoint
import VocaSegCore

/// Paths of the fixtures written by Scripts/reference/make_checkpoint_fixtures.py, and what torch saw in them.
enum Fixtures {
    static var directory: URL {
        get throws {
            try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        }
    }

    static func path(_ name: String) throws -> String {
        try directory.appendingPathComponent(name).path
    }

    struct ExpectedTensor: Decodable {
        let name: String
        let dtype: String
        let shape: [Int]
        let strides: [Int]
        let storage_offset: Int
        /// Row-major values as torch printed them: exact doubles for floats, integers for integer dtypes.
        let values: [Double]
    }

    static func expected(_ file: String) throws -> [ExpectedTensor] {
        let data = try Data(contentsOf: directory.appendingPathComponent("expected.json"))
        let all = try JSONDecoder().decode([String: [ExpectedTensor]].self, from: data)
        return try #require(all[file], "expected.json has no entry for \(file)")
    }

    /// A scratch path under the system temporary directory, unique per call.
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("vocaseg-checkpoint-tests-\(UUID().uuidString)-\(name)").path
    }
}

/// Checks every tensor of `checkpoint` against what torch saw: names in order, dtype, shape, and values.
func expectMatchesTorch(_ checkpoint: Checkpoint, _ expected: [Fixtures.ExpectedTensor],
                        sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(checkpoint.names == expected.map(\.name), sourceLocation: sourceLocation)
    for want in expected {
        let record = try #require(checkpoint[want.name], sourceLocation: sourceLocation)
        #expect(record.dtype.rawValue == want.dtype, "\(want.name)", sourceLocation: sourceLocation)
        #expect(record.shape == want.shape, "\(want.name)", sourceLocation: sourceLocation)
        #expect(record.elementCount == want.values.count, "\(want.name)", sourceLocation: sourceLocation)
        if record.dtype.isFloatingPoint {
            // fp16/bf16 widen exactly and torch printed them widened; float64 is compared after rounding to Float.
            let got = record.float32()
            #expect(got == want.values.map { Float($0) }, "\(want.name)", sourceLocation: sourceLocation)
        } else {
            let got = try record.int64()
            #expect(got == want.values.map { Int64($0) }, "\(want.name)", sourceLocation: sourceLocation)
        }
    }
}

/// Opens `name` expecting a `.model` error; returns the error's text and how long the refusal took.
func refusal(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws
    -> (error: VocaSegError, seconds: Double) {
    let path = try Fixtures.path(name)
    let start = Date()
    do {
        let checkpoint = try CheckpointFile.open(path: path)
        // Tensors are validated at open; a hostile file must never get this far.
        Issue.record("\(name) opened with \(checkpoint.tensors.count) tensors", sourceLocation: sourceLocation)
        throw VocaSegError(.internal, "unexpectedly opened")
    } catch let error as VocaSegError {
        let seconds = Date().timeIntervalSince(start)
        #expect(error.kind == .model, "\(name): \(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        return (error, seconds)
    }
}
