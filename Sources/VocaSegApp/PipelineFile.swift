import Foundation
import VocaSegCore
import VocaSegModels
import VocaSegTensor
import Yams

/// A declarative pipeline file (`Pipelines/*.yaml`): which model, which vocabulary, how to infer and what to write.
/// The same file drives `vocaseg segment --pipeline FILE` and `vocaseg watch`.
///
/// Validated on load, strictly: an unknown field (a typo), a wrong type or an out-of-range value is an error that
/// names the file, the line, the field and the problem. Paths in the file are relative to the file.
public struct PipelineFile: Sendable, Equatable {
    public var path: String
    public var model: String?
    public var task: String?
    public var weights: SegmentOptions.Weights?
    /// Inline class list, or nil when `vocabulary_file` is used.
    public var classes: [String]?
    public var vocabularyFile: String?
    public var mode: String?
    public var window: Int?
    public var overlap: Double?
    public var globalView: Bool?
    public var globalWeight: Double?
    public var maxSide: Int?
    public var crmScope: String?
    public var size: Int?
    public var every: Int?
    /// `inference.keyframes` (`auto` or `every:N`), `inference.max_gap`, `inference.propagate`.
    public var keyframes: String?
    public var maxGap: Int?
    public var propagate: String?
    /// `inference.precision`: fp32 or bf16 (see `SegmentOptions.precision`).
    public var precision: String?
    /// Settings of the model families (`FamilyOption.pipelineField`, e.g. `crm.k`), by flag name.
    public var modelSettings: FamilySettings = [:]
    public var overlay = Overlay()
    public var masks: Bool?
    public var jsonLines: Bool?
    /// COCO panoptic folder beside the overlay (panoptic models).
    public var panoptic: Bool?
    /// COCO RLE masks in the JSON lines' segments.
    public var rle: Bool?
    public var trackIoU: Double?
    public var trackMemory: Int?
    /// Output base name; `{stem}` is the input's file name without extension.
    public var naming: String?
    public var threads: Int?

    public struct Overlay: Sendable, Equatable {
        public var enabled: Bool?
        public var container: String?
        public var crf: Int?
        public var preset: String?
        public var alpha: Double?
        public var outlines: Bool?
        public var labels: Bool?
        public var legend: Bool?
        public var colors: [String: String]?
    }

