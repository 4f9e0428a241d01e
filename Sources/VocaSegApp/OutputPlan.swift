import Foundation
import VocaSegCore
import VocaSegMedia

/// Where one input's outputs go. Decided, and checked for writability, before any model is loaded.
public struct OutputPlan: Sendable, Equatable {
    /// What an input is, as far as its outputs are concerned.
    public enum InputKind: Sendable, Equatable {
        case video
        case stillImage
        /// A folder of pictures: by default a folder of overlay pictures, each at its own size.
        case imageFolder
    }

    public var input: String
    /// Overlay video or image (an image input gives an image output), or a folder of overlay pictures when
    /// `overlayIsFolder`.
    public var overlay: String
    public var overlayIsFolder = false
    /// `overlay` is a numbered image-sequence pattern (`name_%06d.png`): one picture per frame.
    public var overlayIsSequence = false
    /// The overlay stream goes to standard output in `OutputPlan.streamFormat` (`-o -`).
    public var overlayIsStdout = false
    public var masksDirectory: String?
    public var panopticDirectory: String?
    public var jsonLines: String?

    static let videoExtensions: Set<String> = ["mp4", "mov", "mkv", "m4v"]
    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]
    /// What `-o -` can write to standard output (`--format`).
    public static let streamFormats = ["nut", "y4m", "mjpeg", "mp4"]

    /// The input's kind from its probe.
    static func kind(of info: MediaInfo) -> InputKind {
        info.isFolder ? .imageFolder : (info.isStillImage ? .stillImage : .video)
    }

    /// Builds and checks the plan for every input.
    /// - `output` names a file for one input, a directory for several (created if missing).
    /// - Without `output`, results go to the current directory as `<input name>.vocaseg.<ext>`.
    /// - A folder of pictures gives a folder of overlays (`DIR/<stem>.vocaseg/` by default, or `-o DIR`), or one
    ///   video when `-o` names a video file.
    static func make(kinds inputs: [(path: String, kind: InputKind)], options: SegmentOptions) throws -> [OutputPlan] {
        let fm = FileManager.default
        let many = inputs.count > 1
        var outputDirectory: String?
        if let output = options.output, output == "-" || SequencePattern.isPattern(output) {
            if many {
                throw VocaSegError(.usage, output == "-" ? "standard output (-o -) takes one input"
                                   : "a numbered sequence takes one input (give a folder with -o DIR/ for several)",
                                   path: output)
            }
        } else if let output = options.output {
            var isDir: ObjCBool = false
            if many || output.hasSuffix("/") || (fm.fileExists(atPath: output, isDirectory: &isDir) && isDir.boolValue) {
                outputDirectory = output
            }
        } else {
            outputDirectory = fm.currentDirectoryPath
        }
        if let outputDirectory {
            try ensureDirectory(outputDirectory, what: "output directory")
        }
        var plans: [OutputPlan] = []
        var seen: Set<String> = []
        for input in inputs {
            let overlay: String
            var overlayIsFolder = false
            var overlayIsSequence = false
            var overlayIsStdout = false
            if let outputDirectory {
                let base = options.naming.replacingOccurrences(of: "{stem}", with: stem(of: input.path))
                switch input.kind {
                case .stillImage:
                    overlay = (outputDirectory as NSString).appendingPathComponent("\(base).png")
                case .video:
                    overlay = (outputDirectory as NSString).appendingPathComponent("\(base).\(options.container)")
                case .imageFolder where options.asVideo:
                    overlay = (outputDirectory as NSString).appendingPathComponent("\(base).\(options.container)")
                case .imageFolder:
                    // One input with `-o DIR/`: the folder itself receives the pictures.
                    overlay = many || options.output == nil
                        ? (outputDirectory as NSString).appendingPathComponent(base) : outputDirectory
                    overlayIsFolder = true
                }
            } else if options.output == "-" {
                overlay = "-"
                overlayIsStdout = true
                if options.masksBesideOverlay || options.jsonLinesBesideOverlay || options.panopticBesideOverlay {
                    throw VocaSegError(.usage, "the overlay goes to standard output, so label maps, JSON lines and "
                                       + "panoptic output need their own paths (--masks DIR, --jsonl FILE, --panoptic DIR)")
                }
            } else if SequencePattern.isPattern(options.output!) {
                overlay = options.output!
                let ext = (overlay as NSString).pathExtension.lowercased()
                guard imageExtensions.contains(ext) else {
                    throw VocaSegError(.usage, "a numbered sequence is written as pictures: end the pattern in "
                                       + ".png or .jpg (e.g. frame_%06d.png)", path: overlay)
                }
                _ = try SequencePattern(overlay)
                overlayIsSequence = true
            } else {
                overlay = options.output!
                let ext = (overlay as NSString).pathExtension.lowercased()
                switch input.kind {
                case .imageFolder where !videoExtensions.contains(ext):
                    if imageExtensions.contains(ext) {
                        throw VocaSegError(.usage, "a folder of pictures gives a folder of overlays: name a folder "
                                           + "(or a .mp4/.mov/.mkv video)", path: overlay)
                    }
                    overlayIsFolder = true
                case .video where imageExtensions.contains(ext):
                    throw VocaSegError(.usage, "this input holds several frames: write a video (.mp4, .mov, .mkv) "
                                       + "or a numbered sequence (e.g. \((overlay as NSString).deletingPathExtension)"
                                       + "_%06d.\(ext)), not one picture", path: overlay)
                default:
                    let allowed = input.kind == .stillImage ? imageExtensions : videoExtensions
                    if !allowed.contains(ext) {
                        let kinds = allowed.sorted().joined(separator: ", ")
                        throw VocaSegError(.usage, "output must end in one of \(kinds) for this input", path: overlay)
                    }
                }
            }
            if overlayIsFolder {
                try ensureDirectory(overlay, what: "overlay folder")
            } else if overlayIsSequence {
                let dir = (overlay as NSString).deletingLastPathComponent
                try ensureDirectory(dir.isEmpty ? "." : dir, what: "sequence folder")
            } else if !overlayIsStdout {
                try checkWritable(file: overlay)
            }
            if !overlayIsStdout && !overlayIsSequence { try checkNotSame(input.path, overlay) }
            // Outputs beside the overlay are named after it (`seq_%06d.png` → `seq.masks/`).
            let overlayBase = overlayIsSequence ? try SequencePattern(overlay).baseName
                : (overlay as NSString).deletingPathExtension
            var masks: String?
            if let dir = options.masksDirectory {
                masks = many ? (dir as NSString).appendingPathComponent(stem(of: input.path)) : dir
                try ensureDirectory(dir, what: "masks directory")
            } else if options.masksBesideOverlay {
                masks = overlayBase + ".masks"
            }
            var panoptic: String?
            if let dir = options.panopticDirectory {
                panoptic = many ? (dir as NSString).appendingPathComponent(stem(of: input.path)) : dir
                try ensureDirectory(dir, what: "panoptic directory")
            } else if options.panopticBesideOverlay {
                panoptic = overlayBase + ".panoptic"
            }
            var jsonl: String?
            if options.jsonLinesPath == nil && options.jsonLinesBesideOverlay {
                jsonl = overlayBase + ".jsonl"
                try checkWritable(file: jsonl!)
            } else if let path = options.jsonLinesPath {
                if many {
                    try ensureDirectory(path, what: "JSON-lines directory")
                    jsonl = (path as NSString).appendingPathComponent("\(stem(of: input.path)).jsonl")
                } else {
                    jsonl = path
                }
                try checkWritable(file: jsonl!)
                try checkNotSame(input.path, jsonl!)
            }
            for path in [overlayIsStdout ? nil : overlay, jsonl].compactMap({ $0 }) {
                let key = canonical(path)
                if seen.contains(key) {
                    throw VocaSegError(.usage, "two outputs would be written to the same file", path: path)
                }
                seen.insert(key)
            }
            plans.append(OutputPlan(input: input.path, overlay: overlay, overlayIsFolder: overlayIsFolder,
                                    overlayIsSequence: overlayIsSequence, overlayIsStdout: overlayIsStdout,
                                    masksDirectory: masks, panopticDirectory: panoptic, jsonLines: jsonl))
        }
        return plans
    }

    static func stem(of path: String) -> String {
        if path == "-" { return "stdin" }
        let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        let cleaned = name.replacingOccurrences(of: "%", with: "")
        return cleaned.isEmpty ? "output" : cleaned
    }

    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func checkNotSame(_ input: String, _ output: String) throws {
        if input != "-" && canonical(input) == canonical(output) {
            throw VocaSegError(.usage, "output would overwrite the input", path: output)
        }
    }

    /// The directory that will hold `file` must exist and be writable (we write a temporary beside it and rename).
    static func checkWritable(file: String) throws {
        let dir = (file as NSString).deletingLastPathComponent
        let directory = dir.isEmpty ? "." : dir
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw VocaSegError(.usage, "cannot write output: directory \(directory) does not exist", path: file)
        }
        // Try it: permission bits say nothing for root, read-only mounts or /proc; creating a file does.
        let probe = (directory as NSString).appendingPathComponent(".vocaseg-write-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw VocaSegError(.usage, "cannot write output in \(directory): \(reason)", path: file)
        }
        close(fd)
        unlink(probe)
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDir), isDir.boolValue {
            throw VocaSegError(.usage, "cannot write output: a directory has that name", path: file)
        }
    }

    static func ensureDirectory(_ path: String, what: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw VocaSegError(.usage, "\(what) is a file, not a directory", path: path) }
        } else {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw VocaSegError(.usage, "cannot create \(what)", path: path)
            }
        }
        try checkWritable(file: (path as NSString).appendingPathComponent("probe"))
    }
}
