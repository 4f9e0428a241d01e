import VocaSegCore

/// How to open an input.
public struct SourceOptions: Sendable {
    /// Decoder threads; 0 lets FFmpeg choose (one per core), with frame and slice threading.
    public var threadCount: Int
    /// Frame rate of inputs that carry no timestamps: image sequences, folders of images, piped pictures, raw
    /// elementary streams (the image2 demuxer's default is 25).
    public var frameRate: (num: Int32, den: Int32)
    /// True when the user set `frameRate` (`--fps`): it is then also handed to every demuxer that has a
    /// `framerate` option (image pipes, raw H.264/HEVC), not only to image sequences and folders.
    public var frameRateIsExplicit: Bool
    /// Apply the display matrix (rotation/flip) to the pixels so frames come out upright.
    public var autorotate: Bool
    /// Network sources: give up after this many seconds without data (the end of a live stream is silence).
    public var networkTimeoutSeconds: Double
    /// Ask the decoder for the block motion vectors of each frame (`flags2 +export_mvs`) and hand them on as a
    /// `MotionField` (`DecodedFrame.motion`). Off by default: it costs the decoder a little.
    public var exportMotionVectors = false
    /// HDR (PQ, HLG) input: tone-mapped to SDR BT.709 (default), or its code values passed on.
    public var hdr: HDRHandling = .tonemap
    /// Interlaced input: deinterlaced with bwdif when flagged (auto, default), always, or never.
    public var deinterlace: DeinterlaceMode = .auto

    public init(threadCount: Int = 0, frameRate: (num: Int32, den: Int32)? = nil, autorotate: Bool = true,
                networkTimeoutSeconds: Double = 5) {
        self.threadCount = threadCount
        self.frameRate = frameRate ?? (25, 1)
        frameRateIsExplicit = frameRate != nil
        self.autorotate = autorotate
        self.networkTimeoutSeconds = networkTimeoutSeconds
    }

    /// The frame rate as FFmpeg's `framerate` option spells it.
    var frameRateText: String { frameRate.den == 1 ? "\(frameRate.num)" : "\(frameRate.num)/\(frameRate.den)" }
}

/// What an input holds, as far as the video stream goes. Sizes are those of the UPRIGHT picture (after rotation).
public struct MediaInfo: Sendable {
    public var width: Int
    public var height: Int
    /// Size of the picture as coded, before the display matrix is applied.
    public var codedWidth: Int
    public var codedHeight: Int
    /// Counter-clockwise degrees in FFmpeg's convention (`av_display_rotation_get`): a phone portrait clip says -90.
    /// For a mirrored matrix, the rotation applied after the horizontal mirror.
    public var rotationDegrees: Double
    /// Whether the display matrix mirrors the picture (negative determinant).
    public var isMirrored: Bool
    public var timeBase: (num: Int32, den: Int32)
    /// Average frame rate; (0, 1) when unknown.
    public var averageFrameRate: (num: Int32, den: Int32)
    /// Best guess: the container's frame count if it declares one, else duration × frame rate; nil when unknown.
    public var estimatedFrameCount: Int?
    /// Seconds; nil when unknown (pipes, live URLs).
    public var durationSeconds: Double?
    public var codecName: String
    public var pixelFormatName: String
    /// Of the upright picture; (1, 1) when unknown.
    public var sampleAspectRatio: (num: Int32, den: Int32)
    /// "tv" (limited), "pc" (full) or "unknown".
    public var colorRange: String
    /// The matrix name, e.g. "bt709", "bt470bg", "unknown".
    public var colorSpace: String
    /// The stream's primaries and transfer tags ("bt2020", "smpte2084", "arib-std-b67", "unknown", …) and field
    /// order ("progressive", "tt", "bb", "tb", "bt", "unknown").
    public var colorPrimaries = "unknown"
    public var colorTransfer = "unknown"
    public var fieldOrder = "unknown"
    /// The filter chain the frames go through before RGB conversion, in words (nil: none).
    public var filterSummary: String?
    /// What the RGB frames really hold: BT.709 after tone mapping, else the input's primaries and transfer
    /// (BT.709 when untagged, as players assume for HD); and whether they are still interlaced.
    public var framePrimaries = "bt709"
    public var frameTransfer = "bt709"
    public var framesInterlaced = false
    public var isStillImage: Bool
    public var isImageSequence: Bool
    /// A folder of pictures: each keeps its own size, and frames carry their file names (`DecodedFrame.sourceName`).
    public var isFolder = false
    /// Read from the network (udp, rtp, rtsp, srt, http, tcp): a live source unless it says otherwise.
    public var isNetworkStream = false
    public var audioStreamCount: Int
    public var subtitleStreamCount: Int
    /// Demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "image2".
    public var containerName: String
}

/// One decoded picture, upright, in RGB24.
public struct DecodedFrame: Sendable {
    public var image: RGBImage
    /// 0-based position in decode output order (presentation order).
    public var index: Int
    /// Presentation timestamp in `timeBase` units: the decoder's best-effort timestamp, synthesised from the
    /// previous frame when the input has none.
    public var pts: Int64
    /// Duration in `timeBase` units (0 when unknown).
    public var duration: Int64
    public var timeBase: (num: Int32, den: Int32)
    /// The picture's file name (no directory) when the input is a folder of pictures; nil otherwise.
    public var sourceName: String?
    /// Block motion relative to the previous frame, when motion vectors were asked for and the codec has them.
    public var motion: MotionField?
    public var ptsSeconds: Double { timeBase.den == 0 ? 0 : Double(pts) * Double(timeBase.num) / Double(timeBase.den) }

    public init(image: RGBImage, index: Int, pts: Int64, duration: Int64, timeBase: (num: Int32, den: Int32)) {
        self.image = image
        self.index = index
        self.pts = pts
        self.duration = duration
        self.timeBase = timeBase
    }
}

/// Counters of what went wrong while decoding without being fatal.
public struct DecodeStats: Sendable {
    public var framesDecoded = 0
    /// Packets the demuxer flagged as damaged or the decoder rejected; decoding went on past them.
    public var corruptPackets = 0
    /// Frames the decoder produced but flagged as damaged (concealed errors).
    public var corruptFrames = 0
    /// The input ended early (read error, partial packet, or fewer frames than the container's index promises).
    public var truncated = false
    /// Frames whose timestamp was missing and had to be synthesised.
    public var synthesisedTimestamps = 0
    /// Human-readable, one line each.
    public var warnings: [String] = []
    public init() {}
}
