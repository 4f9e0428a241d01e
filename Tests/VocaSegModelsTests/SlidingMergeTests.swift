import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
import VocaSegTestSupport
@testable import VocaSegModels

/// The window grid and the probability merge against Scripts/reference/sliding_goldens.py (PyTorch: CAT-Seg's
/// fold/unfold merge, and an explicit-loop merge for clamped grids, per-window class subsets, other weights).
struct SlidingMergeTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Goldens/sliding")

    struct Case: Decodable {
        var canvas: [Int]
        var window: Int
        var overlap: Double
        var output: [Int]
        var global_weight: Float?
        var windows: Int
    }

    static func manifest() throws -> [String: Case] {
        try JSONDecoder().decode([String: Case].self,
                                 from: Data(contentsOf: directory.appendingPathComponent("manifest.json")))
    }

    static func npy(_ name: String, _ key: String) throws -> NpyArray {
        try Npy.read(directory.appendingPathComponent("\(name).\(key).npy"))
    }

    static func tensor(_ a: NpyArray) -> Tensor { Tensor(shape: a.shape, data: a.floats) }

    /// The golden case's grid, window outputs and global view.
    static func load(_ name: String) throws -> (Case, WindowGrid, [WindowProbabilities], WindowProbabilities?) {
        let c = try #require(try manifest()[name])
        let grid = try WindowGrid(canvasHeight: c.canvas[0], canvasWidth: c.canvas[1], window: c.window,
                                  overlap: c.overlap)
        let probs = try npy(name, "window_probs"), sel = try npy(name, "window_selection")
        let k = probs.shape[1], plane = probs.shape[2] * probs.shape[3]
        let values = probs.floats, selections = try sel.ints().map(Int.init)
        var windows: [WindowProbabilities] = []
        for (i, origin) in grid.origins.enumerated() {
            let p = Tensor(shape: [k, probs.shape[2], probs.shape[3]],
                           data: Array(values[(i * k * plane)..<((i + 1) * k * plane)]))
            windows.append(WindowProbabilities(origin: origin, probs: p,
                                               selection: Array(selections[(i * k)..<((i + 1) * k)])))
        }
        var global: WindowProbabilities?
        if c.global_weight != nil {
            global = WindowProbabilities(origin: .init(y: 0, x: 0), probs: tensor(try npy(name, "global_probs")),
                                         selection: try npy(name, "global_selection").ints().map(Int.init))
        }
        return (c, grid, windows, global)
    }

    @Test(arguments: ["catseg", "clamped", "noglobal"])
    func gridMatchesTheReference(_ name: String) throws {
        let (c, grid, _, _) = try Self.load(name)
        let origins = try Self.npy(name, "origins").ints().map(Int.init)
        #expect(grid.origins.count == c.windows)
        #expect(grid.origins.flatMap { [$0.y, $0.x] } == origins)
    }

    @Test(arguments: ["catseg", "clamped", "noglobal"])
    func mergedProbabilitiesMatchTheReference(_ name: String) throws {
        let (c, grid, windows, global) = try Self.load(name)
        let merge = SlidingMerge(grid: grid, globalWeight: c.global_weight)
        let (probs, classes) = try merge.mergedProbabilities(windows: windows, global: global)
        #expect(classes == (try Self.npy(name, "classes").ints().map(Int.init)))
        let golden = try Self.npy(name, "merged")
        #expect(probs.shape == golden.shape)
        let close = closeness(probs.toArray(), golden.floats, atol: 1e-6, label: "\(name) merged")
        #expect(close.passed, "\(close)")
    }

    @Test(arguments: ["catseg", "clamped", "noglobal"])
    func labelMapMatchesTheReference(_ name: String) throws {
        let (c, grid, windows, global) = try Self.load(name)
        let merge = SlidingMerge(grid: grid, globalWeight: c.global_weight)
        let (labels, _) = try merge.labelMap(windows: windows, global: global, outHeight: c.output[0],
                                             outWidth: c.output[1])
        #expect(labels.width == c.output[1] && labels.height == c.output[0])
        let golden = try Self.npy(name, "labels").ints().map { UInt16($0) }
        let differing = zip(labels.labels, golden).filter { $0 != $1 }.count
        #expect(differing == 0, "\(name): \(differing) of \(golden.count) labels differ")
    }

    @Test func coverageIsCATSegsFoldOfOnes() throws {
        // CAT-Seg's geometry: 640 canvas, kernel 384, overlap 0.333 → corners {0, 256}², coverage 1 / 2 / 4.
        let grid = try WindowGrid(canvasHeight: 640, canvasWidth: 640, window: 384, overlap: 0.333)
        #expect(grid.stride == 256)
        #expect(grid.origins.map { [$0.y, $0.x] } == [[0, 0], [0, 256], [256, 0], [256, 256]])
        let cov = grid.coverage()
        #expect(cov[0] == 1 && cov[300 * 640 + 10] == 2 && cov[300 * 640 + 300] == 4 && cov[639 * 640 + 639] == 1)
        // With overlap exactly 1/3 the stride is still 256.
        #expect(try WindowGrid(canvasHeight: 640, canvasWidth: 640, window: 384, overlap: 1.0 / 3).stride == 256)
    }

    @Test func gridForA1080pFrame() throws {
        // window 640, overlap 1/3: stride 426; x starts 0, 426, 852, 1278, 1280 (clamped); y starts 0, 426, 440.
        let grid = try WindowGrid(canvasHeight: 1080, canvasWidth: 1920, window: 640, overlap: 1.0 / 3)
        #expect(grid.origins.count == 15)
        #expect(Array(Set(grid.origins.map(\.x))).sorted() == [0, 426, 852, 1278, 1280])
        #expect(Array(Set(grid.origins.map(\.y))).sorted() == [0, 426, 440])
        #expect(grid.coverage().allSatisfy { $0 >= 1 })
    }

    @Test func workingSizeKeepsTheAspectRatio() {
        #expect(WindowGrid.workingSize(frameWidth: 1920, frameHeight: 1080, window: 640, maxSide: 1920) == (1920, 1080))
        #expect(WindowGrid.workingSize(frameWidth: 3840, frameHeight: 2160, window: 640, maxSide: 1920) == (1920, 1080))
        // Too small for one window: scaled up until the short side holds one.
        #expect(WindowGrid.workingSize(frameWidth: 640, frameHeight: 360, window: 640, maxSide: 1920) == (1138, 640))
    }

    @Test func badOptionsAreUsageErrors() {
        for bad in [SlidingWindowOptions(mode: .sliding, overlap: 1), SlidingWindowOptions(mode: .sliding, overlap: -0.1),
                    SlidingWindowOptions(mode: .sliding, globalWeight: 1.5), SlidingWindowOptions(mode: .sliding, window: 8),
                    SlidingWindowOptions(mode: .sliding, window: 640, maxSide: 320)] {
            #expect(throws: VocaSegError.self) { try bad.validate() }
            do { try bad.validate() } catch let e as VocaSegError { #expect(e.kind == .usage) } catch {}
        }
        #expect(throws: Never.self) { try SlidingWindowOptions().validate() }
    }

    @Test func mergeRejectsOutputsThatDoNotFitTheGrid() throws {
        let (c, grid, windows, global) = try Self.load("clamped")
        let merge = SlidingMerge(grid: grid, globalWeight: c.global_weight)
        #expect(throws: VocaSegError.self) { _ = try merge.labelMap(windows: Array(windows.dropLast()), global: global,
                                                                    outHeight: 10, outWidth: 10) }
        #expect(throws: VocaSegError.self) { _ = try merge.labelMap(windows: windows.reversed(), global: global,
                                                                    outHeight: 10, outWidth: 10) }
    }
}
