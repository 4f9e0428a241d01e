import Foundation
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline

/// Per-frame label-map PNGs named by frame index (`000000.png`, …): 8-bit indexed with the class palette for up to
/// 256 classes, 16-bit grey beyond. `classes.json` beside them maps index → name and colour.
///
/// Files are written into a hidden staging folder inside the target and moved into place by `finish()`, so a failed
/// run leaves no masks behind and an interrupted one leaves a complete, consistent set up to its last frame.
final class LabelMapSink: FrameSink {
    private let directory: String
    private let staging: String
    private let vocabulary: Vocabulary
    private let palette: [(UInt8, UInt8, UInt8)]
    private var written: [String] = []

    init(directory: String, vocabulary: Vocabulary) throws {
        self.directory = directory
        self.vocabulary = vocabulary
        palette = vocabulary.names.map { let c = Palette.color(forClassName: $0); return (c.r, c.g, c.b) }
        staging = (directory as NSString).appendingPathComponent(".vocaseg-staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw VocaSegError(.usage, "cannot create the masks directory", path: directory)
        }
    }

    func consume(_ frame: ProcessedFrame) throws {
        let name = String(format: "%06d.png", frame.frame.index)
        try ImageFileWriter.writeLabelMap(frame.result.labels, palette: palette,
                                          to: (staging as NSString).appendingPathComponent(name))
        written.append(name)
    }

    func finish() throws {
        let table: [[String: Any]] = vocabulary.classes.enumerated().map { i, c in
            let color = palette[i]
            return ["index": i, "name": c.name, "synonyms": c.synonyms,
                    "color": [Int(color.0), Int(color.1), Int(color.2)]]
        }
        let json = try JSONSerialization.data(withJSONObject: ["classes": table, "unlabeled": Int(LabelMap.unlabeled)],
                                              options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: (staging as NSString).appendingPathComponent("classes.json")))
        let fm = FileManager.default
        for name in written + ["classes.json"] {
            let target = (directory as NSString).appendingPathComponent(name)
            // rename(2) replaces an existing file atomically; FileManager.moveItem would refuse.
            guard rename((staging as NSString).appendingPathComponent(name), target) == 0 else {
                throw VocaSegError(.usage, "cannot move a label map into place: \(String(cString: strerror(errno)))",
                                   path: target)
            }
        }
        try? fm.removeItem(atPath: staging)
    }

    func abort() { try? FileManager.default.removeItem(atPath: staging) }
}
