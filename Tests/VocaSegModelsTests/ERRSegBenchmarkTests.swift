import Foundation
import Testing
import VocaSegCore
import VocaSegModels
import VocaSegTensor

/// Per-frame time of ERR-Seg (B) at 640 with seeded random weights, T = 150, K = 32. Opt-in (it takes a while and
/// wants a release build):
///
///     VOCASEG_BENCH=1 VOCASEG_BENCH_THREADS=2 swift test -c release -Xswiftc -enable-testing --filter ERRSegBenchmarkTests
///
/// Prints backbone / head / postprocess seconds per frame and the total; with VOCASEG_PROFILE=1 also the model's
/// sections. No `@testable` import, so that the
/// release build needs no testability flags.
@Suite struct ERRSegBenchmarkTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["VOCASEG_BENCH"] == "1" }

    @Test(.enabled(if: ERRSegBenchmarkTests.enabled)) func baseAt640() throws {
        let env = ProcessInfo.processInfo.environment
        let threads = Int(env["VOCASEG_BENCH_THREADS"] ?? "") ?? 2
        let frames = Int(env["VOCASEG_BENCH_FRAMES"] ?? "") ?? 3
        let t = Int(env["VOCASEG_BENCH_T"] ?? "") ?? 150
        let k = Int(env["VOCASEG_BENCH_K"] ?? "") ?? 32
        ParallelConfig.setThreads(threads)
        var kernels = KernelSettings()
        if let rows = Int(env["VOCASEG_BENCH_EPILOGUE_ROWS"] ?? "") { kernels.linearEpilogueTileRows = rows }
        if let n = Int(env["VOCASEG_BENCH_DIRECT_MAX"] ?? "") { kernels.directConvMaxOutputChannels = n }
        try KernelSettings.with(kernels) { try run(frames: frames, t: t, k: k, threads: threads) }
    }

    private func run(frames: Int, t: Int, k: Int, threads: Int) throws {
        let loadStart = Date()
        let model = try ERRSegModel.random(config: .base, seed: 1, tokenizer: nil,
                                           options: ERRSegOptions(classesKept: k, resizeMode: .official))
        print("ERRSeg bench: random B weights built in \(String(format: "%.2f", Date().timeIntervalSince(loadStart))) s")
        // Random unit text embeddings stand in for T prompts (text encoding runs once per vocabulary, not per frame).
        var rng = SystemRandomNumberGenerator()
        var e = (0..<(t * 640)).map { _ in Float.random(in: -1...1, using: &rng) }
        for r in 0..<t {
            var n: Float = 0
            for j in 0..<640 { n += e[r * 640 + j] * e[r * 640 + j] }
            for j in 0..<640 { e[r * 640 + j] /= n.squareRoot() }
        }
        model.setTextEmbeddings(Tensor(shape: [t, 640], data: e))
        var pixels = [UInt8](repeating: 0, count: 1280 * 720 * 3)
        for i in pixels.indices { pixels[i] = UInt8((i * 7 + (i / 3840) * 13) & 0xFF) }
        let frame = RGBImage(width: 1280, height: 720, pixels: pixels)
        var totals: [String: Double] = [:]
        var wall: [Double] = []
        for i in 0..<(frames + 1) {
            let p0 = Date()
            let input = try model.preprocess(frame)
            let pre = Date().timeIntervalSince(p0)
            var state: FrameState?
            let s0 = Date()
            let r = try model.segment(input, state: &state)
            let seg = Date().timeIntervalSince(s0)
            #expect(r.labels.width == 1280 && r.labels.height == 720 && r.selectedClasses?.count == k)
            let parts = r.timings.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.3f", $0.value))" }
            print("ERRSeg bench frame \(i): preprocess \(String(format: "%.3f", pre)) segment \(String(format: "%.3f", seg)) [\(parts.joined(separator: ", "))]")
            if i == 0 { _ = SectionProfile.drain() }
            if i > 0 {  // the first frame warms up pools and page faults
                wall.append(seg)
                for (key, v) in r.timings { totals[key, default: 0] += v }
                totals["preprocess", default: 0] += pre
            }
        }
        let mean = wall.reduce(0, +) / Double(max(wall.count, 1))
        let breakdown = totals.sorted { $0.key < $1.key }
            .map { "\($0.key) \(String(format: "%.3f", $0.value / Double(frames)))" }
        for p in SectionProfile.drain() {
            print(String(format: "ERRSeg profile %@ %.1f ms/frame", p.name, p.seconds * 1000 / Double(frames)))
        }
        print("ERRSeg bench B@640 T=\(t) K=\(k) threads=\(threads): segment mean \(String(format: "%.3f", mean)) s/frame over \(frames) frames [\(breakdown.joined(separator: ", "))]")
    }
}
