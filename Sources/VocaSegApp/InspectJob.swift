import Foundation
import VocaSegCheckpoint
import VocaSegCore

/// `vocaseg inspect CHECKPOINT`: what a `.pth` or safetensors file holds, read through the same restricted loader
/// the models use (nothing in the file is executed), without reading the tensor data.
public enum InspectJob {
    public static func summary(path: String) throws -> CheckpointSummary {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VocaSegError(.input, "checkpoint does not exist", path: path)
        }
        return CheckpointSummary(try CheckpointFile.open(path: path))
    }

    public static func json(_ summary: CheckpointSummary) throws -> String {
        String(decoding: try JSONEncoder.pretty.encode(summary), as: UTF8.self)
    }

    /// A human-readable table: one row per tensor, then totals and the identified model.
    public static func table(_ s: CheckpointSummary) -> String {
        let nameWidth = min(max(s.tensors.map(\.name.count).max() ?? 4, 4), 90)
        var lines: [String] = []
        lines.append("\(s.path): \(s.format.rawValue)" + (s.stateDictKey.map { ", state dict under \"\($0)\"" } ?? ""))
        if !s.skippedTopLevelKeys.isEmpty {
            lines.append("skipped top-level entries (not loaded): \(s.skippedTopLevelKeys.joined(separator: ", "))")
        }
        lines.append("")
        lines.append("name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype     shape")
        for t in s.tensors {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            lines.append(t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                + t.dtype.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0) + "  " + shape)
        }
        lines.append("")
        let dtypes = s.dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        lines.append("\(s.tensorCount) tensors (\(dtypes)), \(s.totalElements) parameters, "
            + String(format: "%.1f MB", Double(s.totalBytes) / 1e6))
        let m = s.model
        var model = "model: \(m.family)" + (m.variant.map { " \($0)" } ?? "") + (m.backbone.map { " (\($0))" } ?? "")
        if let expected = m.expectedTensorCount {
            model += expected == s.tensorCount ? ", all \(expected) expected tensors present"
                : ", \(s.tensorCount) of the \(expected) tensors of the released checkpoint"
        }
        lines.append(model + " — \(m.evidence)")
        return lines.joined(separator: "\n")
    }
}
