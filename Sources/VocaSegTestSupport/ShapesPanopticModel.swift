import VocaSegCore

/// Stand-in panoptic model for tests (the shipping CLI never uses it): reads `ShapesColorCode` back from the
/// pixels, so its segments are exactly the painted shapes. Its per-frame segment ids say nothing about identity
/// (numbered in raster order of first pixel, reversed on every other call), as a real model's would not, so
/// that only the tracking stage can make ids persist.
public final class ShapesPanopticModel: SegmentationModel, @unchecked Sendable {
    public let name = "test-shapes-panoptic"
    public let usesRandomWeights = false
    public var isPanoptic: Bool { true }
    private var classes = 1
    private var calls = 0

    public init() {}

    public func prepare(vocabulary: Vocabulary) throws { classes = vocabulary.count }

    /// The frame itself travels as the model input (one float per byte), so that `segment` sees its pixels.
    public func preprocess(_ frame: RGBImage) throws -> PreprocessedFrame {
        PreprocessedFrame(channels: 3, width: frame.width, height: frame.height,
                          data: frame.pixels.map { Float($0) }, originalWidth: frame.width,
                          originalHeight: frame.height)
    }

    public func segment(_ input: PreprocessedFrame, state: inout FrameState?) throws -> SegmentationResult {
        calls += 1
        let w = input.width, h = input.height
        var order: [ShapesColorCode.Identity] = []
        var index: [ShapesColorCode.Identity: UInt32] = [:]
        var raw = [UInt32](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            var id = ShapesColorCode.identity(r: UInt8(input.data[i * 3]), g: UInt8(input.data[i * 3 + 1]),
                                              b: UInt8(input.data[i * 3 + 2]))
            // Classes beyond the vocabulary wrap, so any vocabulary of at least one class works.
            id.classIndex %= classes
            if let k = index[id] {
                raw[i] = k
            } else {
                order.append(id)
                index[id] = UInt32(order.count)
                raw[i] = UInt32(order.count)
            }
        }
        let n = UInt32(order.count)
        let reversed = calls % 2 == 0
        let ids = reversed ? raw.map { n + 1 - $0 } : raw
        let segments = order.enumerated().map { k, id in
            PanopticSegment(id: reversed ? n - UInt32(k) : UInt32(k + 1), classIndex: id.classIndex,
                            isThing: id.isThing, score: 0.9)
        }
        let panoptic = PanopticResult(width: w, height: h, segmentIds: ids, segments: segments).normalized()
        return SegmentationResult(labels: panoptic.labelMap(), panoptic: panoptic)
    }
}