    public static func load(path: String) throws -> PipelineFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw VocaSegError(.usage, exists ? "pipeline file cannot be read" : "pipeline file does not exist",
                               path: path)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw VocaSegError(.usage, "pipeline file is not UTF-8 text", path: path)
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws -> PipelineFile {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw VocaSegError(.usage, "not valid YAML: \(String(describing: error).split(whereSeparator: \.isNewline).first ?? "")", path: path)
        }
        guard let root, root.mapping != nil else {
            throw VocaSegError(.usage, "a pipeline file must be a mapping of fields (model, vocabulary, outputs, …)",
                               path: path)
        }
        let r = Reader(path: path)
        var p = PipelineFile(path: path)
        // Sections and fields the families declare (ERR-Seg: crm.k, crm.refresh, inference.resize) join the fixed ones.
        let familyOptions = ModelFamilies.options
        func familyKeys(_ section: String) -> [String] {
            familyOptions.compactMap { o in
                let parts = o.pipelineField.split(separator: ".", maxSplits: 1).map(String.init)
                return parts.count == 2 && parts[0] == section ? parts[1] : nil
            }
        }
        func familyField(_ section: String, _ key: String, _ node: Node) throws -> Bool {
            guard let o = familyOptions.first(where: { $0.pipelineField == "\(section).\(key)" }) else { return false }
            p.modelSettings[o.name] = try r.familyValue(node, o)
            return true
        }
        let fixedSections = ["model", "weights", "task", "vocabulary", "vocabulary_file", "inference", "crm", "outputs",
                             "threads", "tracking"]
        let familySections = Set(familyOptions.compactMap { $0.pipelineField.split(separator: ".").first.map(String.init) })
            .subtracting(fixedSections).sorted()
        try r.fields(root, at: "", allowed: fixedSections + familySections) { key, node in
            switch key {
            case "model": p.model = try r.string(node, "model")
            case "task": p.task = try r.choice(node, "task", SegmentationTask.allCases.map(\.rawValue))
            case "weights":
                let w = try r.choice(node, "weights", ["checkpoint", "random"])
                p.weights = SegmentOptions.Weights(rawValue: w)
            case "vocabulary":
                let classes = try r.stringList(node, "vocabulary")
                // Vocabulary's own errors (empty list, a class twice, a misspelt [thing]/[stuff] marker) name no file,
                // since they also serve --classes: check here, where the file and the line are known (found by Fuzz/,
                // pipeline harness). Entries are read as on the command line, markers included.
                do {
                    for entry in classes { _ = try Vocabulary(commaSeparated: entry) }
                    _ = try Vocabulary(commaSeparated: classes.joined(separator: ", "))
                } catch let problem as VocaSegError {
                    throw r.error(node, "vocabulary", problem.message)
                }
                p.classes = classes
            case "vocabulary_file": p.vocabularyFile = try r.relativePath(node, "vocabulary_file")
            case "threads": p.threads = try r.int(node, "threads", 1...256)
            case "inference":
                try r.fields(node, at: "inference", allowed: ["mode", "size", "every", "window", "overlap", "global_view",
                                                               "global_weight", "max_side", "keyframes", "max_gap",
                                                               "propagate", "precision"] + familyKeys("inference")) { k, n in
                    if try familyField("inference", k, n) { return }
                    switch k {
                    case "mode": p.mode = try r.choice(n, "inference.mode", ["full", "sliding"])
                    case "window": p.window = try r.int(n, "inference.window", 32...4096)
                    case "overlap": p.overlap = try r.double(n, "inference.overlap", 0...0.95)
                    case "global_view": p.globalView = try r.bool(n, "inference.global_view")
                    case "global_weight": p.globalWeight = try r.double(n, "inference.global_weight", 0...1)
                    case "max_side": p.maxSide = try r.int(n, "inference.max_side", 64...16384)
                    case "size": p.size = try r.int(n, "inference.size", 32...4096)
                    case "keyframes":
                        let text = try r.string(n, "inference.keyframes")
                        do { _ = try KeyframePolicy(parsing: text) } catch let problem as VocaSegError {
                            throw r.error(n, "inference.keyframes", problem.message)
                        }
                        p.keyframes = text
                    case "max_gap": p.maxGap = try r.int(n, "inference.max_gap", 1...100_000)
                    case "propagate": p.propagate = try r.choice(n, "inference.propagate", ["motion", "hold"])
                    case "precision": p.precision = try r.choice(n, "inference.precision", GEMMPrecision.allCases.map(\.rawValue))
                    default: p.every = try r.int(n, "inference.every", 1...100_000)
                    }
                }
            case "tracking":
                try r.fields(node, at: "tracking", allowed: ["iou", "memory"]) { k, n in
                    switch k {
                    case "iou": p.trackIoU = try r.double(n, "tracking.iou", 0.01...1)
                    default: p.trackMemory = try r.int(n, "tracking.memory", 0...10_000)
                    }
                }
            case "crm":
                try r.fields(node, at: "crm", allowed: ["scope"] + familyKeys("crm")) { k, n in
                    if try familyField("crm", k, n) { return }
                    p.crmScope = try r.choice(n, "crm.scope", ["shared", "per-window"])
                }
            case "outputs":
                try r.fields(node, at: "outputs", allowed: ["overlay", "masks", "jsonl", "naming", "panoptic",
                                                               "rle"]) { k, n in
                    switch k {
                    case "panoptic": p.panoptic = try r.bool(n, "outputs.panoptic")
                    case "rle": p.rle = try r.bool(n, "outputs.rle")
                    case "masks": p.masks = try r.bool(n, "outputs.masks")
                    case "jsonl": p.jsonLines = try r.bool(n, "outputs.jsonl")
                    case "naming":
                        let naming = try r.string(n, "outputs.naming")
                        if naming.contains("/") || naming.isEmpty {
                            throw r.error(n, "outputs.naming", "must be a file name without '/', e.g. \"{stem}.seg\"")
                        }
                        p.naming = naming
                    default: p.overlay = try r.overlay(n)
                    }
                }
            default:
                try r.fields(node, at: key, allowed: familyKeys(key)) { k, n in _ = try familyField(key, k, n) }
            }
        }
        if p.classes != nil && p.vocabularyFile != nil {
            throw VocaSegError(.usage, "give either vocabulary or vocabulary_file, not both", path: path)
        }
        return p
    }

    /// Applies the file's settings to `options`. Values the user set on the command line win.
    public func apply(to options: inout SegmentOptions, explicitlySet: Set<String>) {
        func set<T>(_ flag: String, _ value: T?, _ apply: (T) -> Void) {
            if let value, !explicitlySet.contains(flag) { apply(value) }
        }
        set("model", model) { options.model = $0 }
        set("weights", weights) { options.weights = $0 }
        if !explicitlySet.contains("classes") && !explicitlySet.contains("vocab") {
            if let classes { options.classes = classes.joined(separator: ", ") }
            if let vocabularyFile { options.vocabularyFile = vocabularyFile }
        }
        set("size", size) { options.size = $0 }
        set("every", every) { options.every = $0 }
        if !explicitlySet.contains("keyframes") && !explicitlySet.contains("every"), let keyframes {
            options.keyframes = try? KeyframePolicy(parsing: keyframes, maxGap: maxGap)
        }
        set("propagate", propagate.flatMap(Propagation.init(rawValue:))) { options.propagation = $0 }
        set("threads", threads) { options.threads = $0 }
        set("precision", precision.flatMap(GEMMPrecision.init(rawValue:))) { options.precision = $0 }
        set("crf", overlay.crf) { options.crf = $0 }
        set("preset", overlay.preset) { options.preset = $0 }
        set("alpha", overlay.alpha) { options.alpha = $0 }
        set("outlines", overlay.outlines) { options.outlines = $0 }
        set("labels", overlay.labels) { options.labels = $0 }
        set("legend", overlay.legend) { options.legend = $0 }
        if let masks { options.masksBesideOverlay = masks }
        if let jsonLines { options.jsonLinesBesideOverlay = jsonLines }
        if let panoptic { options.panopticBesideOverlay = panoptic }
        set("rle", rle) { options.rle = $0 }
        set("track-iou", trackIoU) { options.tracking.iouThreshold = $0 }
        set("track-memory", trackMemory) { options.tracking.memory = $0 }
        if let naming { options.naming = naming }
        set("task", task) { options.task = $0 }
        for (name, value) in modelSettings where !explicitlySet.contains(name) { options.modelSettings[name] = value }
        set("mode", mode.flatMap(SlidingWindowOptions.Mode.init(rawValue:))) { options.sliding.mode = $0 }
        set("window", window) { options.sliding.window = $0 }
        set("overlap", overlap) { options.sliding.overlap = $0 }
        set("global-view", globalView) { options.sliding.globalView = $0 }
        set("global-weight", globalWeight) { options.sliding.globalWeight = Float($0) }
        set("max-side", maxSide) { options.sliding.maxSide = $0 }
        set("crm", crmScope.flatMap(SlidingWindowOptions.CRMScope.init(rawValue:))) { options.sliding.crm = $0 }
        if let container = overlay.container { options.container = container }
        if let enabled = overlay.enabled { options.writeOverlay = enabled }
        if let colors = overlay.colors { options.colorOverrides = colors }
    }
}

