import VocaSegCore
import VocaSegMedia

/// Decoding as `vocaseg segment` does it: open with `MediaSource`, then pull every frame as upright RGB.
public enum MediaFuzz {
    /// A frame cap keeps one input to a bounded time; the parsers have shown what they do with an input long before.
    public static let maxFrames = 48
    /// 4096x4096: larger pictures are opened and probed but not decoded (see `decodeAll`).
    public static let maxPixels = 1 << 24

    /// One decoder thread: FFmpeg's frame threading would make coverage (and so the corpus) depend on scheduling,
    /// and there are two cores for the fuzzer and everything else.
    public static let options = SourceOptions(threadCount: 1)

    public static let quietOnce: Void = { MediaLibrary.setFFmpegLogLevel(.quiet) }()

    /// Opens `path` and decodes it; a rejection must be a one-line error naming something under `expected`.
    public static func decodeAll(path: String, namesFileUnder expected: String) {
        _ = quietOnce
        do {
            let source = try MediaSource(path: path, options: options)
            // A few hundred bytes can declare a 16383x16383 WebP or PNG: decoding it honestly takes gigabytes (as for
            // a real picture that size), which trips -rss_limit_mb without being a bug. Probing it was the test.
            guard source.info.codedWidth * source.info.codedHeight <= maxPixels else { return }
            var frames = 0
            while frames < maxFrames, let frame = try source.nextFrame() {
                // The contract every consumer relies on: a tightly packed RGB24 picture of the announced size.
                let image = frame.image
                precondition(image.pixels.count == image.width * image.height * 3,
                             "frame \(frame.index): \(image.pixels.count) bytes for \(image.width)x\(image.height)")
                frames += 1
            }
            _ = source.stats
        } catch {
            Fuzz.checkRejection(error, namesFileUnder: expected)
        }
    }
}
