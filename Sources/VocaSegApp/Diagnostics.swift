import VocaSegMedia

public enum Diagnostics {
    /// FFmpeg's own log lines are not one-line errors naming the file; the jobs report FFmpeg's errors themselves,
    /// so its logging stays off unless the user asks for detail.
    public static func setFFmpegLogging(verbose: Bool) {
        MediaLibrary.setFFmpegLogLevel(verbose ? .warning : .quiet)
    }
}
