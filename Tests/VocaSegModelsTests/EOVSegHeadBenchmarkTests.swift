import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// Time of EOV-Seg's trained head and post-processing at the S (RN50) sizes on seeded random weights, from random
/// backbone features: aggregator, VAS, decoder, CLIP-mask ensemble, post-processing. Opt-in; wants a release build:
///
///     VOCASEG_EOV_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter EOVSegHeadBenchmarkTests
///
/// VOCASEG_EOV_BENCH_SIZE=HxW sets the padded input (default 640x864, the spec's worked example; the original frame
/// is 512×683 scaled alike; T = 404 text rows: 150 classes, 403 synonyms + void).
///
/// Measured 2026-12-03 on the 2-core build machine (release, 2 threads, other builds running): VAS guide 0.006 s,
/// lite aggregator 0.71 s, VAS 0.43 s, decoder 0.65 s, post-processing 0.36 s.
@Suite struct EOVSegHeadBenchmarkTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["VOCASEG_EOV_BENCH"] == "1" }

    @Test(.enabled(if: EOVSegHeadBenchmarkTests.enabled)) func smallVariantHead() throws {
        let env = ProcessInfo.processInfo.environment
        let size = (env["VOCASEG_EOV_BENCH_SIZE"] ?? "640x864").split(separator: "x").compactMap { Int($0) }
        let (hp, wp) = (size[0], size[1])
        let c = EOVSegConfig.small
        let weights = RandomWeights.loader(seed: 1, transposedConvolutions: ["up_sample", "output_upscaling"])
        let aggregator = LiteAggregator(weights.scope("lite_aggr"), featureChannels: c.featureChannels,
                                        aggDim: c.aggDim, hiddenDim: c.hiddenDim)
        let decoder = LightweightDecoder(weights.scope("light_weight_decoder"), config: c)
        let res = zip(c.featureChannels, [4, 8, 16, 32]).map { ch, s in
            Tensor(shape: [1, ch, hp / s, wp / s], data: (0..<(ch * (hp / s) * (wp / s))).map { Float($0 % 97) / 97 - 0.5 })
        }
        let v = Tensor(shape: [1, c.vitWidth, hp / 16, wp / 16],
                       data: (0..<(c.vitWidth * (hp / 16) * (wp / 16))).map { Float($0 % 89) / 89 - 0.5 })
        // 150 classes with 2 or 3 synonyms each: 403 synonym rows, then void.
        let counts = (0..<150).map { $0 < 103 ? 3 : 2 }
        let t = counts.reduce(0, +) + 1
        let tc = RowNormalization.unitRows(Tensor(shape: [t, c.embedDim],
                                                  data: (0..<(t * c.embedDim)).map { sinf(Float($0)) }))
        func time<R>(_ name: String, _ body: () -> R) -> R {
            let start = Date()
            let r = body()
            print(String(format: "EOV-Seg head %@: %.3f s", name, Date().timeIntervalSince(start)))
            return r
        }
        let guide = time("VAS guide (per vocabulary)") { decoder.vas.guide(textClassifier: tc) }
        let f0 = time("lite aggregator") { aggregator(features: res) }
        let (f, _) = time("VAS") { decoder.vas(f0, guide: guide) }
        let out = time("decoder") { decoder.decode(features: f, spatial: v, textClassifier: tc, synonymCounts: counts) }
        let mc = EOVSegClassification.clipMasks(out.masks, height: hp / 32, width: wp / 32)
        let (_, logp) = EOVSegClassification.ensemble(inVocab: out.classLogits, outVocab: out.classLogits,
                                                      seen: counts.indices.map { $0 % 2 == 0 }, alpha: 0.4, beta: 0.8,
                                                      valid: EOVSegClassification.validMasks(mc))
        let oh = hp * 512 / 640, ow = min(wp, hp * 683 / 640)
        let g = EOVSegFrameGeometry(paddedHeight: hp, paddedWidth: wp, resizedHeight: hp, resizedWidth: wp * 854 / 864,
                                    originalHeight: oh, originalWidth: ow)
        let result = time("post-processing") {
            EOVSegPostprocess.run(logProbabilities: logp, masks: out.masks, geometry: g,
                                  isThing: counts.indices.map { $0 < 100 }, objectMaskThreshold: 0, overlapThreshold: 0.8)
        }
        #expect(result.labels.width == ow && result.labels.height == oh)
    }
}
