import Foundation
import VocaSegCheckpoint
import VocaSegCore

/// The registry: every family this build runs. Adding a family is one entry here plus its folder.
public enum ModelFamilies {
    public static let all: [any ModelFamily] = [ERRSegFamily(), EOVSegFamily(), SEDFamily()]

    /// Every variant name, e.g. for `--help` and "unknown model" messages.
    public static var variantNames: [String] { all.flatMap { $0.variants.map(\.name) } }

    /// The family and variant of a CLI name, or nil.
    public static func variant(named name: String) -> (family: any ModelFamily, variant: ModelVariant)? {
        for family in all {
            if let v = family.variants.first(where: { $0.name == name }) { return (family, v) }
        }
        return nil
    }

    /// The first family that claims the checkpoint, else the layouts recognised but not runnable, else unknown.
    public static func recognize(_ checkpoint: Checkpoint) -> CheckpointRecognition {
        for family in all {
            if let r = family.recognize(checkpoint) { return r }
        }
        return KnownLayouts.recognize(checkpoint) ?? .unknown
    }

    /// The family and variant to build for a checkpoint; one line naming the file when this build cannot run it.
    public static func resolve(checkpoint: Checkpoint) throws -> (family: any ModelFamily, variant: ModelVariant) {
        let r = recognize(checkpoint)
        if r.supported, let family = all.first(where: { $0.name == r.family }),
           let variant = family.variants.first(where: { $0.label == r.variant }) {
            return (family, variant)
        }
        let runs = all.map(\.name).joined(separator: ", ")
        let what = r.family == "unknown" ? "not a checkpoint of a known model (\(r.evidence))"
            : "a \(r.family)\(r.variant.map { " \($0)" } ?? "") checkpoint (\(r.evidence)), which this build cannot run yet"
        throw VocaSegError(.model, "\(what); this build runs \(runs)", path: checkpoint.path)
    }

    /// Options of every family, each once (by flag name).
    public static var options: [FamilyOption] {
        var seen = Set<String>()
        return all.flatMap(\.options).filter { seen.insert($0.name).inserted }
    }

    /// `--help` text of one family option, e.g. for `--crm-k`.
    public static func help(for option: String) -> String {
        guard let o = options.first(where: { $0.name == option }) else { return "" }
        let owners = all.filter { $0.options.contains { $0.name == option } }.map(\.name).joined(separator: ", ")
        return "\(owners): \(o.fullHelp)"
    }

    /// Checks settings against the family that will run (or, for a checkpoint path, against every family).
    public static func validate(settings: FamilySettings, for family: (any ModelFamily)?) throws {
        let offered = family?.options ?? options
        for (name, raw) in settings.sorted(by: { $0.key < $1.key }) {
            guard let option = offered.first(where: { $0.name == name }) else {
                throw VocaSegError(.usage, "--\(name) is not a setting of \(family?.name ?? "any model family")")
            }
            try option.validate(raw)
        }
    }

    /// The `--model` help: names, variants and what each family offers.
    public static var modelHelp: String {
        let names = all.map { f in "\(f.name): \(f.variants.map(\.name).joined(separator: ", ")) (\(f.tasks.map(\.rawValue).joined(separator: ", ")))" }
        return "Model name or checkpoint path (.pth, .safetensors; the family is recognised from its keys). "
            + names.joined(separator: "; ") + ". Default: \(variantNames[0])."
    }
}
