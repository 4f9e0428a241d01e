import VocaSegCore

/// Multiply-accumulates of one EOV-Seg frame by stage, counted from the architecture (convolutions, linears,
/// attention products, DCN sampling excluded), for `vocaseg bench`'s GFLOP/s column. For the padded input H×W and T
/// text rows; the spec's FLOP-counter figures at 640×864, T = 404 (§5.2: S ≈ 182, M ≈ 257, L ≈ 479 GMAC) are the
/// check (EOVSegModelTinyTests). Deliberately the original's work: the decoder's skipped class branches of stages
/// 0 and 1 are not counted, as they are not computed here either.
public struct EOVSegComputeCost: Sendable {
    public var config: EOVSegConfig
    public var height: Int
    public var width: Int
    public var textRows: Int

    public init(config: EOVSegConfig, height: Int, width: Int, textRows: Int) {
        self.config = config
        self.height = height
        self.width = width
        self.textRows = textRows
    }

    /// Pixels at stride s.
    func area(_ s: Int) -> Double { Double((height / s) * (width / s)) }

    var backbone: Double {
        let c = config
        switch c.backbone {
        case .resnet:
            let w = Double(c.resnetWidth)
            let half = area(2)
            var macs = half * 9 * (3 * w / 2 + (w / 2) * (w / 2) + (w / 2) * w)
            var inChannels = w
            for (layer, blocks) in c.resnetLayers.enumerated() {
                let planes = w * Double(1 << layer)
                let stride = layer == 0 ? 1 : 2
                let inputStride = 4 << max(0, layer - 1) // layer1 at /4, layer2 input /4, layer3 /8, layer4 /16
                for block in 0..<blocks {
                    let sIn = block == 0 ? inputStride : inputStride * stride
                    let sOut = inputStride * stride
                    macs += area(sIn) * inChannels * planes          // conv1 1×1
                    macs += area(sIn) * 9 * planes * planes          // conv2 3×3 (before the anti-aliasing pool)
                    macs += area(sOut) * planes * 4 * planes         // conv3 1×1
                    if block == 0 { macs += area(sOut) * inChannels * 4 * planes }  // downsample 1×1
                    inChannels = 4 * planes
                }
            }
            return macs
        case .convnext:
            let d = c.convnextDims.map(Double.init)
            var macs = area(4) * 16 * 3 * d[0]
            for stage in 0..<4 {
                let a = area(4 << stage)
                if stage > 0 { macs += a * 4 * d[stage - 1] * d[stage] }
                macs += Double(c.convnextDepths[stage]) * a * (49 * d[stage] + 8 * d[stage] * d[stage])
            }
            return macs
        }
    }

    var vit: Double {
        let c = config, v = Double(c.vitWidth)
        let n = area(c.vitPatch) + 1
        let patch = area(c.vitPatch) * Double(c.vitPatch * c.vitPatch * 3) * v
        return patch + n * v * 3 * v + 2 * n * n * v + n * v * v + 2 * n * v * Double(c.vitMLPDim)
    }

    var aggregator: Double {
        let c = config, agg = Double(c.aggDim)
        let channels = c.featureChannels.map(Double.init)  // C2…C5
        var macs = 0.0
        for (i, ch) in channels.enumerated() {
            let a = area(4 << i)
            macs += a * ch * ch / 2 + a * ch / 2 * agg  // lateral, conv_a
        }
        for level in 1...3 {  // deform_conv1 at /32 → /16 … deform_conv3 at /8 → /4
            let a = area(4 << (4 - level)), cin = channels[4 - level] / 2, cout = channels[3 - level] / 2
            macs += a * 9 * cin * 27 + a * 9 * cin * cout + a * 16 * cout * cout
        }
        return macs + area(4) * (9 * agg * agg + (agg + 2) * Double(c.hiddenDim))
    }

    var vas: Double {
        let c = config, hidden = Double(c.hiddenDim), d = Double(c.embedDim)
        return area(4) * (9 * hidden + hidden * d + d * Double(textRows))
    }

    var decoder: Double {
        let c = config, hidden = Double(c.hiddenDim), q = Double(c.numQueries), v = Double(c.vitWidth)
        let upscaling = area(16) * v * v * 4 + area(8) * v * v * 4
        let perStage = 2 * q * area(4) * hidden                                      // mask-sum pool, mask einsum
            + q * (hidden * 3 * hidden + hidden * hidden + 2 * hidden * Double(c.ffnDim) + 2 * hidden * hidden)
            + 2 * q * q * hidden
        let classBranch = q * area(4) * (hidden + v) + q * (hidden * hidden + v * hidden + 7 * hidden * hidden)
            + q * (2 * hidden * hidden + hidden * Double(c.embedDim)) + q * Double(c.embedDim * textRows)
        return q * hidden * area(4) + upscaling + Double(c.numStages) * perStage + classBranch
    }

    var clip: Double {
        let c = config, q = Double(c.numQueries), d = Double(c.embedDim), a = area(32)
        let logits = q * d * Double(textRows)
        switch c.backbone {
        case .resnet:
            let ch = Double(32 * c.resnetWidth)
            return 2 * a * ch * ch + q * ch * ch + 2 * q * a * ch + q * ch * d + logits
        case .convnext:
            let ch = Double(c.convnextDims[3])
            return q * a * ch + q * (ch * 2 * d + 2 * d * d) + logits
        }
    }

    /// By the stage names of `SegmentationResult.timings`.
    public var byStage: [String: Double] {
        ["backbone": backbone, "vit": vit, "aggregator": aggregator, "vas": vas, "decoder": decoder, "clip": clip]
    }
}

extension EOVSegModel: ComputeCostReporting {
    /// For the last frame segmented (sizes vary with the frame) and the prepared vocabulary; empty before both.
    public func multiplyAccumulatesPerFrame() -> [String: Double] {
        guard let (height, width) = lastInputSize, let rows = currentClassifier?.classifier.rows.shape[0] else { return [:] }
        return EOVSegComputeCost(config: config, height: height, width: width, textRows: rows).byStage
    }
}
