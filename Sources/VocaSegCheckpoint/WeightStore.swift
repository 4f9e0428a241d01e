import VocaSegCore

/// Hands weights to model code by key path and keeps the books: which keys were taken, which were missing, which
/// had the wrong shape or dtype, and which the checkpoint has that nobody asked for. Problems do not throw as they
/// happen (a mismatched key yields zeros of the requested shape) so that `finish()` can report all of them at once.
///
///     let store = WeightStore(checkpoint: ckpt, ignoring: [.init("criterion", reason: "training loss only")])
///     let head = store.scope("sem_seg_head").scope("decoder")
///     let w = head.take("proj.weight", shape: [256, 768])
///     try store.finish()
///
/// Not thread-safe: load weights from one thread.
public final class WeightStore {
    /// Keys (exact, or a prefix covering `prefix.*`) the model deliberately does not use, with the reason.
    public struct IgnoreRule: Sendable, Equatable {
        public let pattern: String
        public let reason: String

        public init(_ pattern: String, reason: String) {
            self.pattern = pattern
            self.reason = reason
        }

        func matches(_ key: String) -> Bool {
            if pattern.hasSuffix("*") { return key.hasPrefix(String(pattern.dropLast())) }
            return key == pattern || key.hasPrefix(pattern + ".")
        }
    }

    private enum Source {
        case record(TensorRecord)
        case values(shape: [Int], values: [Float])

        var shape: [Int] {
            switch self {
            case .record(let record): return record.shape
            case .values(let shape, _): return shape
            }
        }
    }

    private let sources: [String: Source]
    private let order: [String]
    private var taken = Set<String>()
    private var ignoreRules: [IgnoreRule]
    private var problems: WeightLoadReport
    /// The file the weights came from, for error messages (nil for in-memory weights).
    public let path: String?

    /// Weights from a checkpoint. Top-level entries the checkpoint skipped (optimizer, …) appear in the report as
    /// ignored.
    public init(checkpoint: Checkpoint, ignoring rules: [IgnoreRule] = []) {
        sources = Dictionary(uniqueKeysWithValues: checkpoint.tensors.map { ($0.name, Source.record($0)) })
        // Non-tensor values can never be taken, so they surface as unexpected unless a rule ignores them.
        order = checkpoint.names + checkpoint.nonTensorEntries.map(\.name)
        ignoreRules = rules
        path = checkpoint.path
        problems = WeightLoadReport(source: checkpoint.path)
        problems.ignored = checkpoint.skippedTopLevelKeys.map {
            .init(key: $0, reason: "top-level entry outside the state dict '\(checkpoint.stateDictKey ?? "")'")
        }
    }

    /// Opens the checkpoint at `path` (torch zip or safetensors) and serves its state dict.
    public convenience init(path: String, ignoring rules: [IgnoreRule] = []) throws {
        self.init(checkpoint: try CheckpointFile.open(path: path), ignoring: rules)
    }

    /// In-memory weights (tests, seeded random weights). Throws if a value count does not match its shape.
    public init(values: [String: (shape: [Int], values: [Float])], ignoring rules: [IgnoreRule] = [],
                description: String = "in-memory weights") throws {
        for (key, entry) in values where entry.shape.reduce(1, *) != entry.values.count {
            throw VocaSegError(.internal, "in-memory weight '\(key)' has \(entry.values.count) values for shape "
                               + "\(entry.shape)")
        }
        sources = values.mapValues { Source.values(shape: $0.shape, values: $0.values) }
        order = values.keys.sorted()
        ignoreRules = rules
        path = nil
        problems = WeightLoadReport(source: description)
    }

    /// A view that prefixes every key with `prefix.`.
    public func scope(_ prefix: String) -> WeightScope {
        WeightScope(store: self, prefix: prefix)
    }

    /// Adds an ignore rule after construction (e.g. once the model knows which optional heads it skips).
    public func ignore(_ pattern: String, reason: String) {
        ignoreRules.append(IgnoreRule(pattern, reason: reason))
    }

    // MARK: Taking weights

    /// The values of `key` as Float, row-major. Records a problem and returns zeros of `shape` when the key is
    /// missing, has another shape, or is not a floating-point tensor.
    public func take(_ key: String, shape: [Int]) -> [Float] {
        takeIfPresent(key, shape: shape) ?? {
            problems.missing.append(.init(key: key, expectedShape: shape))
            return zeros(shape)
        }()
    }

