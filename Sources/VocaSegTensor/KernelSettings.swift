import Foundation

/// The knobs by which ops choose between kernel variants, scoped to a thread instead of global variables.
///
/// Production code never sets them: the defaults are the measured best choices. Tests and benchmarks force a variant
/// with `KernelSettings.with(_:_:)`, which holds for the body on the calling thread and for the items that
/// `ParallelConfig.forEachItem` runs on its behalf, and for no other thread, so tests running in parallel cannot
/// change each other's kernels (they did when these were process-wide `static var`s).
public struct KernelSettings: Sendable, Equatable {
    /// `conv2d` uses the direct kernel for stride-1, groups-1, non-1×1 convolutions up to this many output channels.
    public var directConvMaxOutputChannels = 64
    /// Floats of im2col scratch a `conv2d` may unfold at once (row tiles or several images per GEMM).
    public var im2colBudget = 1 << 22
    /// Rows per tile of `linear` with a non-identity activation (GEMM then epilogue while the tile is in cache).
    public var linearEpilogueTileRows = 512
    /// How `attention` schedules its work.
    public var attentionSchedule: AttentionSchedule = .automatic
    /// Query rows per attention tile, instead of the size-derived choice.
    public var attentionTileRows: Int? = nil
    /// The inputs' precision of the large matrix products (`BLAS.sgemm`). `.bf16` is what `--precision bf16` sets
    /// around a model's per-frame work; it takes effect only where `BLAS.bf16Available`, else products stay fp32.
    public var gemmPrecision: GEMMPrecision = .fp32

    public init() {}

    private final class Box {
        let settings: KernelSettings
        init(_ settings: KernelSettings) { self.settings = settings }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// The settings in force on this thread: the innermost `with` scope, else the defaults.
    public static var current: KernelSettings {
        guard let raw = pthread_getspecific(key) else { return KernelSettings() }
        return Unmanaged<Box>.fromOpaque(raw).takeUnretainedValue().settings
    }

    /// Runs `body` with `settings` in force on this thread (and in the `forEachItem` items it starts).
    public static func with<R>(_ settings: KernelSettings, _ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(key)
        let box = Unmanaged.passRetained(Box(settings))
        pthread_setspecific(key, box.toOpaque())
        defer {
            pthread_setspecific(key, previous)
            box.release()
        }
        return try body()
    }
}

/// Precision of a matrix product's inputs; accumulation is fp32 in both.
public enum GEMMPrecision: String, Sendable, CaseIterable {
    /// OpenBLAS sgemm.
    case fp32
    /// Inputs rounded to bfloat16 (nearest even), products summed in fp32: AVX512_BF16's `vdpbf16ps`.
    case bf16
}
