import Foundation
import Testing
import VocaSegCore
import VocaSegTensor
@testable import VocaSegModels

/// The tiny EOV-Seg goldens of the PyTorch reference (Scripts/reference/eovseg.py): one folder per tiny model with
/// manifest.json, raw .bin tensors, config.json and the tiny checkpoint in the official key layout.
enum EOVSegGoldens {
    static let rn = GoldenFolder("eovseg_tiny_rn")
    static let cnx = GoldenFolder("eovseg_tiny_cnx")
    static let folders = [rn, cnx]

    static func config(_ folder: GoldenFolder) throws -> EOVSegConfig {
        try EOVSegConfig.decode(jsonAt: folder.url("config.json").path)
    }

    /// The folder's checkpoint (`eovseg_tiny_rn.pth`, or the one .pth / .safetensors file there) through the real
    /// loader.
    static func weights(_ folder: GoldenFolder) throws -> WeightLoader {
        let named = folder.url("eovseg_\(folder.directory.lastPathComponent.replacingOccurrences(of: "eovseg_", with: "")).pth")
        if FileManager.default.fileExists(atPath: named.path) { return try WeightLoader(path: named.path) }
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.directory.path)
        let file = try #require(files.first { $0.hasSuffix(".pth") || $0.hasSuffix(".safetensors") },
                                "no checkpoint in \(folder.directory.lastPathComponent)")
        return try WeightLoader(path: folder.url(file).path)
    }

    /// A golden without its leading batch dimension of 1 ([1, Q, …] → [Q, …]).
    static func unbatched(_ t: Tensor) -> Tensor {
        t.rank > 1 && t.shape[0] == 1 ? t.reshaped(Array(t.shape.dropFirst())) : t
    }

    /// Padded, resized and original sizes: padded from res2 (stride 4), original from the post-processed masks, the
    /// resized size by the config's shortest-edge rule (or the manifest's, when it writes one).
    static func geometry(_ folder: GoldenFolder, config c: EOVSegConfig) throws -> EOVSegFrameGeometry {
        let res2 = try folder.entry("backbone.res2").shape
        let post = try folder.entry("post.masks").shape
        let oh = post[post.count - 2], ow = post[post.count - 1]
        var (rh, rw) = Ops.shortestEdgeResizeShape(height: oh, width: ow, shortEdge: c.shortEdge, maxSize: c.maxSize)
        let manifest = try folder.manifestFields()
        for key in ["resized", "resized_size", "image_size"] {
            if let size = manifest[key] as? [Int], size.count == 2 { (rh, rw) = (size[0], size[1]) }
        }
        return EOVSegFrameGeometry(paddedHeight: res2[2] * 4, paddedWidth: res2[3] * 4, resizedHeight: rh,
                                   resizedWidth: rw, originalHeight: oh, originalWidth: ow)
    }

    /// The manifest's `segments` as (id, category, isThing), in order.
    static func segments(_ folder: GoldenFolder) throws -> [(id: Int, category: Int, isThing: Bool)] {
        let list = try #require(try folder.manifestFields()["segments"] as? [[String: Any]], "manifest has no segments")
        return list.map { s in
            let thing = (s["isthing"] as? Bool) ?? ((s["isthing"] as? Int).map { $0 != 0 } ?? false)
            return (id: (s["id"] as? Int) ?? -1, category: (s["category_id"] as? Int) ?? -1, isThing: thing)
        }
    }
}

extension GoldenFolder {
    /// The whole manifest as JSON values, for the EOV-Seg reference's fields beside `tensors` (segments,
    /// resized_size, panoptic details).
    func manifestFields() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url("manifest.json")))
        return try #require(object as? [String: Any], "manifest.json of \(directory.lastPathComponent) is not an object")
    }
}