/// Walks the YAML tree keeping track of the field path, so that every error says where it is.
private struct Reader {
    let path: String

    func error(_ node: Node, _ field: String, _ problem: String) -> VocaSegError {
        let line = node.mark.map { " (line \($0.line))" } ?? ""
        return VocaSegError(.usage, "field \(field)\(line): \(problem)", path: path)
    }

    func fields(_ node: Node, at prefix: String, allowed: [String], _ body: (String, Node) throws -> Void) throws {
        guard let mapping = node.mapping else {
            throw error(node, prefix.isEmpty ? "(top level)" : prefix, "must be a mapping of fields")
        }
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error(keyNode, prefix, "field names must be strings") }
            let full = prefix.isEmpty ? key : "\(prefix).\(key)"
            guard allowed.contains(key) else {
                var message = "unknown field"
                if let guess = allowed.min(by: { editDistance($0, key) < editDistance($1, key) }),
                   editDistance(guess, key) <= 3
                {
                    message += " (did you mean \(prefix.isEmpty ? guess : "\(prefix).\(guess)")?)"
                }
                message += "; allowed here: \(allowed.joined(separator: ", "))"
                throw error(keyNode, full, message)
            }
            try body(key, value)
        }
    }

    func string(_ node: Node, _ field: String) throws -> String {
        guard let s = node.scalar?.string, !s.isEmpty else { throw error(node, field, "must be a non-empty string") }
        return s
    }

    func relativePath(_ node: Node, _ field: String) throws -> String {
        let s = try string(node, field)
        if s.hasPrefix("/") { return s }
        return ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(s)
    }

    func choice(_ node: Node, _ field: String, _ options: [String]) throws -> String {
        let s = try string(node, field)
        guard options.contains(s) else {
            throw error(node, field, "must be one of \(options.joined(separator: ", ")) (got \"\(s)\")")
        }
        return s
    }

    func int(_ node: Node, _ field: String, _ range: ClosedRange<Int>) throws -> Int {
        guard node.scalar != nil, let v = node.int else { throw error(node, field, "must be a whole number") }
        guard range.contains(v) else {
            throw error(node, field, "must be between \(range.lowerBound) and \(range.upperBound) (got \(v))")
        }
        return v
    }

    func double(_ node: Node, _ field: String, _ range: ClosedRange<Double>) throws -> Double {
        guard node.scalar != nil, let v = node.float else { throw error(node, field, "must be a number") }
        guard range.contains(v) else {
            throw error(node, field, "must be between \(range.lowerBound) and \(range.upperBound) (got \(v))")
        }
        return v
    }

    func bool(_ node: Node, _ field: String) throws -> Bool {
        guard node.scalar != nil, let v = node.bool else { throw error(node, field, "must be true or false") }
        return v
    }

    /// A family option's value, checked against its kind, as the raw string the family reads.
    func familyValue(_ node: Node, _ option: FamilyOption) throws -> String {
        switch option.kind {
        case .integer(let range): return String(try int(node, option.pipelineField, range))
        case .choice(let values): return try choice(node, option.pipelineField, values)
        }
    }

    func stringList(_ node: Node, _ field: String) throws -> [String] {
        if let s = node.scalar?.string {
            return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard let seq = node.sequence else { throw error(node, field, "must be a list of class names") }
        return try seq.map { try string($0, field) }
    }

    func overlay(_ node: Node) throws -> PipelineFile.Overlay {
        var o = PipelineFile.Overlay()
        if let enabled = node.scalar.flatMap({ _ in node.bool }) {
            o.enabled = enabled
            return o
        }
        try fields(node, at: "outputs.overlay", allowed: ["enabled", "container", "crf", "preset", "alpha", "outlines",
                                                          "labels", "legend", "colors"]) { k, n in
            let f = "outputs.overlay.\(k)"
            switch k {
            case "enabled": o.enabled = try bool(n, f)
            case "container": o.container = try choice(n, f, ["mp4", "mov", "mkv"])
            case "crf": o.crf = try int(n, f, 0...51)
            case "preset":
                o.preset = try choice(n, f, ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                             "slower", "veryslow"])
            case "alpha": o.alpha = try double(n, f, 0...1)
            case "outlines": o.outlines = try bool(n, f)
            case "labels": o.labels = try bool(n, f)
            case "legend": o.legend = try bool(n, f)
            default:
                guard let m = n.mapping else { throw error(n, f, "must map class names to colours like \"#ff8800\"") }
                var colors: [String: String] = [:]
                for (kn, vn) in m {
                    let name = try string(kn, f)
                    let value = try string(vn, "\(f).\(name)")
                    guard value.count == 7, value.hasPrefix("#"), UInt32(value.dropFirst(), radix: 16) != nil else {
                        throw error(vn, "\(f).\(name)", "must be a colour like \"#ff8800\" (got \"\(value)\")")
                    }
                    colors[name] = value
                }
                o.colors = colors
            }
        }
        return o
    }
}

/// Levenshtein distance, for "did you mean" hints on misspelt field names.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
