import Foundation

/// One row of the op benchmark: an op at a model shape, its arithmetic, and the measured time.
public struct OpBenchmarkResult: Sendable {
    public let name: String
    public let shape: String
    /// Floating-point operations (multiply and add counted separately), in units of 10⁹.
    public let gflop: Double
    /// Fastest wall time over the timed repetitions, in milliseconds (the minimum, not the median: on a shared
    /// machine the slower repetitions measure other processes).
    public let milliseconds: Double
    /// Smallest process CPU time (all threads) per repetition, in milliseconds. On a busy machine wall time inflates
    /// while CPU time stays close to the unloaded cost; with one thread it is the best estimate of the op's cost.
    public let cpuMilliseconds: Double
    public var gflopPerSecond: Double { milliseconds > 0 ? gflop / (milliseconds / 1000) : 0 }
}

/// Times the dense ops at the heavy shapes of ERR-Seg B at 640 (ConvNeXt trunk, decoder GUD convs) plus raw
/// sgemm throughput, with the engine's current thread setting. Rows match Scripts/bench/ops_bench.py, which times
/// the same shapes in PyTorch. Not a test: call it from `vocaseg bench` or the gated OpBenchmarks test.
public enum OpBenchmarks {
    /// Runs every row (about a minute on 2 cores). `filter` keeps rows whose name contains it.
    public static func run(filter: String? = nil, minSeconds: Double = 0.4) -> [OpBenchmarkResult] {
        var results: [OpBenchmarkResult] = []
        for c in cases() where filter.map({ c.name.contains($0) }) ?? true {
            let setup = c.setup()
            setup()  // warm-up: first-touch of buffers, OpenBLAS thread start
            var times: [Double] = [], cpu: [Double] = []
            let start = DispatchTime.now().uptimeNanoseconds
            repeat {
                let c0 = processCPUSeconds()
                let t0 = DispatchTime.now().uptimeNanoseconds
                setup()
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                cpu.append((processCPUSeconds() - c0) * 1000)
            } while times.count < 3 || (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < minSeconds
                                        && times.count < 50)
            times.sort()
            cpu.sort()
            results.append(OpBenchmarkResult(name: c.name, shape: c.shape, gflop: c.gflop,
                                             milliseconds: times[0], cpuMilliseconds: cpu[0]))
        }
        return results
    }

    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Fixed-width text table of `results`; with `reference` (name → milliseconds, e.g. PyTorch), adds the ratio.
    /// With `useCPUTime`, the ms column (and GFLOP/s) is the process CPU time per repetition instead of wall time.
    public static func table(_ results: [OpBenchmarkResult], reference: [String: Double] = [:],
                             useCPUTime: Bool = false) -> String {
        let results = useCPUTime
            ? results.map { OpBenchmarkResult(name: $0.name, shape: $0.shape, gflop: $0.gflop,
                                              milliseconds: $0.cpuMilliseconds, cpuMilliseconds: $0.cpuMilliseconds) }
            : results
        let sgemm = results.first { $0.name == "sgemm" }?.gflopPerSecond
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var lines = [pad("op", 24) + pad("shape", 34) + pad("GFLOP", 9) + pad(useCPUTime ? "cpu ms" : "ms", 10) + pad("GFLOP/s", 9)
                     + pad("%sgemm", 8) + pad("torch ms", 10) + "ours/torch"]
        for r in results {
            let pct = sgemm.map { String(format: "%.0f%%", 100 * r.gflopPerSecond / $0) } ?? "-"
            let ref = reference[r.name]
            lines.append(pad(r.name, 24) + pad(r.shape, 34) + pad(String(format: "%.3f", r.gflop), 9)
                         + pad(String(format: "%.2f", r.milliseconds), 10) + pad(String(format: "%.1f", r.gflopPerSecond), 9)
                         + pad(pct, 8) + pad(ref.map { String(format: "%.2f", $0) } ?? "-", 10)
                         + (ref.map { String(format: "%.2f", r.milliseconds / $0) } ?? "-"))
        }
        return lines.joined(separator: "\n")
    }

