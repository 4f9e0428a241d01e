import Foundation
import Testing
import VocaSegModels
import VocaSegTensor

/// Seconds per frame of EOV-Seg's frozen CLIP parts at the spec's worked size (640×864 padded, Q = 100) with seeded
/// random weights. Opt-in (slow; wants a release build):
///
///     VOCASEG_BENCH=1 VOCASEG_BENCH_THREADS=2 swift test -c release -Xswiftc -enable-testing --filter EOVSegBackboneBenchmarkTests
///
/// No `@testable` import, so the release build needs no testability flags.
@Suite struct EOVSegBackboneBenchmarkTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["VOCASEG_BENCH"] == "1" }

    static func seconds(_ body: () -> Void) -> Double {
        let start = Date()
        body()
        return Date().timeIntervalSince(start)
    }

    @Test(.enabled(if: EOVSegBackboneBenchmarkTests.enabled), arguments: ["S", "M", "L"])
    func frozenPartsAt640(_ variant: String) {
        let env = ProcessInfo.processInfo.environment
        ParallelConfig.setThreads(Int(env["VOCASEG_BENCH_THREADS"] ?? "") ?? 2)
        let config: EOVSegConfig = variant == "S" ? .small : variant == "M" ? .medium : .large
        let loader = RandomWeights.loader(seed: 1)
        let cnn = EOVSegCNNBackbone(config: config, weights: loader.scope("cnn_backbone.clip_model.visual"))
        let vit = ViTSpatialBranch(config: config, weights: loader.scope("vit_backbone.clip_model"))
        let x = Tensor(shape: [1, 3, 640, 864], repeating: 0.1)
        // Masks of random logits at res5's size: about half the positions per query.
        var rng = SystemRandomNumberGenerator()
        let q = config.numQueries
        let masks = Tensor(shape: [q, 20, 27], data: (0..<(q * 540)).map { _ in Float.random(in: -1...1, using: &rng) })
        let pool = BufferPool()
        var feats: [Tensor] = []
        _ = cnn.features(x, pool: pool)  // warm-up: scratch and BLAS buffers
        let tFeatures = Self.seconds { feats = cnn.features(x, pool: pool) }
        let tPooled = Self.seconds { _ = cnn.maskPooled(res5: feats[3], maskLogits: masks) }
        let tViT = Self.seconds { _ = vit(x) }
        print(String(format: "EOVSeg bench %@: CNN features %.3f s, mask pooling (Q=%d) %.3f s, ViT branch %.3f s",
                     variant, tFeatures, q, tPooled, tViT))
        #expect(feats.map { $0.shape[2] } == [160, 80, 40, 20])
    }
}
