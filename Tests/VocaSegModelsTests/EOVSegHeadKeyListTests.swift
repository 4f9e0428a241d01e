import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The trained head of the released S, M and L configs asks for exactly the `lite_aggr.*` and
/// `light_weight_decoder.*` keys and shapes of the spec's state-dict lists (../shared/specs/eovseg-statedict-*.txt),
/// with `criterion.empty_weight` ignored and BatchNorm step counters ignored. Weights are zeros of the listed
/// shapes; only key paths and shapes are under test.
@Suite(.serialized) struct EOVSegHeadKeyListTests {
    static let headPrefixes = ["lite_aggr.", "light_weight_decoder."]

    static func check(_ config: EOVSegConfig, _ file: String) throws {
        let keys = try ERRSegKeyListTests.keyList(file).filter { k in headPrefixes.contains { k.0.hasPrefix($0) } }
        try #require(!keys.isEmpty)
        let shapes = Dictionary(uniqueKeysWithValues: keys)
        let loader = WeightLoader(source: file, availableKeys: keys.map(\.0)) { key, _ in
            shapes[key].map { Tensor(zeros: $0) }
        }
        _ = LiteAggregator(loader.scope("lite_aggr"), featureChannels: config.featureChannels, aggDim: config.aggDim,
                           hiddenDim: config.hiddenDim)
        _ = LightweightDecoder(loader.scope("light_weight_decoder"), config: config)
        let report = loader.report
        #expect(report.missing.isEmpty, "missing: \(report.missing.prefix(5))")
        #expect(report.shapeMismatches.isEmpty, "misshapen: \(report.shapeMismatches.prefix(5))")
        #expect(report.unexpected.isEmpty, "never read: \(report.unexpected.prefix(5))")
        let ignored = Set(report.ignored.map(\.key))
        #expect(ignored.contains("light_weight_decoder.criterion.empty_weight"))
        #expect(ignored.allSatisfy { $0.hasSuffix("num_batches_tracked") || LightweightDecoder.ignoredKeys.contains($0) })
    }

    @Test func smallHeadKeys() throws { try Self.check(.small, "eovseg-statedict-r50.txt") }
    @Test func mediumHeadKeys() throws { try Self.check(.medium, "eovseg-statedict-r50x4.txt") }
    @Test func largeHeadKeys() throws { try Self.check(.large, "eovseg-statedict-convnext.txt") }
}
