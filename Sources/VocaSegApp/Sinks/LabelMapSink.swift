import Foundation
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline

/// Per-frame label-map PNGs named by frame index (`000000.png`, …), or by picture for a folder of pictures
/// (`beach.jpg` → `beach.png`): 8-bit indexed with the class palette for up to 256 classes, 16-bit grey beyond.
/// `classes.json` beside them maps index → name and colour.
///
/// Files are written into a hidden staging folder inside the target and moved into place by `finish()`, so a failed
/// run leaves no masks behind and an interrupted one leaves a complete, consistent set up to its last frame.
final class LabelMapSink: FrameSink {
    private let directory: String
    private let folder: StagedFolder
    private let vocabulary: Vocabulary
    private let palette: [(UInt8, UInt8, UInt8)]

    init(directory: String, vocabulary: Vocabulary) throws {
        self.directory = directory
        self.vocabulary = vocabulary
        palette = Palette.colors(forClassNames: vocabulary.names).map { ($0.r, $0.g, $0.b) }
        folder = try StagedFolder(directory: directory)
    }

    func consume(_ frame: ProcessedFrame) throws {
        let name = frame.frame.sourceName.map { OverlayImageFolderSink.outputName(for: $0, extension: "png", in: folder) }
            ?? String(format: "%06d.png", frame.frame.index)
        try ImageFileWriter.writeLabelMap(frame.result.labels, palette: palette, to: folder.path(for: name))
    }

    func finish() throws {
        let table: [[String: Any]] = vocabulary.classes.enumerated().map { i, c in
            let color = palette[i]
            return ["index": i, "name": c.name, "synonyms": c.synonyms,
                    "color": [Int(color.0), Int(color.1), Int(color.2)]]
        }
        let json = try JSONSerialization.data(withJSONObject: ["classes": table, "unlabeled": Int(LabelMap.unlabeled)],
                                              options: [.prettyPrinted, .sortedKeys])
        do {
            try json.write(to: URL(fileURLWithPath: folder.path(for: "classes.json")))
        } catch {
            throw VocaSegError(.io, "cannot write classes.json: \(AtomicOutputFile.describe(error))", path: directory)
        }
        try folder.commit()
    }

    func abort() { folder.abort() }
}
