import Foundation
import VocaSegCheckpoint
import VocaSegCore
import VocaSegModels

/// What `vocaseg inspect` reports: the file's tensors (checkpoint layer) and the model family's verdict (registry).
public struct InspectReport: Sendable {
    public var summary: CheckpointSummary
    public var model: CheckpointRecognition
}

/// `vocaseg inspect CHECKPOINT`: what a `.pth` or safetensors file holds, read through the same restricted loader
/// the models use (nothing in the file is executed), without reading the tensor data.
public enum InspectJob {
    public static func summary(path: String) throws -> InspectReport {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VocaSegError(.input, "checkpoint does not exist", path: path)
        }
        let checkpoint = try CheckpointFile.open(path: path)
        return InspectReport(summary: CheckpointSummary(checkpoint), model: ModelFamilies.recognize(checkpoint))
    }

    /// The summary's fields with the verdict under "model", as one object.
    public static func json(_ report: InspectReport) throws -> String {
        let encoder = JSONEncoder.pretty
        guard var object = try JSONSerialization.jsonObject(with: encoder.encode(report.summary)) as? [String: Any],
              let model = try JSONSerialization.jsonObject(with: encoder.encode(report.model)) as? [String: Any]
        else { throw VocaSegError(.internal, "inspect: the summary did not encode as a JSON object") }
        object["model"] = model
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A human-readable table: one row per tensor, then totals and the identified model.
    public static func table(_ report: InspectReport) -> String {
        let s = report.summary
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
        let m = report.model
        var model = "model: \(m.family)" + (m.variant.map { " \($0)" } ?? "") + (m.backbone.map { " (\($0))" } ?? "")
        if let expected = m.expectedTensorCount {
            model += expected == s.tensorCount ? ", all \(expected) expected tensors present"
                : ", \(s.tensorCount) of the \(expected) tensors of the released checkpoint"
        }
        if m.family != "unknown" && !m.supported { model += "; this build cannot run it yet" }
        lines.append(model + " — \(m.evidence)")
        return lines.joined(separator: "\n")
    }
}
