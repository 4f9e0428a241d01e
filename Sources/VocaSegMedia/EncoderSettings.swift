/// How `VideoWriter` encodes.
public struct EncoderSettings: Sendable {
    /// x264 constant rate factor (0 lossless … 51 worst); 20 is visually transparent for overlays.
    public var crf: Int
    /// x264 preset ("ultrafast" … "veryslow").
    public var preset: String
    /// Encoder to try first; when this FFmpeg build lacks it, MPEG-4 Part 2 is used and a warning recorded.
    public var encoderName: String
    /// mp4/mov only: move the index to the front so playback can start before the download ends.
    public var fastStart: Bool
    /// Encoder threads; 0 lets the encoder choose.
    public var threadCount: Int
    /// Pixel shape written to the stream (pass the input's `MediaInfo.sampleAspectRatio` for anamorphic video).
    public var sampleAspectRatio: (num: Int32, den: Int32) = (1, 1)
    /// Primaries and transfer of the RGB frames given to the writer (FFmpeg's names: "bt709", "bt2020",
    /// "smpte2084", …; pass `MediaInfo.framePrimaries`/`frameTransfer`). The matrix and range are the writer's own
    /// (it converts RGB to YUV itself) and tagged as such. Unknown names are tagged BT.709.
    public var colorPrimaries = "bt709"
    public var colorTransfer = "bt709"
    /// The frames still hold two fields (interlaced input not deinterlaced): their field order, "tt" or "bb";
    /// nil tags the stream progressive.
    public var interlacedFieldOrder: String?

    public init(crf: Int = 20, preset: String = "veryfast", encoderName: String = "libx264", fastStart: Bool = true,
                threadCount: Int = 0) {
        self.crf = crf
        self.preset = preset
        self.encoderName = encoderName
        self.fastStart = fastStart
        self.threadCount = threadCount
    }
}
