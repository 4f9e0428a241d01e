import Foundation
import Testing
import VocaSegTensor

/// Timing of attention at ERR-Seg (B @ 640) shapes. Runs only with VOCASEG_BENCH=1 (use a release build):
///   VOCASEG_BENCH=1 swift test -c release --filter StructuralBenchmarks
@Suite struct StructuralBenchmarks {
    static let enabled = ProcessInfo.processInfo.environment["VOCASEG_BENCH"] == "1"

    static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
        return kb / 1024
    }

    static func random(_ shape: [Int], seed: UInt64) -> Tensor {
        var state = seed
        let n = shape.reduce(1, *)
        var data = [Float](repeating: 0, count: n)
        for i in 0..<n {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            data[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
        return Tensor(shape: shape, data: data)
    }

    /// CPU seconds (user + system) used by the whole process so far: robust to other processes sharing the cores.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    func time(_ label: String, repeats: Int = 5, _ body: () -> Void) -> Double {
        body()  // warm-up
        var best = Double.infinity
        let cpu0 = StructuralBenchmarks.cpuSeconds()
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        let cpuPerCall = (StructuralBenchmarks.cpuSeconds() - cpu0) / Double(repeats) * 1000
        print(String(format: "BENCH %@: %.2f ms wall (best of %d), %.2f ms CPU per call, threads %d, peak RSS %.0f MiB",
                     label, best, repeats, cpuPerCall, ParallelConfig.threads, StructuralBenchmarks.peakRSSMiB()))
        return best
    }

    @Test(.enabled(if: StructuralBenchmarks.enabled)) func attentionAtERRSegShapes() {
        let threads = Int(ProcessInfo.processInfo.environment["VOCASEG_THREADS"] ?? "2") ?? 2
        ParallelConfig.setThreads(threads)
        print(String(format: "BENCH start: peak RSS %.0f MiB", StructuralBenchmarks.peakRSSMiB()))
        let env = ProcessInfo.processInfo.environment
        let ks = (env["VOCASEG_BENCH_K"] ?? "32,48").split(separator: ",").compactMap { Int($0) }
        let schedules = (env["VOCASEG_BENCH_SCHEDULE"].map { [$0] } ?? AttentionSchedule.allCases.map(\.rawValue))
            .compactMap(AttentionSchedule.init(rawValue:))
        for k in ks {
            // SFM: batch K, 1600 queries, 400 spatially reduced keys, 4 heads of 32.
            let q = StructuralBenchmarks.random([k, 1600, 128], seed: 1)
            let kk = StructuralBenchmarks.random([k, 400, 128], seed: 2)
            let v = StructuralBenchmarks.random([k, 400, 128], seed: 3)
            // CFM: 400 sequences of K class tokens.
            let cq = StructuralBenchmarks.random([400, k, 128], seed: 4)
            let ck = StructuralBenchmarks.random([400, k, 128], seed: 5)
            let cv = StructuralBenchmarks.random([400, k, 128], seed: 6)
            let rowsList = (env["VOCASEG_BENCH_ROWS"] ?? "").split(separator: ",").compactMap { Int($0) }
            let configs: [(AttentionSchedule, Int?)] = schedules.flatMap { schedule in
                schedule != .itemParallel || rowsList.isEmpty ? [(schedule, nil)] : rowsList.map { (schedule, Optional($0)) }
            }
            for (schedule, rows) in configs {
                var forced = KernelSettings()
                forced.attentionSchedule = schedule
                forced.attentionTileRows = rows
                let tag = schedule.rawValue + (rows.map { " rows=\($0)" } ?? "")
                KernelSettings.with(forced) {
                    _ = time("SFM K=\(k) \(tag)") { _ = Ops.attention(query: q, key: kk, value: v, heads: 4) }
                    _ = time("CFM K=\(k) \(tag)") { _ = Ops.attention(query: cq, key: ck, value: cv, heads: 4) }
                }
            }
        }
        #expect(ParallelConfig.threads == threads)
    }

    /// EOV-Seg neck (RN50): deform_conv3 = modulated 3×3 DCN, 256 → 128 channels at 80×108.
    @Test(.enabled(if: StructuralBenchmarks.enabled)) func deformConvAtEOVSegShape() {
        let threads = Int(ProcessInfo.processInfo.environment["VOCASEG_THREADS"] ?? "2") ?? 2
        ParallelConfig.setThreads(threads)
        let x = StructuralBenchmarks.random([1, 256, 80, 108], seed: 8)
        let w = StructuralBenchmarks.random([128, 256, 3, 3], seed: 9)
        let off = StructuralBenchmarks.random([1, 18, 80, 108], seed: 10)
        let mask = StructuralBenchmarks.random([1, 9, 80, 108], seed: 11)
        _ = time("deformConv2d 256->128 3x3 at 80x108", repeats: 3) {
            _ = Ops.deformConv2d(input: x, offset: off, weight: w, mask: mask, padding: (1, 1))
        }
        #expect(ParallelConfig.threads == threads)
    }

    /// ERR-Seg post-processing: K probability maps 160×160 → a 1080p frame (bilinear, align_corners false).
    @Test(.enabled(if: StructuralBenchmarks.enabled)) func interpolateToFrame() {
        let threads = Int(ProcessInfo.processInfo.environment["VOCASEG_THREADS"] ?? "2") ?? 2
        ParallelConfig.setThreads(threads)
        let maps = StructuralBenchmarks.random([32, 160, 160], seed: 7)
        _ = time("interpolate [32,160,160] -> 1080x1920") {
            _ = Ops.interpolateBilinear(maps, size: (1080, 1920))
        }
        let frame = [UInt8](repeating: 77, count: 1920 * 1080 * 3)
        _ = time("PIL resize 1920x1080 -> 1333x750") {
            _ = frame.withUnsafeBufferPointer {
                Ops.pilResizeBilinear($0, width: 1920, height: 1080, channels: 3, outWidth: 1333, outHeight: 750)
            }
        }
        #expect(ParallelConfig.threads == threads)
    }
}
