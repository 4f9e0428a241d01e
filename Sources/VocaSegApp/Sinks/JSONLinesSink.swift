import Foundation
import VocaSegCore
import VocaSegMedia
import VocaSegPipeline

/// One JSON object per line: a header with the vocabulary and model, then one line per frame with its index,
/// timestamp, the classes present with their pixel fractions, and whatever the model's payload adds (ERR-Seg: the
/// classes its CRM selected, as "selected" names and "selected_ids"). Panoptic results add `segments`: track id,
/// class, thing or stuff, score, area, bbox, and with `rle` the mask as COCO RLE. Classes are given by index as well
/// as by name (`id`, `class_id`): a vocabulary file may name two classes alike.
final class JSONLinesSink: FrameSink {
    private let file: AtomicOutputFile
    private let handle: FileHandle
    private let names: [String]
    private let rle: Bool

    init(path: String, header: [String: Any], vocabulary: Vocabulary, rle: Bool = false) throws {
        self.rle = rle
        file = try AtomicOutputFile(finalPath: path)
        guard FileManager.default.createFile(atPath: file.temporaryPath, contents: nil),
              let handle = FileHandle(forWritingAtPath: file.temporaryPath)
        else { throw VocaSegError(.io, "cannot create the JSON-lines file: \(String(cString: strerror(errno)))", path: path) }
        self.handle = handle
        names = vocabulary.names
        var head = header
        head["type"] = "header"
        head["vocabulary"] = vocabulary.names
        try writeLine(head)
    }

    private func writeLine(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        // The throwing write: the old `write(_:)` traps on ENOSPC instead of reporting it.
        do { try handle.write(contentsOf: data) } catch {
            throw VocaSegError(.io, "cannot write: \(AtomicOutputFile.describe(error))", path: file.finalPath)
        }
    }

    func consume(_ frame: ProcessedFrame) throws {
        let present = frame.result.labels.classFractions().map { entry -> [String: Any] in
            ["id": entry.classIndex, "name": names[entry.classIndex],
             "fraction": (entry.fraction * 1e6).rounded() / 1e6]
        }
        var line: [String: Any] = [
            "type": "frame", "frame": frame.frame.index, "pts": frame.frame.ptsSeconds, "inferred": frame.inferred,
            "result": frame.inferred ? "inferred" : (frame.propagated ? "propagated" : "held"),
            "classes": present,
        ]
        if let name = frame.frame.sourceName { line["image"] = name }
        for (key, value) in frame.result.payload?.jsonFields(classNames: names) ?? [:] where line[key] == nil {
            line[key] = value
        }
        if let panoptic = frame.result.panoptic {
            let masks = rle ? CocoRLE.encodeSegments(panoptic) : [:]
            line["segments"] = panoptic.segments.map { s -> [String: Any] in
                var entry: [String: Any] = [
                    "id": Int(s.id), "class_id": s.classIndex, "class": names[s.classIndex], "isthing": s.isThing,
                    "score": (Double(s.score) * 1e6).rounded() / 1e6, "area": s.area,
                    "bbox": [s.bbox.x, s.bbox.y, s.bbox.width, s.bbox.height],
                ]
                if let mask = masks[s.id] { entry["rle"] = mask }
                return entry
            }
        }
        try writeLine(line)
    }

    func finish() throws {
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw VocaSegError(.io, "cannot write: \(AtomicOutputFile.describe(error))", path: file.finalPath)
        }
        try file.commit()
    }

    func abort() {
        try? handle.close()
        file.abort()
    }
}
