import Foundation
import VocaSegTensor

/// Cosine cost maps between dense CLIP embeddings and text embeddings (spec §2.4), and the CRM class selection
/// (spec §2.5).
enum CostVolume {
    /// dense [N, E] (any scale) and text [T, E] → cost [T, N] in [−1, 1].
    static func cosine(dense: Tensor, text: Tensor) -> Tensor {
        Ops.matmul(RowNormalization.unitRows(text), RowNormalization.unitRows(dense), transB: true)
    }
}

/// ERR-Seg's Channel Reduction Module (`Decoder.select_classes`).
public enum ClassReduction {
    /// For every pixel the `top` best classes get the rank weights (1, 0.1, 0.01 by default); scores are the
    /// per-class sums, accumulated in float32 rank by rank as the original's histograms are. `cost` is [T, N].
    public static func scores(cost: Tensor, top: Int, rankWeights: [Float]) -> [Float] {
        let t = cost.shape[0], n = cost.shape[1]
        let top = min(top, t)
        let c = cost.contiguous()
        var counts = [[Int]](repeating: [Int](repeating: 0, count: t), count: top)
        var best = [Int](repeating: 0, count: top)
        var bestValue = [Float](repeating: 0, count: top)
        for p in 0..<n {
            // Insertion into a sorted list of `top` (value descending, lower index first on ties).
            var filled = 0
            for cls in 0..<t {
                let v = c.data[cls * n + p]
                var pos = filled
                while pos > 0 && (v > bestValue[pos - 1] || (v.isNaN && !bestValue[pos - 1].isNaN)) { pos -= 1 }
                if pos >= top { continue }
                var j = min(filled, top - 1)
                while j > pos { best[j] = best[j - 1]; bestValue[j] = bestValue[j - 1]; j -= 1 }
                best[pos] = cls
                bestValue[pos] = v
                if filled < top { filled += 1 }
            }
            for r in 0..<top { counts[r][best[r]] += 1 }
        }
        var scores = [Float](repeating: 0, count: t)
        for r in 0..<top {
            let w = rankWeights[r]
            for cls in 0..<t { scores[cls] += Float(counts[r][cls]) * w }
        }
        return scores
    }

    /// The `k` best classes by score (ties → lower class index), returned in ascending index order. The
    /// original's random shuffle of the selection is skipped: everything after it is permutation-equivariant.
    public static func select(scores: [Float], k: Int) -> [Int] {
        let k = min(k, scores.count)
        let order = scores.indices.sorted { a, b in scores[a] != scores[b] ? scores[a] > scores[b] : a < b }
        return order.prefix(k).sorted()
    }
}

/// Cost embedding (`corr_proj_convs`, `low_corr_fusion`): each selected class map is a 1-channel image; 7×7 conv
/// at os16 and os32, the os32 one upsampled, average, 1×1 conv. Output channels-last X0 [K, h·w, C].
struct CostEmbedding {
    let conv16: ChannelsLastConv
    let conv32: ChannelsLastConv
    let fusion: LinearLayer
    let inter: Int

    /// `w` is the decoder scope.
    init(_ w: WeightScope, config c: ERRSegConfig) {
        inter = c.corrFPNInterDim
        conv16 = ChannelsLastConv(w.scope("corr_proj_convs.0.0"), in: 1, out: inter, kernel: 7, stride: 1, padding: 3)
        conv32 = ChannelsLastConv(w.scope("corr_proj_convs.1.0"), in: 1, out: inter, kernel: 7, stride: 1, padding: 3)
        let f = w.scope("low_corr_fusion")
        // The fusion reads (a + b)/2; halving its weight instead is exact (a power of two), and saves a pass.
        fusion = LinearLayer(weight: Ops.scale(f.tensor("weight", [c.corrFPNFusionDim, inter, 1, 1])
                                                .reshaped([c.corrFPNFusionDim, inter]), 0.5),
                             bias: f.tensor("bias", [c.corrFPNFusionDim])).packed()
    }

    /// cost16 [K, h·w], cost32 [K, (h/2)·(w/2)] (the selected classes' rows).
    func forward(cost16: Tensor, cost32: Tensor, height h: Int, width w: Int, pools: [BufferPool]) -> Tensor {
        let k = cost16.shape[0]
        let h32 = h / 2, w32 = w / 2
        let c16 = cost16.contiguous(), c32 = cost32.contiguous()
        let out = pools[0].tensor("cost.x0", shape: [k, h * w, fusion.outFeatures])
        // One class per worker: its [h·w, 256] embedding stays in cache between the two 7×7 convs, the upsampled
        // sum and the fusion (all K at once would stream a 52 MB map through memory three times).
        ParallelConfig.forEachItem(k) { worker, i in
            let pool = pools[worker]
            let (a, _, _) = conv16(c16.narrowed(dim: 0, start: i, length: 1), batch: 1, height: h, width: w, pool: pool,
                                   slot: "cost.a")
            let (b, _, _) = conv32(c32.narrowed(dim: 0, start: i, length: 1), batch: 1, height: h32, width: w32,
                                   pool: pool, slot: "cost.b")
            ChannelsLast.resizeBilinear(b, batch: 1, height: h32, width: w32, channels: inter, outHeight: h,
                                        outWidth: w, alignCorners: false, addInto: a)
            fusion(a, out: out.narrowed(dim: 0, start: i, length: 1).reshaped([h * w, fusion.outFeatures]))
        }
        return out
    }
}
