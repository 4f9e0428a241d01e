import CAVX512Kernels
import COpenBLAS
import Dispatch
import Foundation

/// Thin bridge to OpenBLAS. Everything that multiplies matrices goes through here.
///
/// OpenBLAS itself always runs on one thread; `sgemm` splits large products across `ParallelConfig.threads` workers
/// itself. With OpenBLAS's own pool, its worker thread keeps spinning (`sched_yield`, up to 2^28 cycles) after
/// every threaded call, so on two cores it competed with the LayerNorm, GELU and depthwise kernels that run between
/// GEMMs: those ran up to 2× slower inside the model than alone, and a third of the process time was system time.
public enum BLAS {
    /// Work (m·n·k multiply-adds) from which `sgemm` splits a product across workers: OpenBLAS's own threshold
    /// (SMP_THRESHOLD_MIN 65536 × GEMM_MULTITHREAD_THRESHOLD 4).
    public static let parallelThreshold = 65536 * 4

    /// Keeps OpenBLAS single-threaded; called once when the engine's thread count is set.
    static func useOneOpenBLASThread() { openblas_set_num_threads(1) }
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// Whether this CPU runs the bf16 kernels (AVX512F/BW/VL/DQ and AVX512_BF16, with the OS saving ZMM state),
    /// read from CPUID once. `VOCASEG_HIDE_AVX512_BF16=1` makes it false, so that the fp32 fallback of
    /// `--precision bf16` can be exercised on a CPU that has the instructions.
    public static let bf16Available: Bool =
        vs_gemm_bf16_available() != 0 && ProcessInfo.processInfo.environment["VOCASEG_HIDE_AVX512_BF16"] != "1"

    /// Products smaller than this many multiply-adds stay fp32 even under `.bf16` (packing dominates them, and the
    /// small products of a model are not where its time goes).
    public static let bf16MinimumWork = 1 << 20

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major, with leading dimensions given explicitly so that
    /// strided sub-matrices need no copy. Above `parallelThreshold` (and outside a `forEachItem` item) the rows of C,
    /// or its columns when there are fewer rows than workers need, are split into one band per worker; each band is
    /// a single-threaded OpenBLAS call that packs its own copy of the shared operand.
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // The pointers carry no sizes; the leading dimensions at least must be consistent with the shapes.
        opCheck(m >= 0 && n >= 0 && k >= 0, "sgemm: negative size m \(m) n \(n) k \(k)")
        opCheck(lda >= max(1, transA ? m : k) && ldb >= max(1, transB ? k : n) && ldc >= max(1, n),
                "sgemm: leading dimensions lda \(lda) ldb \(ldb) ldc \(ldc) too small for m \(m) n \(n) k \(k)")
        let bf16 = bf16Available && m * n * k >= bf16MinimumWork && KernelSettings.current.gemmPrecision == .bf16
        let call = bf16 ? callBF16 : callOpenBLAS
        let workers = ParallelConfig.threads
        guard workers > 1, m * n * k >= parallelThreshold, max(m, n) >= 2 * workers else {
            call(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        }
        let byRows = m >= 16 * workers || m >= n
        let extent = byRows ? m : n
        ParallelConfig.forEachItem(workers) { _, part in
            let lo = extent * part / workers, hi = extent * (part + 1) / workers
            guard hi > lo else { return }
            if byRows {  // rows lo..<hi of op(A) and of C
                call(transA, transB, hi - lo, n, k, alpha, transA ? a + lo : a + lo * lda, lda, b, ldb, beta,
                     c + lo * ldc, ldc)
            } else {     // columns lo..<hi of op(B) and of C
                call(transA, transB, m, hi - lo, k, alpha, a, lda, transB ? b + lo * ldb : b + lo, ldb, beta,
                     c + lo, ldc)
            }
        }
    }

    private static func callOpenBLAS(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                                     _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                                     _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    private static func callBF16(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                                 _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                                 _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
        let status = vs_gemm_bf16(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        // Sizes were checked on entry and availability before choosing this path; what is left is a failed
        // allocation of the packing scratch (under 2 MiB per thread), after which fp32 still gives the product.
        if status != 0 { callOpenBLAS(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) }
    }

    /// One square n×n×n product on OpenBLAS's own pool of `threads` (for reference measurements only); OpenBLAS is
    /// back on one thread afterwards.
    public static func sgemmOnOpenBLASPool(threads: Int, n: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                                           c: UnsafeMutablePointer<Float>) {
        openblas_set_num_threads(Int32(max(1, threads)))
        defer { useOneOpenBLASThread() }
        callOpenBLAS(false, false, n, n, n, 1, a, n, b, n, 0, c, n)
    }

    /// Raw OpenBLAS throughput with its own thread pool of `threads` (the machine's ceiling that benchmarks report
    /// against): best of `repeats` n³ products, in GFLOP/s.
    public static func measureOpenBLASCeiling(n: Int = 2048, threads: Int, repeats: Int = 5) -> Double {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        a.initialize(repeating: 0.5, count: n * n)
        b.initialize(repeating: 0.25, count: n * n)
        c.initialize(repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sgemmOnOpenBLASPool(threads: threads, n: n, a: a, b: b, c: c)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }
}
