import Foundation
import VocaSegCore

/// How a frame reaches the network: whole (`full`) or as model-sized windows plus a global view (`sliding`).
/// These are the CLI's `--mode`, `--window`, `--overlap`, `--global-view`, `--global-weight`, `--max-side` and
/// `--crm` and the pipeline files' fields of the same names.
public struct SlidingWindowOptions: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        /// The whole frame resized (squashed) to the model's input: the model's own preprocessing.
        case full
        /// Model-sized windows over the frame at its own aspect ratio, plus a downscaled global view.
        case sliding
    }

    /// Where the CRM (class reduction) selection is made in sliding mode.
    public enum CRMScope: String, Sendable, CaseIterable {
        /// One selection computed on the global view, used by every window: cheaper (windows skip the selection
        /// step) and consistent, since every window then scores the same classes.
        case shared
        /// Every window (and the global view) selects its own classes, as CAT-Seg's per-crop class pruning does;
        /// a class a window did not keep counts as probability 0 there.
        case perWindow = "per-window"
    }

    public var mode: Mode
    /// Window side in working-resolution pixels; nil = the model's input size. A window of another size is
    /// resized to the model's input before it runs (as CAT-Seg resizes its 384 crops to 336 for ViT-L).
    public var window: Int?
    /// Fraction of a window shared with its neighbour, in [0, 1). Stride = ⌊window·(1 − overlap)⌋.
    public var overlap: Double
    /// Also run the whole frame, downscaled to one window, and blend its probabilities in.
    public var globalView: Bool
    /// Weight of the global view in the blend: final = (1 − w)·windows + w·global. CAT-Seg uses 0.5.
    public var globalWeight: Float
    /// Longest side of the working resolution; larger frames are scaled down (aspect kept) before windowing.
    public var maxSide: Int
    public var crm: CRMScope

    public init(mode: Mode = .full, window: Int? = nil, overlap: Double = 1.0 / 3.0, globalView: Bool = true,
                globalWeight: Float = 0.5, maxSide: Int = 1920, crm: CRMScope = .shared) {
        self.mode = mode
        self.window = window
        self.overlap = overlap
        self.globalView = globalView
        self.globalWeight = globalWeight
        self.maxSide = maxSide
        self.crm = crm
    }

    /// Usage errors for values no run can use (the window's size against the model is checked by the segmenter).
    public func validate() throws {
        if let window, window < 16 {
            throw VocaSegError(.usage, "the sliding window must be at least 16 pixels (got \(window))")
        }
        guard overlap.isFinite, overlap >= 0, overlap < 1 else {
            throw VocaSegError(.usage, "the window overlap must be in [0, 1) (got \(overlap))")
        }
        guard globalWeight.isFinite, globalWeight >= 0, globalWeight <= 1 else {
            throw VocaSegError(.usage, "the global-view weight must be in [0, 1] (got \(globalWeight))")
        }
        guard maxSide >= 16 else { throw VocaSegError(.usage, "--max-side must be at least 16 (got \(maxSide))") }
        if let window, maxSide < window {
            throw VocaSegError(.usage, "--max-side \(maxSide) is smaller than the window \(window)")
        }
    }

    /// The model to hand to the pipeline: `model` itself in full mode, a `SlidingWindowSegmenter` around it in
    /// sliding mode.
    public func wrap(_ model: SegmentationModel) throws -> SegmentationModel {
        try validate()
        switch mode {
        case .full: return model
        case .sliding: return try SlidingWindowSegmenter(model: model, options: self)
        }
    }
}