    /// Like `take`, but a missing key is not a problem: returns nil (for optional parameters such as biases).
    public func takeIfPresent(_ key: String, shape: [Int]) -> [Float]? {
        guard let source = sources[key] else { return nil }
        taken.insert(key)
        guard source.shape == shape else {
            problems.shapeMismatches.append(.init(key: key, expected: shape, found: source.shape))
            return zeros(shape)
        }
        switch source {
        case .values(_, let values):
            loaded(values.count)
            return values
        case .record(let record):
            guard record.dtype.isFloatingPoint else {
                problems.dtypeMismatches.append(.init(key: key, expected: "floating point", found: record.dtype))
                return zeros(shape)
            }
            loaded(record.elementCount)
            return record.float32()
        }
    }

    /// An integer tensor (index buffers, counters). Missing or mismatched keys are recorded; returns zeros then.
    public func takeInt64(_ key: String, shape: [Int]) -> [Int64] {
        let count = shape.reduce(1, *)
        guard let source = sources[key] else {
            problems.missing.append(.init(key: key, expectedShape: shape))
            return [Int64](repeating: 0, count: Swift.max(count, 0))
        }
        taken.insert(key)
        guard source.shape == shape else {
            problems.shapeMismatches.append(.init(key: key, expected: shape, found: source.shape))
            return [Int64](repeating: 0, count: Swift.max(count, 0))
        }
        switch source {
        case .values(_, let values):
            loaded(values.count)
            return values.map { Int64($0) }
        case .record(let record):
            guard !record.dtype.isFloatingPoint, let values = try? record.int64() else {
                problems.dtypeMismatches.append(.init(key: key, expected: "integer", found: record.dtype))
                return [Int64](repeating: 0, count: Swift.max(count, 0))
            }
            loaded(values.count)
            return values
        }
    }

    /// The raw record (for engines that convert themselves, e.g. keep fp16). Marks the key as taken.
    public func takeRecord(_ key: String) -> TensorRecord? {
        guard let source = sources[key] else { return nil }
        taken.insert(key)
        if case .record(let record) = source { return record }
        return nil
    }

    public func contains(_ key: String) -> Bool { sources[key] != nil }

    public func shape(of key: String) -> [Int]? { sources[key]?.shape }

    /// The distinct next key components below `prefix` (`blocks` → ["0", "1", …] in file order), so that
    /// model code can count layers from the checkpoint.
    public func children(of prefix: String) -> [String] {
        let lead = prefix.isEmpty ? "" : prefix + "."
        var seen = Set<String>()
        var result: [String] = []
        for key in order where key.hasPrefix(lead) {
            let rest = key.dropFirst(lead.count)
            let child = String(rest.prefix { $0 != "." })
            if seen.insert(child).inserted { result.append(child) }
        }
        return result
    }

    // MARK: Finishing

    /// The report so far, with unexpected and ignored keys computed against what has been taken.
    public var report: WeightLoadReport {
        var report = problems
        for key in order where !taken.contains(key) {
            if let rule = ignoreRules.first(where: { $0.matches(key) }) {
                report.ignored.append(.init(key: key, reason: rule.reason))
            } else {
                report.unexpected.append(key)
            }
        }
        return report
    }

    /// Throws one `VocaSegError(.model, …)` listing every problem (counts and the first keys of each) unless
    /// the model took exactly what the checkpoint holds. Returns the report either way for logging.
    @discardableResult
    public func finish() throws -> WeightLoadReport {
        let report = self.report
        guard report.isClean else { throw VocaSegError(.model, report.summary, path: path) }
        return report
    }

    private func loaded(_ elements: Int) {
        problems.loadedCount += 1
        problems.loadedElements += elements
    }

    private func zeros(_ shape: [Int]) -> [Float] {
        [Float](repeating: 0, count: Swift.max(shape.reduce(1, *), 0))
    }
}

/// A key prefix on a `WeightStore`: `store.scope("a").scope("b").take("w", …)` takes `a.b.w`.
public struct WeightScope {
    public let store: WeightStore
    public let prefix: String

    public func scope(_ name: String) -> WeightScope {
        WeightScope(store: store, prefix: key(name))
    }

    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    public func take(_ name: String, shape: [Int]) -> [Float] { store.take(key(name), shape: shape) }
    public func takeIfPresent(_ name: String, shape: [Int]) -> [Float]? {
        store.takeIfPresent(key(name), shape: shape)
    }
    public func takeInt64(_ name: String, shape: [Int]) -> [Int64] { store.takeInt64(key(name), shape: shape) }
    public func takeRecord(_ name: String) -> TensorRecord? { store.takeRecord(key(name)) }
    public func contains(_ name: String) -> Bool { store.contains(key(name)) }
    public func shape(of name: String) -> [Int]? { store.shape(of: key(name)) }
    public func children() -> [String] { store.children(of: prefix) }
    public func ignore(_ name: String, reason: String) { store.ignore(key(name), reason: reason) }
}
