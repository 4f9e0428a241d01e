import Foundation
import VocaSegCore
import VocaSegTensor

/// One model output to be merged: probabilities [K, h, w] of the classes in `selection` (vocabulary indices).
public struct WindowProbabilities: @unchecked Sendable {
    /// Top-left corner on the canvas (unused for the global view).
    public var origin: WindowGrid.Origin
    public var probs: Tensor
    public var selection: [Int]

    public init(origin: WindowGrid.Origin, probs: Tensor, selection: [Int]) {
        precondition(probs.rank == 3 && probs.shape[0] == selection.count, "WindowProbabilities: shape/selection")
        self.origin = origin
        self.probs = probs.contiguous()
        self.selection = selection
    }
}

/// CAT-Seg's merge (spec §3.2), one class plane at a time: every window's probabilities are bilinearly upsampled
/// to the window's size and summed into the canvas, the sum is divided by the coverage count (probabilities, not
/// logits, are averaged), and the global view — upsampled to a window, then resized to the canvas — is blended in:
/// (1 − w)·average + w·global (w = 0.5 is CAT-Seg's (average + global) / 2 to the bit). A class a window did not
/// score contributes 0 there (CAT-Seg's −100 logit). Working plane by plane keeps memory at one canvas plane plus
/// one window plane, whatever the number of classes.
public struct SlidingMerge {
    public let grid: WindowGrid
    /// Global-view weight; nil = no global view.
    public let globalWeight: Float?
    let coverage: [Float]
    let pool: BufferPool

    public init(grid: WindowGrid, globalWeight: Float?, pool: BufferPool = BufferPool()) {
        self.grid = grid
        self.globalWeight = globalWeight
        coverage = grid.coverage()
        self.pool = pool
    }

    /// Vocabulary indices scored by at least one window or the global view, ascending.
    public static func classes(windows: [WindowProbabilities], global: WindowProbabilities?) -> [Int] {
        var all = Set<Int>()
        for w in windows { all.formUnion(w.selection) }
        if let global { all.formUnion(global.selection) }
        return all.sorted()
    }

    /// For each output: position of each merged class in its selection, or −1.
    static func localIndices(_ outputs: [WindowProbabilities], classes: [Int]) -> [[Int]] {
        var position: [Int: Int] = [:]
        for (i, c) in classes.enumerated() { position[c] = i }
        return outputs.map { w in
            var local = [Int](repeating: -1, count: classes.count)
            for (i, c) in w.selection.enumerated() { if let u = position[c] { local[u] = i } }
            return local
        }
    }

    private func check(_ windows: [WindowProbabilities]) throws {
        guard windows.count == grid.origins.count else {
            throw VocaSegError(.internal, "sliding merge: \(windows.count) window outputs for \(grid.origins.count) windows")
        }
        for (w, o) in zip(windows, grid.origins) where w.origin != o {
            throw VocaSegError(.internal, "sliding merge: window outputs are not in grid order")
        }
    }

