import Foundation
import VocaSegCheckpoint
import VocaSegCore
import VocaSegTensor

/// Where model weights come from: given a state-dict key and the shape the model expects, the tensor (float32,
/// contiguous, any shape: the loader checks it), or nil when the source has no such key.
public typealias WeightProvider = (_ key: String, _ expectedShape: [Int]) throws -> Tensor?

/// Reads a model's weights key by key and collects every problem (missing, wrong shape, unreadable, and at the
/// end unexpected keys) so that one error lists them all instead of failing on the first.
public final class WeightLoader: @unchecked Sendable {
    /// Human-readable origin for messages ("random(seed 0)" or the checkpoint path).
    public let sourceDescription: String
    /// Whether the weights are seeded random ones.
    public let isRandom: Bool
    private let provider: WeightProvider
    private let availableKeys: [String]?
    private var used = Set<String>()
    private var problems: [String] = []

    public init(source: String, isRandom: Bool = false, availableKeys: [String]? = nil,
                provider: @escaping WeightProvider) {
        self.sourceDescription = source
        self.isRandom = isRandom
        self.availableKeys = availableKeys
        self.provider = provider
    }

    public func scope(_ prefix: String) -> WeightScope { WeightScope(loader: self, prefix: prefix) }

    /// The tensor under `key` with exactly `shape`; on any problem, records it and returns zeros so that loading
    /// can go on and report everything at once (`finish()` then throws).
    public func tensor(_ key: String, shape: [Int]) -> Tensor {
        used.insert(key)
        do {
            guard let t = try provider(key, shape) else {
                problems.append("missing \(key) \(shape)")
                return Tensor(zeros: shape)
            }
            guard t.shape == shape else {
                problems.append("\(key) has shape \(t.shape), expected \(shape)")
                return Tensor(zeros: shape)
            }
            return t.contiguous()
        } catch {
            problems.append("\(key): \(error)")
            return Tensor(zeros: shape)
        }
    }

    /// Marks a key as known but deliberately unused (e.g. `logit_scale`), so it is not reported as unexpected.
    public func ignore(_ key: String) { used.insert(key) }

    /// Throws one `VocaSegError(.model)` listing the problems (first few of each kind, with counts).
    public func finish() throws {
        var all = problems
        if let availableKeys {
            let unexpected = availableKeys.filter { !used.contains($0) }
            all += unexpected.map { "unexpected key \($0)" }
        }
        guard !all.isEmpty else { return }
        let shown = all.prefix(6).joined(separator: "; ")
        let more = all.count > 6 ? " (and \(all.count - 6) more)" : ""
        throw VocaSegError(.model, "the weights do not fit the model: \(all.count) problem(s): \(shown)\(more)",
                           path: isRandom ? nil : sourceDescription)
    }
}

/// A key prefix inside a `WeightLoader`: `weights.scope("trunk").scope("stages.2")` reads
/// `<prefix>.trunk.stages.2.<name>`.
public struct WeightScope {
    let loader: WeightLoader
    public let prefix: String

    public func scope(_ name: String) -> WeightScope {
        WeightScope(loader: loader, prefix: prefix.isEmpty ? name : prefix + "." + name)
    }

    public func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "." + name }

    public func tensor(_ name: String, _ shape: [Int]) -> Tensor { loader.tensor(key(name), shape: shape) }

    public func ignore(_ name: String) { loader.ignore(key(name)) }
}

/// The two weight sources of ERR-Seg: the official detectron2 checkpoint and seeded random weights.
public enum ERRSegWeights {
    /// Every key of the model lives under this prefix in `model_final.pth`.
    public static let rootPrefix = "sem_seg_head"

    /// Weights from a `.pth` (or safetensors) file in the official key layout. Half/bfloat16 tensors widen to float32.
    public static func checkpoint(path: String) throws -> WeightLoader {
        weights(from: try CheckpointFile.open(path: path))
    }

    public static func weights(from checkpoint: Checkpoint) -> WeightLoader {
        WeightLoader(source: checkpoint.path, availableKeys: checkpoint.names) { key, _ in
            guard let record = checkpoint[key] else { return nil }
            guard record.dtype.isFloatingPoint else {
                throw VocaSegError(.model, "\(key) is \(record.dtype.rawValue), expected a floating-point tensor")
            }
            let t = Tensor(uninitializedShape: record.shape)
            record.float32(into: UnsafeMutableBufferPointer(start: t.data, count: record.elementCount))
            return t
        }
    }

    /// Seeded random weights with non-degenerate values, for pipeline and speed checks (outputs are meaningless):
    /// conv/linear weights N(0, 1/fan_in), biases N(0, 0.02), norm weights U(0.9, 1.1), layer scale U(0.1, 1),
    /// embeddings N(0, 0.02) / N(0, 0.01). Each key gets its own stream, so values do not depend on load order.
    public static func random(config: ERRSegConfig, seed: UInt64 = 0) -> WeightLoader {
        WeightLoader(source: "random(seed \(seed))", isRandom: true) { key, shape in
            randomTensor(key: key, shape: shape, seed: seed)
        }
    }

    static func randomTensor(key: String, shape: [Int], seed: UInt64) -> Tensor {
        let t = Tensor(uninitializedShape: shape)
        let n = t.count
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        enum Law { case uniform(Float, Float), normal(Float) }
        let law: Law
        if leaf == "gamma" {
            law = .uniform(0.1, 1)
        } else if leaf == "bias" || leaf == "in_proj_bias" {
            law = .normal(0.02)
        } else if leaf == "positional_embedding" {
            law = .normal(0.01)
        } else if key.hasSuffix("token_embedding.weight") {
            law = .normal(0.02)
        } else if leaf == "text_projection" {
            law = .normal(1 / Float(shape[0]).squareRoot())
        } else if shape.count == 1 {
            law = .uniform(0.9, 1.1)  // LayerNorm / GroupNorm weights
        } else if shape.isEmpty {
            law = .uniform(2.659, 2.659)  // logit_scale = log(1/0.07), unused
        } else {
            // ConvTranspose2d [in, out, k, k] with k = stride: every output sees `in` inputs.
            let transposed = key.contains("up_decoder2.up_conv") || key.contains("up_decoder3.up_conv")
            let fanIn = transposed ? shape[0] : max(1, n / shape[0])
            law = .normal(1 / Float(fanIn).squareRoot())
        }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let keySeed = h ^ (seed &* 0x9E37_79B9_7F4A_7C15)
        let chunk = 1 << 18
        let chunks = (n + chunk - 1) / chunk
        let out = t.data
        DispatchQueue.concurrentPerform(iterations: max(chunks, 1)) { c in
            var rng = SplitMix64(seed: keySeed &+ UInt64(c) &* 0xD1B5_4A32_D192_ED03)
            let start = c * chunk, end = min(n, start + chunk)
            var i = start
            while i < end {
                switch law {
                case .uniform(let lo, let hi):
                    out[i] = lo + (hi - lo) * rng.nextUnitFloat()
                    i += 1
                case .normal(let std):
                    // Box–Muller gives two normals per pair of uniforms.
                    let u1 = max(rng.nextUnitFloat(), 1e-7), u2 = rng.nextUnitFloat()
                    let r = (-2 * logf(u1)).squareRoot() * std
                    out[i] = r * cosf(2 * .pi * u2)
                    if i + 1 < end { out[i + 1] = r * sinf(2 * .pi * u2) }
                    i += 2
                }
            }
        }
        return t
    }
}

/// Small, fast, seedable generator (Steele et al.'s SplitMix64).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 random bits.
    mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
}
