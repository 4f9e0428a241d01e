/// Everything that went wrong (and right) while a model took its weights from a checkpoint: generic bookkeeping
/// by key and shape, filled in by the models' weight loader. Its `summary` is the one-line error; `fullText` lists
/// every problem.
public struct WeightLoadReport: Sendable, Codable, Equatable {
    public struct Missing: Sendable, Codable, Equatable {
        public let key: String
        public let expectedShape: [Int]
        public init(key: String, expectedShape: [Int]) { self.key = key; self.expectedShape = expectedShape }
    }

    public struct ShapeMismatch: Sendable, Codable, Equatable {
        public let key: String
        public let expected: [Int]
        public let found: [Int]
        public init(key: String, expected: [Int], found: [Int]) { self.key = key; self.expected = expected; self.found = found }
    }

    public struct DTypeMismatch: Sendable, Codable, Equatable {
        public let key: String
        public let expected: String
        public let found: TensorDType
        public init(key: String, expected: String, found: TensorDType) {
            self.key = key; self.expected = expected; self.found = found
        }
    }

    public struct Ignored: Sendable, Codable, Equatable {
        public let key: String
        public let reason: String
        public init(key: String, reason: String) { self.key = key; self.reason = reason }
    }

    /// The checkpoint path, or a description of an in-memory source.
    public var source: String
    public var loadedCount = 0
    public var loadedElements = 0
    public var missing: [Missing] = []
    /// Keys in the source that the model never took and no ignore rule covers.
    public var unexpected: [String] = []
    public var shapeMismatches: [ShapeMismatch] = []
    public var dtypeMismatches: [DTypeMismatch] = []
    public var ignored: [Ignored] = []

    public init(source: String) {
        self.source = source
    }

    public var isClean: Bool {
        missing.isEmpty && unexpected.isEmpty && shapeMismatches.isEmpty && dtypeMismatches.isEmpty
    }

    /// How many keys are wrong in any way (ignored keys are not problems).
    public var problemCount: Int {
        missing.count + unexpected.count + shapeMismatches.count + dtypeMismatches.count
    }

    /// One line: the counts and the first few keys of each kind of problem.
    public var summary: String {
        let shown = 10
        func list<T>(_ items: [T], _ describe: (T) -> String) -> String {
            let head = items.prefix(shown).map(describe).joined(separator: ", ")
            return items.count > shown ? head + ", … \(items.count - shown) more" : head
        }
        var parts: [String] = []
        if !missing.isEmpty {
            parts.append("\(missing.count) missing (\(list(missing) { "\($0.key) \($0.expectedShape)" }))")
        }
        if !unexpected.isEmpty {
            parts.append("\(unexpected.count) unexpected (\(list(unexpected) { $0 }))")
        }
        if !shapeMismatches.isEmpty {
            parts.append("\(shapeMismatches.count) shape mismatches (\(list(shapeMismatches) { "\($0.key): model \($0.expected), checkpoint \($0.found)" }))")
        }
        if !dtypeMismatches.isEmpty {
            parts.append("\(dtypeMismatches.count) dtype mismatches (\(list(dtypeMismatches) { "\($0.key): model \($0.expected), checkpoint \($0.found.rawValue)" }))")
        }
        if parts.isEmpty { return "all \(loadedCount) weights loaded" }
        return "weights do not match the model: " + parts.joined(separator: "; ")
    }

    /// Every problem, one per line, for `--verbose` style output.
    public var fullText: String {
        var lines = ["weights from \(source): \(loadedCount) loaded (\(loadedElements) values), "
                     + "\(missing.count) missing, \(unexpected.count) unexpected, "
                     + "\(shapeMismatches.count) shape mismatches, \(dtypeMismatches.count) dtype mismatches, "
                     + "\(ignored.count) ignored"]
        lines += missing.map { "  missing     \($0.key) \($0.expectedShape)" }
        lines += unexpected.map { "  unexpected  \($0)" }
        lines += shapeMismatches.map { "  shape       \($0.key): model \($0.expected), checkpoint \($0.found)" }
        lines += dtypeMismatches.map { "  dtype       \($0.key): model \($0.expected), checkpoint \($0.found.rawValue)" }
        lines += ignored.map { "  ignored     \($0.key): \($0.reason)" }
        return lines.joined(separator: "\n")
    }
}