    struct Case {
        let name: String
        let shape: String
        let gflop: Double
        /// Builds inputs once and returns the closure to time.
        let setup: () -> () -> Void
    }

    static func random(_ shape: [Int], scale: Float = 1, seed: UInt64) -> Tensor {
        var state = seed &* 6364136223846793005 &+ 1442695040888963407
        let t = Tensor(uninitializedShape: shape)
        for i in 0..<t.count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            t.data[i] = (Float(state >> 40) / Float(1 << 24) - 0.5) * 2 * scale
        }
        return t
    }

    static func conv(_ name: String, n: Int, cin: Int, cout: Int, hw: (Int, Int), k: Int, stride: Int = 1, pad: Int = 0,
                     activation: Activation = .identity) -> Case {
        let oh = (hw.0 + 2 * pad - k) / stride + 1, ow = (hw.1 + 2 * pad - k) / stride + 1
        let flop = 2.0 * Double(n * cout * oh * ow) * Double(cin * k * k)
        return Case(name: name, shape: "[\(n),\(cin),\(hw.0),\(hw.1)] k\(k)s\(stride) →\(cout)", gflop: flop / 1e9) {
            let x = random([n, cin, hw.0, hw.1], seed: 1), w = random([cout, cin, k, k], scale: 0.05, seed: 2)
            let b = random([cout], seed: 3)
            let pool = BufferPool()
            return { _ = Ops.conv2d(x, weight: w, bias: b, stride: stride, padding: pad, activation: activation, pool: pool) }
        }
    }

    /// Classes run per item, as in ERR-Seg's decoder: 32 items of `body(worker, item)` over the workers.
    static let perClassItems = 32

    static func perClassConv(_ name: String, c: Int, hw: Int) -> Case {
        let flop = 2.0 * Double(perClassItems * c * hw * hw) * Double(c * 9)
        return Case(name: name, shape: "\(perClassItems)×[1,\(c),\(hw),\(hw)] k3p1 →\(c)", gflop: flop / 1e9) {
            // As in GUD, each worker convolves its own pooled planes (written by the previous step, so in cache).
            let workers = ParallelConfig.threads
            let x = random([workers, c, hw, hw], seed: 1), w = random([c, c, 3, 3], scale: 0.05, seed: 2)
            let out = Tensor(uninitializedShape: [workers, c, hw, hw])
            let pools = (0..<workers).map { _ in BufferPool() }
            return {
                ParallelConfig.forEachItem(perClassItems) { worker, _ in
                    _ = Ops.conv2d(x.narrowed(dim: 0, start: worker, length: 1), weight: w, padding: 1,
                                   pool: pools[worker], out: out.narrowed(dim: 0, start: worker, length: 1))
                }
            }
        }
    }

    /// GUD's 2×2 stride-2 transposed conv per class, on per-worker buffers.
    static func perClassUpsample(_ name: String, cin: Int, cout: Int, hw: Int) -> Case {
        let flop = 2.0 * Double(perClassItems * hw * hw * cin * cout * 4)
        return Case(name: name, shape: "\(perClassItems)×[1,\(cin),\(hw),\(hw)] k2s2 →\(cout)", gflop: flop / 1e9) {
            let workers = ParallelConfig.threads
            let x = random([workers, cin, hw, hw], seed: 1), w = random([cin, cout, 2, 2], scale: 0.1, seed: 2)
            let b = random([cout], seed: 3)
            let pools = (0..<workers).map { _ in BufferPool() }
            return {
                ParallelConfig.forEachItem(perClassItems) { worker, _ in
                    _ = Ops.convTranspose2d(x.narrowed(dim: 0, start: worker, length: 1), weight: w, bias: b, stride: 2,
                                            pool: pools[worker])
                }
            }
        }
    }

    static func perClassLinear(_ name: String, rows: Int, inF: Int, outF: Int, bias: Bool, packed: Bool) -> Case {
        let flop = 2.0 * Double(perClassItems * rows * inF * outF)
        return Case(name: name, shape: "\(perClassItems)×[\(rows),\(inF)]·[\(outF),\(inF)]ᵀ\(bias ? " +b" : "")\(packed ? " packed" : "")",
                    gflop: flop / 1e9) {
            // As in the model, each worker reads and writes its own pooled buffers (there the input was written by
            // the LayerNorm just before, so it is in cache).
            let workers = ParallelConfig.threads
            let x = random([workers, rows, inF], seed: 1), w = random([outF, inF], scale: 0.05, seed: 2)
            let b = bias ? random([outF], seed: 3) : nil
            let out = Tensor(uninitializedShape: [workers, rows, outF])
            let pw = PackedLinearWeight(weight: w, bias: b)
            return {
                ParallelConfig.forEachItem(perClassItems) { worker, _ in
                    let xi = x.narrowed(dim: 0, start: worker, length: 1).reshaped([rows, inF])
                    let yi = out.narrowed(dim: 0, start: worker, length: 1).reshaped([rows, outF])
                    if packed { Ops.linear(xi, packed: pw, out: yi) } else { Ops.linear(xi, weight: w, bias: b, out: yi) }
                }
            }
        }
    }

    static func cases() -> [Case] {
        var list: [Case] = []
        let s = 2048
        list.append(Case(name: "sgemm", shape: "\(s)×\(s)×\(s)", gflop: 2 * pow(Double(s), 3) / 1e9) {
            let a = random([s, s], seed: 1), b = random([s, s], seed: 2), c = Tensor(uninitializedShape: [s, s])
            // Raw OpenBLAS on its own thread pool: the reference every %sgemm figure is against.
            return { BLAS.sgemmOnOpenBLASPool(threads: ParallelConfig.threads, n: s, a: a.data, b: b.data, c: c.data) }
        })
        list.append(Case(name: "sgemm_banded", shape: "\(s)×\(s)×\(s) BLAS.sgemm", gflop: 2 * pow(Double(s), 3) / 1e9) {
            let a = random([s, s], seed: 1), b = random([s, s], seed: 2), c = Tensor(uninitializedShape: [s, s])
            return { BLAS.sgemm(m: s, n: s, k: s, a: a.data, lda: s, b: b.data, ldb: s, c: c.data, ldc: s) }
        })
        // ConvNeXt stage 2 (27 blocks at 40×40×512) and stage 0 (160×160×128).
        for (c, hw, tag) in [(512, 40, "s2"), (128, 160, "s0")] {
            let p = hw * hw
            let flop = 2.0 * Double(p * c * 49) + 2 * 2.0 * Double(p * c * 4 * c)
            list.append(Case(name: "convnext_block_\(tag)", shape: "[1,\(c),\(hw),\(hw)]", gflop: flop / 1e9) {
                let w = ConvNeXtBlockWeights.prepared(
                    dwWeight: random([c, 1, 7, 7], scale: 0.1, seed: 1), dwBias: random([c], seed: 2),
                    normWeight: random([c], seed: 3), normBias: random([c], seed: 4),
                    fc1Weight: random([4 * c, c], scale: 0.05, seed: 5), fc1Bias: random([4 * c], seed: 6),
                    fc2Weight: random([c, 4 * c], scale: 0.02, seed: 7), fc2Bias: random([c], seed: 8),
                    gamma: random([c], scale: 0.1, seed: 9))
                let x = random([1, c, hw, hw], seed: 10)
                let pool = BufferPool()
                return { _ = Ops.convNeXtBlock(x, w, pool: pool) }
            })
        }
        // ConvNeXt stages 0 and 1 as the trunk runs their MLP: 512-row tiles handed to the workers, each through
        // fc1 + GELU into a per-worker hidden tile and fc2 accumulating into the residual stream.
        for (c, hw, tag) in [(128, 160, "s0"), (256, 80, "s1")] {
            for packed in [false, true] {
                let rows = hw * hw, tile = 512
                list.append(Case(name: "convnext_mlp_\(tag)_tiles" + (packed ? "_packed" : ""),
                                 shape: "[\(rows),\(c)]→\(4 * c)→\(c) 512-row tiles" + (packed ? " packed" : ""),
                                 gflop: 2 * 2.0 * Double(rows * c * 4 * c) / 1e9) {
                    let x = random([rows, c], seed: 1), res = random([rows, c], seed: 4)
                    let w1 = random([4 * c, c], scale: 0.05, seed: 2), b1 = random([4 * c], seed: 3)
                    let w2 = random([c, 4 * c], scale: 0.02, seed: 5), b2 = random([c], seed: 6)
                    let p1 = PackedLinearWeight(weight: w1, bias: b1), p2 = PackedLinearWeight(weight: w2, bias: b2)
                    let hidden = (0..<ParallelConfig.threads).map { _ in Tensor(uninitializedShape: [tile, 4 * c]) }
                    return {
                        ParallelConfig.forEachItem((rows + tile - 1) / tile) { worker, t in
                            let r0 = t * tile, n = min(tile, rows - r0)
                            let h = hidden[worker].narrowed(dim: 0, start: 0, length: n)
                            let xi = x.narrowed(dim: 0, start: r0, length: n), yi = res.narrowed(dim: 0, start: r0, length: n)
                            if packed {
                                Ops.linear(xi, packed: p1, activation: .gelu, out: h)
                                Ops.linear(h, packed: p2, out: yi, accumulate: true)
                            } else {
                                Ops.linear(xi, weight: w1, bias: b1, activation: .gelu, out: h)
                                Ops.linear(h, weight: w2, bias: b2, out: yi, accumulate: true)
                            }
                        }
                    }
                })
            }
        }
        list.append(Case(name: "linear_fc1_gelu", shape: "[1600,512]·[2048,512]ᵀ +b GELU",
                         gflop: 2.0 * 1600 * 512 * 2048 / 1e9) {
            let x = random([1600, 512], seed: 1), w = random([2048, 512], scale: 0.05, seed: 2), b = random([2048], seed: 3)
            let out = Tensor(uninitializedShape: [1600, 2048])
            return { Ops.linear(x, weight: w, bias: b, activation: .gelu, out: out) }
        })
        list.append(Case(name: "linear_fc1", shape: "[1600,512]·[2048,512]ᵀ +b", gflop: 2.0 * 1600 * 512 * 2048 / 1e9) {
            let x = random([1600, 512], seed: 1), w = random([2048, 512], scale: 0.05, seed: 2), b = random([2048], seed: 3)
            let out = Tensor(uninitializedShape: [1600, 2048])
            return { Ops.linear(x, weight: w, bias: b, out: out) }
        })
        list.append(Case(name: "linear_fc2", shape: "[1600,2048]·[512,2048]ᵀ +b", gflop: 2.0 * 1600 * 512 * 2048 / 1e9) {
            let x = random([1600, 2048], seed: 1), w = random([512, 2048], scale: 0.05, seed: 2), b = random([512], seed: 3)
            let out = Tensor(uninitializedShape: [1600, 512])
            return { Ops.linear(x, weight: w, bias: b, out: out) }
        })
        list.append(Case(name: "gemm_fc1_raw", shape: "1600×2048×512 sgemm", gflop: 2.0 * 1600 * 512 * 2048 / 1e9) {
            let x = random([1600, 512], seed: 1), w = random([2048, 512], scale: 0.05, seed: 2)
            let out = Tensor(uninitializedShape: [1600, 2048])
            return { BLAS.sgemm(transB: true, m: 1600, n: 2048, k: 512, a: x.data, lda: 512, b: w.data, ldb: 512,
                                c: out.data, ldc: 2048) }
        })
        for (c, hw) in [(128, 160), (512, 40)] {
            list.append(Case(name: "dwconv7_\(hw)", shape: "[1,\(c),\(hw),\(hw)] 7×7 p3",
                             gflop: 2.0 * Double(c * hw * hw * 49) / 1e9) {
                let x = random([1, c, hw, hw], seed: 1), w = random([c, 1, 7, 7], scale: 0.1, seed: 2)
                let b = random([c], seed: 3)
                let out = Tensor(uninitializedShape: [1, c, hw, hw])
                return { _ = Ops.depthwiseConv2d(x, weight: w, bias: b, geometry: Conv2dGeometry(padding: 3), out: out) }
            })
        }
        for (c, hw) in [(128, 160), (512, 40)] {
            list.append(Case(name: "dwconv7_nhwc_\(hw)", shape: "[1,\(hw),\(hw),\(c)] 7×7 p3 channels-last",
                             gflop: 2.0 * Double(c * hw * hw * 49) / 1e9) {
                let x = random([1, hw, hw, c], seed: 1)
                let w = Ops.packDepthwiseChannelsLast(random([c, 1, 7, 7], scale: 0.1, seed: 2))
                let b = random([c], seed: 3)
                let out = Tensor(uninitializedShape: [1, hw, hw, c])
                return { Ops.depthwiseConv2dChannelsLast(x, packedWeight: w, bias: b, kernelH: 7, kernelW: 7, out: out) }
            })
        }
        list.append(Case(name: "layernorm_lastdim", shape: "[1600,512]", gflop: 0) {
            let x = random([1600, 512], seed: 1), w = random([512], seed: 2), b = random([512], seed: 3)
            let out = Tensor(uninitializedShape: [1600, 512])
            return { Ops.layerNorm(x, weight: w, bias: b, eps: 1e-6, out: out) }
        })
        list.append(Case(name: "layernorm2d", shape: "[1,128,160,160]", gflop: 0) {
            let x = random([1, 128, 160, 160], seed: 1), w = random([128], seed: 2), b = random([128], seed: 3)
            let out = Tensor(uninitializedShape: [1, 128, 160, 160])
            return { _ = Ops.layerNorm2d(x, weight: w, bias: b, eps: 1e-6, out: out) }
        })
        list.append(Case(name: "gelu", shape: "[1600,2048]", gflop: 0) {
            let x = random([1600, 2048], scale: 4, seed: 1)
            let y = x.copy()
            return { Ops.pointwise(x.data, y.data, count: x.count, .gelu) }
        })
        list.append(Case(name: "groupnorm_relu", shape: "[32,64,40,40] G8", gflop: 0) {
            let x = random([32, 64, 40, 40], seed: 1), w = random([64], seed: 2), b = random([64], seed: 3)
            return { _ = Ops.groupNorm(x, groups: 8, weight: w, bias: b, eps: 1e-5, activation: .relu) }
        })
        list.append(Case(name: "softmax", shape: "[6400,400]", gflop: 0) {
            let x = random([6400, 400], scale: 4, seed: 1)
            let y = x.copy()
            return { y.data.update(from: x.data, count: x.count); Ops.softmaxInPlace(y) }
        })
        // The trunk's stem as it runs (channels-last patches [160², 48] times [128, 48]ᵀ), OpenBLAS and packed.
        for packed in [false, true] {
            list.append(Case(name: "stem_gemm" + (packed ? "_packed" : ""), shape: "[25600,48]·[128,48]ᵀ +b" + (packed ? " packed" : ""),
                             gflop: 2.0 * 25600 * 48 * 128 / 1e9) {
                let x = random([25600, 48], seed: 1), w = random([128, 48], scale: 0.1, seed: 2), b = random([128], seed: 3)
                let out = Tensor(uninitializedShape: [25600, 128])
                let p = PackedLinearWeight(weight: w, bias: b)
                return { if packed { Ops.linear(x, packed: p, out: out) } else { Ops.linear(x, weight: w, bias: b, out: out) } }
            })
        }
        // Trunk convs: stem 4×4/4, stage downsample 2×2/2.
        list.append(conv("conv_stem_4x4s4", n: 1, cin: 3, cout: 128, hw: (640, 640), k: 4, stride: 4))
        list.append(conv("conv_down_2x2s2", n: 1, cin: 256, cout: 512, hw: (80, 80), k: 2, stride: 2))
        // ERR-Seg decoder (K = 32 kept classes): 1×1 fusions, guidance 3×3, GUD textual-fusion 3×3 convs.
        list.append(conv("conv1x1_corr_fusion", n: 32, cin: 256, cout: 128, hw: (40, 40), k: 1))
        list.append(conv("conv3x3_agg_guid_os32", n: 1, cin: 1024, cout: 256, hw: (20, 20), k: 3, pad: 1, activation: .relu6))
        list.append(conv("conv3x3_agg_guid_os16", n: 1, cin: 512, cout: 256, hw: (40, 40), k: 3, pad: 1, activation: .relu6))
        list.append(conv("conv3x3_gud1_96to64", n: 32, cin: 96, cout: 64, hw: (40, 40), k: 3, pad: 1))
        list.append(conv("conv3x3_gud2_48to32", n: 32, cin: 48, cout: 32, hw: (80, 80), k: 3, pad: 1))
        list.append(conv("conv3x3_gud3_24to16", n: 32, cin: 24, cout: 16, hw: (160, 160), k: 3, pad: 1))
        list.append(conv("conv3x3_gud3_16to16", n: 32, cin: 16, cout: 16, hw: (160, 160), k: 3, pad: 1))
        // The decoder as the model runs it: one item per kept class (K = 32) handed to the workers by
        // `ParallelConfig.forEachItem`, single-threaded kernels inside, each worker with its own buffers.
        list.append(perClassConv("gud1_3x3_64_per_class", c: 64, hw: 40))
        list.append(perClassConv("gud2_3x3_32_per_class", c: 32, hw: 80))
        list.append(perClassConv("gud3_3x3_16_per_class", c: 16, hw: 160))
        list.append(perClassUpsample("gud2_convT_per_class", cin: 64, cout: 32, hw: 40))
        list.append(perClassUpsample("gud3_convT_per_class", cin: 32, cout: 16, hw: 80))
        for packed in [false, true] {
            let tag = packed ? "_packed" : ""
            list.append(perClassLinear("sfm_q_per_class" + tag, rows: 1600, inF: 128, outF: 128, bias: false, packed: packed))
            list.append(perClassLinear("sfm_k_per_class" + tag, rows: 400, inF: 256, outF: 128, bias: true, packed: packed))
            list.append(perClassLinear("sfm_srk_per_class" + tag, rows: 400, inF: 512, outF: 256, bias: false, packed: packed))
            list.append(perClassLinear("sfm_fc12_per_class" + tag, rows: 1600, inF: 128, outF: 768, bias: true, packed: packed))
            list.append(perClassLinear("sfm_fc3_per_class" + tag, rows: 1600, inF: 384, outF: 128, bias: true, packed: packed))
            // The cost embedding's 1×1 fusion (`low_corr_fusion`), channels-last per class.
            list.append(perClassLinear("cost_fusion_per_class" + tag, rows: 1600, inF: 256, outF: 128, bias: true, packed: packed))
        }
        list.append(Case(name: "convT_k2s2_gud2", shape: "[32,64,40,40] →32", gflop: 2.0 * 32 * 64 * 32 * 4 * 1600 / 1e9) {
            let x = random([32, 64, 40, 40], seed: 1), w = random([64, 32, 2, 2], scale: 0.1, seed: 2)
            let b = random([32], seed: 3)
            let pool = BufferPool()
            return { _ = Ops.convTranspose2d(x, weight: w, bias: b, stride: 2, pool: pool) }
        })
        return list
    }
}
