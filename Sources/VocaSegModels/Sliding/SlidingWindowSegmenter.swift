import Foundation
import VocaSegCore
import VocaSegTensor

/// Sliding-window inference around a window model, itself a `SegmentationModel` so the pipeline runs it like any
/// other model.
///
/// preprocess (pipeline's preprocess thread): the frame is scaled to the working resolution (longest side at most
/// `maxSide`, aspect kept, Pillow-style bilinear on 8-bit pixels) and normalised. segment (inference thread): the
/// working image is cut into `window`-sized squares on a `WindowGrid`; each window (resized to the model's input
/// when `window` differs from it) runs through the model one after another, reusing the model's buffers; the
/// global view is the whole working image squashed to one window, as CAT-Seg's; the per-class probabilities are
/// merged by `SlidingMerge` and the label map is produced at the frame's original size.
public final class SlidingWindowSegmenter: SegmentationModel, @unchecked Sendable {
    public let model: ProbabilityMapModel
    public let options: SlidingWindowOptions
    /// Window side in working-resolution pixels.
    public let window: Int
    public let name: String
    public var usesRandomWeights: Bool { model.usesRandomWeights }

    private let pool = BufferPool()
    private let lock = NSLock()
    private var cachedMerge: SlidingMerge?
    private var lastWindowCountStorage = 0

    /// Wraps `model`, which must be a `ProbabilityMapModel` (every semantic model of this package is).
    public convenience init(model: SegmentationModel, options: SlidingWindowOptions) throws {
        guard let windowModel = model as? ProbabilityMapModel else {
            throw VocaSegError(.usage, "model \(model.name) cannot run sliding-window inference (no per-class probability maps)")
        }
        try self.init(windowModel: windowModel, options: options)
    }

    public init(windowModel: ProbabilityMapModel, options: SlidingWindowOptions) throws {
        try options.validate()
        let window = options.window ?? windowModel.inputSize
        guard options.maxSide >= window else {
            throw VocaSegError(.usage, "--max-side \(options.maxSide) is smaller than the window \(window)")
        }
        model = windowModel
        self.options = options
        self.window = window
        name = windowModel.name
    }

    /// The window model's settings with the sliding ones on top (the model's resize does not apply here: the
    /// frame goes to the working resolution instead).
    public var settingsSummary: [String: any Sendable] {
        var s = model.settingsSummary
        s["mode"] = "sliding"
        s["window"] = window
        s["overlap"] = options.overlap
        s["max_side"] = options.maxSide
        s["global_view"] = options.globalView
        s["crm"] = options.crm.rawValue
        s.removeValue(forKey: "resize")
        return s
    }

