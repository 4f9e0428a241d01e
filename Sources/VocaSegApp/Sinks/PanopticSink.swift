import Foundation
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline

/// `--panoptic DIR`: COCO panoptic format. One RGB PNG per frame whose colour encodes the segment (track) id as
/// id = R + 256·G + 256²·B (0 = void), and `panoptic.json` with `images`, `annotations` (`segments_info`: id,
/// category_id, area, bbox, iscrowd, score) and `categories` (`isthing`). Category ids are vocabulary index + 1,
/// because COCO keeps 0 for void.
///
/// Written through a staging folder like the label maps, so a failed run leaves nothing and an interrupted one a
/// consistent set whose JSON lists exactly the PNGs present.
final class PanopticSink: FrameSink {
    static let jsonName = "panoptic.json"
    private let directory: String
    private let folder: StagedFolder
    private let vocabulary: Vocabulary
    private var images: [[String: Any]] = []
    private var annotations: [[String: Any]] = []

    init(directory: String, vocabulary: Vocabulary) throws {
        self.directory = directory
        self.vocabulary = vocabulary
        folder = try StagedFolder(directory: directory)
    }

    func consume(_ frame: ProcessedFrame) throws {
        guard let panoptic = frame.result.panoptic else {
            throw VocaSegError(.internal, "frame \(frame.frame.index) has no panoptic result", path: directory)
        }
        let name = frame.frame.sourceName.map { OverlayImageFolderSink.outputName(for: $0, extension: "png", in: folder) }
            ?? String(format: "%06d.png", frame.frame.index)
        try ImageFileWriter.write(Self.encodeIds(panoptic), to: folder.path(for: name))
        let imageId = frame.frame.index
        images.append(["id": imageId, "file_name": frame.frame.sourceName ?? name, "width": panoptic.width,
                       "height": panoptic.height])
        let segments: [[String: Any]] = panoptic.segments.map { s in
            ["id": Int(s.id), "category_id": s.classIndex + 1, "area": s.area, "iscrowd": 0,
             "bbox": [s.bbox.x, s.bbox.y, s.bbox.width, s.bbox.height],
             // Rounded as in the JSON lines: a Float widened to Double prints as 0.8999999761581421.
             "score": (Double(s.score) * 1e6).rounded() / 1e6]
        }
        annotations.append(["image_id": imageId, "file_name": name, "segments_info": segments])
    }

    /// The id map as COCO's RGB picture. Ids of 2²⁴ and more cannot be written, which no stream reaches.
    static func encodeIds(_ panoptic: PanopticResult) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: panoptic.segmentIds.count * 3)
        for (i, id) in panoptic.segmentIds.enumerated() {
            pixels[i * 3] = UInt8(id & 0xFF)
            pixels[i * 3 + 1] = UInt8(id >> 8 & 0xFF)
            pixels[i * 3 + 2] = UInt8(id >> 16 & 0xFF)
        }
        return RGBImage(width: panoptic.width, height: panoptic.height, pixels: pixels)
    }

    func finish() throws {
        let palette = Palette.colors(forClassNames: vocabulary.names)
        let categories: [[String: Any]] = vocabulary.classes.enumerated().map { i, c in
            let color = palette[i]
            return ["id": i + 1, "name": c.name, "isthing": c.isThing ? 1 : 0,
                    "supercategory": c.isThing ? "thing" : "stuff", "color": [Int(color.r), Int(color.g), Int(color.b)]]
        }
        let document: [String: Any] = ["images": images, "annotations": annotations, "categories": categories]
        do {
            let json = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
            try json.write(to: URL(fileURLWithPath: folder.path(for: Self.jsonName)))
        } catch {
            throw VocaSegError(.io, "cannot write \(Self.jsonName): \(AtomicOutputFile.describe(error))", path: directory)
        }
        try folder.commit()
    }

    func abort() { folder.abort() }
}
