import VocaSegCore

/// Which frames the model runs on; the others are propagated or held (`Propagation`).
public enum KeyframePolicy: Sendable, Equatable {
    /// Frames 0, N, 2N, … (`--keyframes every:N`, alias `--every N`).
    case every(Int)
    /// When the picture needs it (`--keyframes auto`): see `AutoKeyframes`.
    case auto(AutoKeyframes)

    /// `every:N` or `auto`, as the CLI and pipeline files spell it.
    public init(parsing text: String, maxGap: Int? = nil) throws {
        if let maxGap, maxGap < 1 { throw VocaSegError(.usage, "--max-gap must be at least 1 (got \(maxGap))") }
        if text == "auto" {
            var auto = AutoKeyframes()
            if let maxGap { auto.maxGap = maxGap }
            self = .auto(auto)
        } else if text.hasPrefix("every:"), let n = Int(text.dropFirst("every:".count)), n >= 1 {
            self = .every(n)
        } else {
            throw VocaSegError(.usage, "--keyframes must be auto or every:N with N ≥ 1 (got \(text))")
        }
    }

    public var description: String {
        switch self {
        case let .every(n): return "every:\(n)"
        case let .auto(a): return "auto (max gap \(a.maxGap))"
        }
    }
}

/// What a frame that is not a keyframe gets.
public enum Propagation: String, Sendable, CaseIterable {
    /// The previous frame's result warped by the frame's block motion vectors; held where the frame has none.
    case motion
    /// The last keyframe's result unchanged.
    case hold
}

/// `--keyframes auto`: run the model on a frame when any of these holds.
public struct AutoKeyframes: Sendable, Equatable {
    /// Frames since the last keyframe (`--max-gap N`): the model runs at least every N frames.
    public var maxGap = 12
    /// Share of the picture that no motion vector covers (intra blocks: new content, or an I-frame).
    public var intraThreshold = 0.3
    /// Motion accumulated since the last keyframe (sum of each frame's mean vector length), as a share of the
    /// picture's shorter side: warping errors grow with the distance carried.
    public var motionThreshold = 0.08
    /// A cut between shots (`SceneCutDetector`).
    public var sceneCutThreshold = 0.25
    public init() {}
}

/// Decides frame by frame, in display order, whether the model runs. One per pipeline run.
final class KeyframeChooser {
    private let policy: KeyframePolicy
    private var position = 0
    private var sinceKeyframe = 0
    private var travelled = 0.0
    private var cuts: SceneCutDetector?

    init(_ policy: KeyframePolicy) {
        self.policy = policy
        if case let .auto(a) = policy { cuts = SceneCutDetector(threshold: a.sceneCutThreshold) }
    }

    func isKeyframe(_ frame: VideoFrame) -> Bool {
        defer { position += 1 }
        switch policy {
        case let .every(n):
            return position % n == 0
        case let .auto(a):
            // The detector sees every frame, so that it compares neighbours.
            let cut = cuts?.isCut(frame.image) ?? false
            let intra = frame.motion?.uncertainFraction ?? 0
            travelled += frame.motion?.meanMotion ?? 0
            let shorter = Double(max(1, min(frame.image.width, frame.image.height)))
            let key = position == 0 || cut || sinceKeyframe + 1 >= a.maxGap || intra > a.intraThreshold
                || travelled > a.motionThreshold * shorter
            if key {
                sinceKeyframe = 0
                travelled = 0
            } else {
                sinceKeyframe += 1
            }
            return key
        }
    }
}
