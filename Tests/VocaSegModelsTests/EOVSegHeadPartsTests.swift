import Foundation
import Testing
import VocaSegTensor
@testable import VocaSegModels

/// Pieces of EOV-Seg's trained head checked without goldens: PyTorch values for small ops, the spec's formulas
/// written out naively, and shapes of the whole head on seeded random weights.
@Suite struct EOVSegHeadPartsTests {
    /// A tiny configuration (the reference's tiny_rn sizes): res2…res5 channels 32…256.
    static var tiny: EOVSegConfig {
        var c = EOVSegConfig.small
        c.name = "tiny"
        c.resnetWidth = 8
        c.aggDim = 16
        c.hiddenDim = 32
        c.embedDim = 32
        c.numQueries = 10
        c.vitWidth = 64
        c.ffnDim = 64
        c.queryHeads = 4
        return c
    }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SplitMix(seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.next() })
    }

    struct SplitMix {
        var state: UInt64
        init(_ seed: UInt64) { state = seed }
        mutating func next() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24) * 2 - 1
        }
    }

    /// `torch.linspace(-1, 1, n)` as torch 2.x prints it (float32).
    @Test func coordinatesMatchTorchLinspace() {
        #expect(LiteAggregator.linspace(4) == [-1.0, -0.3333333134651184, 0.3333333134651184, 1.0])
        #expect(LiteAggregator.linspace(7) == [-1.0, -0.6666666269302368, -0.3333333134651184, -2.9802322387695312e-08,
                                               0.3333333134651184, 0.6666666269302368, 1.0])
        let torch27: [Float] = [
            -1.0, -0.9230769276618958, -0.8461538553237915, -0.7692307829856873, -0.692307710647583,
            -0.615384578704834, -0.5384615063667297, -0.4615384340286255, -0.38461536169052124, -0.307692289352417,
            -0.23076920211315155, -0.1538461148738861, -0.07692304253578186, -3.725290298461914e-08,
            0.07692304253578186, 0.1538461148738861, 0.23076920211315155, 0.307692289352417, 0.38461536169052124,
            0.4615384340286255, 0.5384615063667297, 0.615384578704834, 0.692307710647583, 0.7692307829856873,
            0.8461538553237915, 0.9230769276618958, 1.0]
        #expect(LiteAggregator.linspace(27) == torch27)
        // x first (varies along columns), then y (along rows).
        let c = LiteAggregator.coordinates(height: 2, width: 3).toArray()
        #expect(c == [-1, 0, 1, -1, 0, 1, -1, -1, -1, 1, 1, 1])
    }

    /// F.conv1d with one 3-tap kernel per query, zero padded along channels.
    @Test func dynamicChannelConvIsACrossCorrelation() {
        let x = Tensor(shape: [2, 4], data: [1, 2, 3, 4, 1, 1, 1, 1])
        let k = Tensor(shape: [2, 3], data: [1, 10, 100, 0, 1, 0])
        let out = LightweightDecoderHead.dynamicChannelConv(k, x).toArray()
        #expect(out == [210, 321, 432, 43, 1, 1, 1, 1])
    }

    /// The one-pass gate equals max(softmax(⟨E, G⟩/√D)) computed naively.
    @Test func vasGateIsTheMaxSoftmax() {
        let d = 8, t = 5, hw = 7
        let e = Self.random([d, hw], seed: 1), g = Self.random([t, d], seed: 2)
        Ops.scaleInPlace(e, 4)
        var gate = [Float](repeating: 0, count: hw)
        gate.withUnsafeMutableBufferPointer {
            VocabularyAwareSelection.maxSoftmax(embeddings: e, guide: g, pixels: hw, into: $0.baseAddress!)
        }
        let ev = e.toArray(), gv = g.toArray()
        for p in 0..<hw {
            let s = (0..<t).map { n in (0..<d).map { ev[$0 * hw + p] * gv[n * d + $0] }.reduce(0, +) / Float(d).squareRoot() }
            let m = s.max()!
            let z = s.map { expf($0 - m) }.reduce(0, +)
            #expect(abs(gate[p] - s.map { expf($0 - m) / z }.max()!) < 1e-6)
        }
    }

    /// The whole head on random weights: every key it reads has the spec's shape, and the outputs have theirs.
    @Test func headShapesOnRandomWeights() throws {
        let c = Self.tiny
        let weights = RandomWeights.loader(seed: 3, transposedConvolutions: ["up_sample", "output_upscaling"])
        let aggregator = LiteAggregator(weights.scope("lite_aggr"), featureChannels: c.featureChannels,
                                        aggDim: c.aggDim, hiddenDim: c.hiddenDim)
        let decoder = LightweightDecoder(weights.scope("light_weight_decoder"), config: c)
        try weights.finish()
        // A 64×96 padded input: res2 16×24 … res5 2×3.
        let res = zip(c.featureChannels, [4, 8, 16, 32]).enumerated().map { i, cs in
            Self.random([1, cs.0, 64 / cs.1, 96 / cs.1], seed: UInt64(10 + i))
        }
        let f0 = aggregator(features: res)
        #expect(f0.shape == [1, c.hiddenDim, 16, 24])
        let tc = RowNormalization.unitRows(Self.random([6, c.embedDim], seed: 20))
        let (f, gate) = decoder.vas(f0, guide: decoder.vas.guide(textClassifier: tc))
        #expect(f.shape == f0.shape && gate.shape == [1, 1, 16, 24])
        let v = Self.random([1, c.vitWidth, 4, 6], seed: 21)
        let out = decoder.decode(features: f, spatial: v, textClassifier: tc, synonymCounts: [2, 1, 2])
        #expect(out.classLogits.shape == [c.numQueries, 4])
        #expect(out.masks.shape == [c.numQueries, 16, 24])
        #expect(out.stages.count == c.numStages && out.stages.allSatisfy { $0.kernels.shape == [c.numQueries, c.hiddenDim] })
        #expect(out.upscaledSpatial.shape == [c.vitWidth, 16, 24])
        #expect(out.classLogits.toArray().allSatisfy(\.isFinite) && out.masks.toArray().allSatisfy(\.isFinite))
        #expect(LightweightDecoder.ignoredKeys == ["light_weight_decoder.criterion.empty_weight"])
    }
}
