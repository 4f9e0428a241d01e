import VocaSegMedia
import VocaSegTensor

public enum Diagnostics {
    /// FFmpeg's own log lines are not one-line errors naming the file; the jobs report FFmpeg's errors themselves,
    /// so its logging stays off unless the user asks for detail.
    public static func setFFmpegLogging(verbose: Bool) {
        MediaLibrary.setFFmpegLogLevel(verbose ? .warning : .quiet)
    }

    /// One thread count for inference: BLAS and the engine's parallel loops.
    public static func setThreads(_ n: Int) { ParallelConfig.setThreads(n) }
}
