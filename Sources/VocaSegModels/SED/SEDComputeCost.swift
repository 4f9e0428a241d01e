import VocaSegCore

/// Multiply-accumulates per frame, for `vocaseg bench`'s GFLOP/s column, counted from the configuration and the
/// class counts of the last forward pass (CER makes them vary): candidates N0, survivors N1, N2, N3. Every conv,
/// transposed conv and Linear is counted as out-elements × in-features; elementwise work, norms and the linear
/// attention's per-pixel sums (≈ 2·C·d per class and pixel) are left out, so the figures are a floor.
extension SEDModel: ComputeCostReporting {
    public func classCountsPerStage() -> [Int]? { lastClassCounts }

    public func multiplyAccumulatesPerFrame() -> [String: Double] {
        guard let counts = lastClassCounts else { return [:] }
        let c = config
        let s = Double(c.imageSize)
        // Trunk: stem 4×4/4, then each stage (downsample 2×2/2 except the first) and its blocks (dw 7×7, MLP 4C).
        var trunk = (s / 4) * (s / 4) * Double(c.trunkDims[0] * 3 * 16)
        for (i, dim) in c.trunkDims.enumerated() {
            let side = s / Double(4 << i), pixels = side * side, d = Double(dim)
            if i > 0 { trunk += pixels * d * Double(c.trunkDims[i - 1] * 4) }
            trunk += Double(c.trunkDepths[i]) * pixels * (49 * d + 8 * d * d)
        }
        let grid = Double(c.costSize * c.costSize), c4 = Double(c.trunkDims[3]), e = Double(c.embedDim)
        trunk += grid * (c.visualHead == .linear ? c4 * e : c4 * 2 * e + 2 * e * e)
        let n0 = Double(counts[0]), p = Double(c.templateCount), k2 = Double(c.costKernel * c.costKernel)
        let cer = options.cerK != nil
        // Cost map, its 7×7 embedding and head0 on every candidate.
        var cost = n0 * grid * (p * e + k2 * p * Double(c.costEmbedDim))
        if cer { cost += n0 * grid * 9 * Double(c.costEmbedDim) }
        // Guidance: appearance 3×3 convs (class-free) and the correlation chain on the stage-1 survivors.
        var guidance = 0.0
        var corrIn = p
        for i in 0..<3 {
            let side = Double(c.costSize << (i + 1)), pixels = side * side
            guidance += pixels * 9 * Double(c.guidanceInputDims[i] * c.guidanceProjDims[i])
            guidance += Double(counts[1]) * (pixels / 4) * corrIn * 4 * Double(c.corrGuidanceDims[i])
            corrIn = Double(c.corrGuidanceDims[i])
        }
        var out: [String: Double] = ["backbone": trunk, "head.cost": cost, "head.guidance": guidance]
        for i in 0..<3 {
            let n = Double(counts[i + 1]), side = Double(c.costSize << i), pixels = side * side
            let d = Double(c.stageInputDims[i]), up = Double(c.upDims[i]), o = Double(c.decoderDims[i])
            let cat = up + Double(c.guidanceProjDims[i] + c.corrGuidanceDims[i])
            let kb = Double(c.blockKernel * c.blockKernel)
            let mix = pixels * (kb * d + 8 * d * d) + pixels * (3 * d * d + 8 * d * d)
            let fuse = pixels * d * 4 * up + 4 * pixels * 9 * (cat * o + o * o)
            let head = (i == 2 || cer) ? 4 * pixels * 9 * o : 0
            out["head.stage\(i + 1)"] = n * (mix + fuse + head)
        }
        out["head"] = out.filter { $0.key.hasPrefix("head.") }.values.reduce(0, +)
        return out
    }
}
