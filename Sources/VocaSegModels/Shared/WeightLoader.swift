import Foundation
import VocaSegCheckpoint
import VocaSegCore
import VocaSegTensor

/// Where model weights come from: given a state-dict key and the shape the model expects, the tensor (float32,
/// contiguous, any shape: the loader checks it), or nil when the source has no such key. A source that holds the
/// key with a non-float dtype throws `WeightDTypeMismatch`.
public typealias WeightProvider = (_ key: String, _ expectedShape: [Int]) throws -> Tensor?

/// Thrown by a `WeightProvider` whose tensor exists but is not floating point.
public struct WeightDTypeMismatch: Error {
    public let found: TensorDType
}

/// The one weight loader of every family: model code reads weights key by key through scopes, and the loader keeps
/// the books in a `WeightLoadReport` (missing, misshapen, wrong dtype, unreadable and, at the end, unexpected keys)
/// so that one error lists every problem instead of the first. A problem yields zeros of the asked shape, so that
/// loading goes on to the end.
///
/// Not thread-safe: models load their weights from one thread.
public final class WeightLoader: @unchecked Sendable {
    /// Human-readable origin for messages ("random(seed 0)" or the checkpoint path).
    public let sourceDescription: String
    /// Whether the weights are seeded random ones.
    public let isRandom: Bool
    private let provider: WeightProvider
    /// Keys the source holds (nil: unknown, as for random weights); what is never asked for is unexpected.
    private let availableKeys: [String]?
    private var used = Set<String>()
    private var ignoreRules: [(prefix: String, reason: String)] = []
    private var problems: WeightLoadReport
    /// Problems that fit no report column (a read that threw).
    private var unreadable: [String] = []

    public init(source: String, isRandom: Bool = false, availableKeys: [String]? = nil,
                provider: @escaping WeightProvider) {
        sourceDescription = source
        self.isRandom = isRandom
        self.availableKeys = availableKeys
        self.provider = provider
        problems = WeightLoadReport(source: source)
    }

    /// The tensors of a checkpoint in its own key layout; half and bfloat16 widen to float32. Entries the checkpoint
    /// keeps outside its state dict (optimizer, iteration) are listed as ignored; non-tensor values inside it are
    /// unexpected unless `ignore` covers them.
    public convenience init(checkpoint: Checkpoint) {
        self.init(source: checkpoint.path, availableKeys: checkpoint.names + checkpoint.nonTensorEntries.map(\.name)) {
            key, _ in
            guard let record = checkpoint[key] else { return nil }
            guard record.dtype.isFloatingPoint else { throw WeightDTypeMismatch(found: record.dtype) }
            let t = Tensor(uninitializedShape: record.shape)
            record.float32(into: UnsafeMutableBufferPointer(start: t.data, count: record.elementCount))
            return t
        }
        problems.ignored = checkpoint.skippedTopLevelKeys.map {
            .init(key: $0, reason: "top-level entry outside the state dict '\(checkpoint.stateDictKey ?? "")'")
        }
    }

    /// Opens a `.pth` or safetensors file (told apart by content) and serves its state dict.
    public convenience init(path: String) throws {
        self.init(checkpoint: try CheckpointFile.open(path: path))
    }

    public func scope(_ prefix: String) -> WeightScope { WeightScope(loader: self, prefix: prefix) }

    /// The tensor under `key` with exactly `shape`; on any problem, records it and returns zeros.
    public func tensor(_ key: String, shape: [Int]) -> Tensor {
        used.insert(key)
        do {
            guard let t = try provider(key, shape) else {
                problems.missing.append(.init(key: key, expectedShape: shape))
                return Tensor(zeros: shape)
            }
            guard t.shape == shape else {
                problems.shapeMismatches.append(.init(key: key, expected: shape, found: t.shape))
                return Tensor(zeros: shape)
            }
            problems.loadedCount += 1
            problems.loadedElements += t.count
            return t.contiguous()
        } catch let mismatch as WeightDTypeMismatch {
            problems.dtypeMismatches.append(.init(key: key, expected: "floating point", found: mismatch.found))
        } catch {
            unreadable.append("\(key): \(error)")
        }
        return Tensor(zeros: shape)
    }

    /// Marks a key, or every key below `key.`, as known but deliberately unused (e.g. `logit_scale`).
    public func ignore(_ key: String, reason: String = "not used by the model") {
        ignoreRules.append((key, reason))
    }

    /// Everything so far, with unexpected and ignored keys computed against what has been asked for.
    public var report: WeightLoadReport {
        var report = problems
        for key in availableKeys ?? [] where !used.contains(key) {
            if let rule = ignoreRules.first(where: { key == $0.prefix || key.hasPrefix($0.prefix + ".") }) {
                report.ignored.append(.init(key: key, reason: rule.reason))
            } else {
                report.unexpected.append(key)
            }
        }
        return report
    }

    /// Throws one `VocaSegError(.model)` naming the source and listing the problems (counts and the first keys of
    /// each kind) unless the model took exactly what the source holds.
    @discardableResult
    public func finish() throws -> WeightLoadReport {
        let report = self.report
        let count = report.problemCount + unreadable.count
        guard count > 0 else { return report }
        let parts = (report.isClean ? [] : [report.summary]) + unreadable.prefix(3)
        throw VocaSegError(.model, "the weights do not fit the model: \(count) problem(s): "
                           + parts.joined(separator: "; "), path: isRandom ? nil : sourceDescription)
    }
}

/// A key prefix inside a `WeightLoader`: `weights.scope("trunk").scope("stages.2")` reads
/// `<prefix>.trunk.stages.2.<name>`.
public struct WeightScope {
    let loader: WeightLoader
    public let prefix: String

    public func scope(_ name: String) -> WeightScope { WeightScope(loader: loader, prefix: key(name)) }

    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    public func tensor(_ name: String, _ shape: [Int]) -> Tensor { loader.tensor(key(name), shape: shape) }

    public func ignore(_ name: String, reason: String = "not used by the model") {
        loader.ignore(key(name), reason: reason)
    }
}
