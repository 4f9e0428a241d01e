import Foundation
import Testing
import VocaSegTensor

/// The op benchmark as a gated test (not a timed test): prints a table and checks only that every row ran.
///   VOCASEG_BENCH=1 swift test -c release --filter OpBenchmarks
/// Optional: VOCASEG_BENCH_THREADS=<n>; VOCASEG_BENCH_LINEAR_TILE=<rows> (linear epilogue tile);
/// VOCASEG_BENCH_IM2COL=<floats> (im2col budget); VOCASEG_BENCH_DIRECT_MAX=<channels> (direct conv limit); VOCASEG_BENCH_CPU=1 to report CPU time (robust on a busy machine with
/// one thread); VOCASEG_BENCH_FILTER=<substring> to run some rows; VOCASEG_BENCH_TORCH=<json from
/// Scripts/bench/ops_bench.py --json> to add PyTorch's times and the ratio.
@Suite struct OpBenchmarks {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VOCASEG_BENCH"] == "1"))
    func printTable() throws {
        let env = ProcessInfo.processInfo.environment
        if let t = env["VOCASEG_BENCH_THREADS"].flatMap(Int.init) { ParallelConfig.setThreads(t) }
        var kernels = KernelSettings()
        if let t = env["VOCASEG_BENCH_LINEAR_TILE"].flatMap(Int.init) { kernels.linearEpilogueTileRows = t }
        if let t = env["VOCASEG_BENCH_IM2COL"].flatMap(Int.init) { kernels.im2colBudget = t }
        if let t = env["VOCASEG_BENCH_DIRECT_MAX"].flatMap(Int.init) { kernels.directConvMaxOutputChannels = t }
        var reference: [String: Double] = [:]
        if let path = env["VOCASEG_BENCH_TORCH"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            reference = try JSONDecoder().decode([String: Double].self, from: data)
        }
        let results = KernelSettings.with(kernels) { VocaSegTensor.OpBenchmarks.run(filter: env["VOCASEG_BENCH_FILTER"]) }
        print("threads \(ParallelConfig.threads), OpenBLAS \(BLAS.configuration)")
        let cpu = env["VOCASEG_BENCH_CPU"] == "1"
        print("times: \(cpu ? "process CPU time per repetition" : "wall time"), minimum over repetitions")
        print(VocaSegTensor.OpBenchmarks.table(results, reference: reference, useCPUTime: cpu))
        #expect(!results.isEmpty && results.allSatisfy { $0.milliseconds > 0 })
    }
}
