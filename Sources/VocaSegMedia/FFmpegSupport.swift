import CFFmpeg
import CFFmpegShim
import VocaSegCore

/// Small helpers around libav* calls: error text, rationals and the library-wide log level.
enum FF {
    static let noPTS: Int64 = vs_av_nopts_value()
    static let eagain: Int32 = vs_averror_eagain()
    static let eof: Int32 = vs_averror_eof()
    static let invalidData: Int32 = vs_averror_invaliddata()

    /// FFmpeg's own wording for an error code ("Invalid data found when processing input").
    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if av_strerror(code, &buffer, buffer.count) < 0 { return "error \(code)" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }

    static func rational(_ r: AVRational) -> (num: Int32, den: Int32) { (r.num, r.den) }
}

/// Library-wide FFmpeg settings. Library targets must not print, so FFmpeg's own stderr logging is limited to
/// errors by default; the CLI may raise it (e.g. for `--verbose`).
public enum MediaLibrary {
    public enum LogLevel: Sendable { case quiet, error, warning, info, debug }

    public static func setFFmpegLogLevel(_ level: LogLevel) {
        _ = configureOnce  // so that the one-time default set there cannot override this choice later
        let value: Int32
        switch level {
        case .quiet: value = AV_LOG_QUIET
        case .error: value = AV_LOG_ERROR
        case .warning: value = AV_LOG_WARNING
        case .info: value = AV_LOG_INFO
        case .debug: value = AV_LOG_DEBUG
        }
        av_log_set_level(value)
    }

    /// Called once before the first open: errors only, and network protocols ready for URLs.
    static let configureOnce: Void = {
        av_log_set_level(AV_LOG_ERROR)
        avformat_network_init()
    }()

    /// Whether this FFmpeg build has an encoder by that name (e.g. "libx264").
    public static func hasEncoder(named name: String) -> Bool { avcodec_find_encoder_by_name(name) != nil }
}