    /// Windows the last segmented frame was cut into (the global view not counted).
    public var lastWindowCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return lastWindowCountStorage
    }

    /// The grid a frame of this size is cut into.
    public func grid(frameWidth: Int, frameHeight: Int) throws -> WindowGrid {
        let size = WindowGrid.workingSize(frameWidth: frameWidth, frameHeight: frameHeight, window: window,
                                          maxSide: options.maxSide)
        return try WindowGrid(canvasHeight: size.height, canvasWidth: size.width, window: window,
                              overlap: options.overlap)
    }

    public func prepare(vocabulary: Vocabulary) throws { try model.prepare(vocabulary: vocabulary) }

    public func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        guard frame.width > 0, frame.height > 0 else { throw VocaSegError(.input, "the frame is empty") }
        let size = WindowGrid.workingSize(frameWidth: frame.width, frameHeight: frame.height, window: window,
                                          maxSide: options.maxSide)
        let w = size.width, h = size.height
        var pixels = frame.pixels
        if w != frame.width || h != frame.height {
            pixels = frame.pixels.withUnsafeBufferPointer {
                Ops.pilResizeBilinear($0, width: frame.width, height: frame.height, channels: 3, outWidth: w, outHeight: h)
            }
        }
        let mean = model.pixelMean, std = model.pixelStd
        guard mean.count == 3, std.count == 3 else {
            throw VocaSegError(.internal, "\(name): pixel mean/std must have 3 channels")
        }
        let plane = w * h
        var data = [Float](repeating: 0, count: 3 * plane)
        pixels.withUnsafeBufferPointer { src in
            data.withUnsafeMutableBufferPointer { dst in
                let d = dst.baseAddress!, s = src.baseAddress!
                let chunks = max(1, min(ParallelConfig.threads * 2, h / 16))
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    for p in (h * c / chunks * w)..<(h * (c + 1) / chunks * w) {
                        for ch in 0..<3 {
                            // (x − mean) / std as the models' own preprocessing (a true division).
                            d[ch * plane + p] = (Float(s[p * 3 + ch]) - mean[ch]) / std[ch]
                        }
                    }
                }
            }
        }
        return PreprocessedFrame(channels: 3, width: w, height: h, data: data, originalWidth: frame.width,
                                 originalHeight: frame.height)
    }

    /// The merge for this grid, reused while the geometry stays the same (coverage and buffers are kept).
    private func merge(for grid: WindowGrid) -> SlidingMerge {
        lock.lock()
        defer { lock.unlock() }
        let weight: Float? = options.globalView ? options.globalWeight : nil
        if let m = cachedMerge, m.grid == grid, m.globalWeight == weight { return m }
        let m = SlidingMerge(grid: grid, globalWeight: weight, pool: pool)
        cachedMerge = m
        return m
    }

    /// A [3, s, s] model input from `source` [3, n, n] (unchanged when n == s).
    private func toModelInput(_ source: Tensor) -> Tensor {
        let s = model.inputSize
        if source.shape[1] == s && source.shape[2] == s { return source }
        return Ops.interpolateBilinear(source, size: (s, s), alignCorners: false)
    }

    /// Copies the window at `origin` out of the working planes into a reused buffer.
    private func crop(_ planes: Tensor, at origin: WindowGrid.Origin) -> Tensor {
        let n = window, w = planes.shape[2], h = planes.shape[1]
        let out = pool.tensor("sliding.window", shape: [3, n, n])
        for ch in 0..<3 {
            for y in 0..<n {
                let src = planes.data + (ch * h + origin.y + y) * w + origin.x
                (out.data + (ch * n + y) * n).update(from: src, count: n)
            }
        }
        return out
    }

    public func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        guard input.channels == 3, input.width >= window, input.height >= window else {
            throw VocaSegError(.internal, "\(name): sliding input is \(input.channels)×\(input.height)×\(input.width), smaller than the \(window) window")
        }
        guard input.originalWidth > 0, input.originalHeight > 0 else { throw VocaSegError(.input, "the frame has no pixels") }
        let grid = try WindowGrid(canvasHeight: input.height, canvasWidth: input.width, window: window,
                                  overlap: options.overlap)
        var timings: [String: Double] = [:]
        let planes = Tensor(shape: [3, input.height, input.width], data: input.data)

        // The global view: the whole working image squashed to one window (CAT-Seg), then to the model's input.
        var global: WindowProbabilities?
        var shared: [Int]?
        let origin = WindowGrid.Origin(y: 0, x: 0)
        if options.globalView || options.crm == .shared {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let view = toModelInput(input.width == window && input.height == window
                                    ? planes : Ops.interpolateBilinear(planes, size: (window, window), alignCorners: false))
            if options.globalView {
                let r = try model.classProbabilities(window: view, selection: nil, timings: &timings)
                global = WindowProbabilities(origin: origin, probs: r.probs, selection: r.selection)
                if options.crm == .shared { shared = r.selection }
            } else {
                shared = try model.selectClasses(window: view, timings: &timings)
            }
            timings["sliding.global"] = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        }

        var windows: [WindowProbabilities] = []
        windows.reserveCapacity(grid.origins.count)
        let t1 = DispatchTime.now().uptimeNanoseconds
        for o in grid.origins {
            let x = toModelInput(crop(planes, at: o))
            let r = try model.classProbabilities(window: x, selection: shared, timings: &timings)
            windows.append(WindowProbabilities(origin: o, probs: r.probs, selection: r.selection))
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        let (labels, classes) = try merge(for: grid).labelMap(windows: windows, global: global,
                                                              outHeight: input.originalHeight,
                                                              outWidth: input.originalWidth)
        let t3 = DispatchTime.now().uptimeNanoseconds
        timings["sliding.windows"] = Double(t2 - t1) / 1e9
        timings["postprocess"] = Double(t3 - t2) / 1e9
        lock.lock()
        lastWindowCountStorage = grid.origins.count
        lock.unlock()
        return SegmentationResult(labels: labels, payload: ClassSelection(classes), timings: timings)
    }
}