    /// Merged probability of class `u` into `canvas` (canvasHeight × canvasWidth).
    private func mergePlane(_ u: Int, windows: [WindowProbabilities], windowLocal: [[Int]],
                            global: WindowProbabilities?, globalLocal: [Int]?, canvas: UnsafeMutablePointer<Float>,
                            windowPlane: UnsafeMutablePointer<Float>) {
        let ch = grid.canvasHeight, cw = grid.canvasWidth, n = grid.window
        canvas.initialize(repeating: 0, count: ch * cw)
        var upsamplers: [String: PlaneResampler] = [:]
        func upsampler(_ t: Tensor) -> PlaneResampler {
            let key = "\(t.shape[1])x\(t.shape[2])"
            if let r = upsamplers[key] { return r }
            let r = PlaneResampler(inHeight: t.shape[1], inWidth: t.shape[2], outHeight: n, outWidth: n)
            upsamplers[key] = r
            return r
        }
        for (i, w) in windows.enumerated() {
            let local = windowLocal[i][u]
            guard local >= 0 else { continue }
            let plane = w.probs.shape[1] * w.probs.shape[2]
            upsampler(w.probs).run(w.probs.data + local * plane, into: canvas + w.origin.y * cw + w.origin.x,
                                   dstStride: cw, .add)
        }
        coverage.withUnsafeBufferPointer { cov in
            let chunks = max(1, min(ParallelConfig.threads * 2, ch / 8))
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                for p in (ch * c / chunks * cw)..<(ch * (c + 1) / chunks * cw) { canvas[p] = canvas[p] / cov[p] }
            }
        }
        guard let weight = globalWeight else { return }
        let local = globalLocal?[u] ?? -1
        if let global, local >= 0 {
            let plane = global.probs.shape[1] * global.probs.shape[2]
            upsampler(global.probs).run(global.probs.data + local * plane, into: windowPlane, dstStride: n, .store)
            PlaneResampler(inHeight: n, inWidth: n, outHeight: ch, outWidth: cw)
                .run(windowPlane, into: canvas, dstStride: cw, .blend(keep: 1 - weight, weight: weight))
        } else {
            // The global view did not score this class: its probability there is 0.
            let keep = 1 - weight
            for p in 0..<(ch * cw) { canvas[p] = keep * canvas[p] + weight * 0 }
        }
    }

    /// The merged probabilities [U, canvasHeight, canvasWidth] of the returned classes (for tests and small
    /// canvases; the segmenter uses `labelMap`, which never holds more than one plane).
    public func mergedProbabilities(windows: [WindowProbabilities],
                                    global: WindowProbabilities?) throws -> (probs: Tensor, classes: [Int]) {
        try check(windows)
        let classes = Self.classes(windows: windows, global: global)
        let plane = grid.canvasHeight * grid.canvasWidth
        let out = Tensor(uninitializedShape: [classes.count, grid.canvasHeight, grid.canvasWidth])
        let windowLocal = Self.localIndices(windows, classes: classes)
        let globalLocal = global.map { Self.localIndices([$0], classes: classes)[0] }
        let windowPlane = pool.storage("sliding.globalWindow", count: grid.window * grid.window)
        for u in classes.indices {
            mergePlane(u, windows: windows, windowLocal: windowLocal, global: global, globalLocal: globalLocal,
                       canvas: out.data + u * plane, windowPlane: windowPlane.pointer)
        }
        return (out, classes)
    }

    /// The label map at outWidth × outHeight: every merged plane bilinearly resized (align_corners False) to the
    /// output size, argmax over classes (the lowest class wins ties), mapped to vocabulary indices.
    public func labelMap(windows: [WindowProbabilities], global: WindowProbabilities?, outHeight oh: Int,
                         outWidth ow: Int) throws -> (labels: LabelMap, classes: [Int]) {
        try check(windows)
        let classes = Self.classes(windows: windows, global: global)
        guard !classes.isEmpty, classes.count < Int(UInt16.max), oh > 0, ow > 0 else {
            throw VocaSegError(.internal, "sliding merge: nothing to merge into a \(ow)x\(oh) map")
        }
        let windowLocal = Self.localIndices(windows, classes: classes)
        let globalLocal = global.map { Self.localIndices([$0], classes: classes)[0] }
        let canvas = pool.storage("sliding.canvas", count: grid.canvasHeight * grid.canvasWidth)
        let windowPlane = pool.storage("sliding.globalWindow", count: grid.window * grid.window)
        let best = pool.storage("sliding.best", count: oh * ow)
        var index = [UInt16](repeating: 0, count: oh * ow)
        let toOutput = PlaneResampler(inHeight: grid.canvasHeight, inWidth: grid.canvasWidth, outHeight: oh, outWidth: ow)
        index.withUnsafeMutableBufferPointer { idx in
            for u in classes.indices {
                mergePlane(u, windows: windows, windowLocal: windowLocal, global: global, globalLocal: globalLocal,
                           canvas: canvas.pointer, windowPlane: windowPlane.pointer)
                toOutput.run(canvas.pointer, into: best.pointer, dstStride: ow,
                             .argmax(classIndex: UInt16(u), index: idx.baseAddress!))
            }
        }
        let vocabularyIndex = classes.map { UInt16($0) }
        let labels = index.map { vocabularyIndex[Int($0)] }
        return (LabelMap(width: ow, height: oh, labels: labels), classes)
    }
}
