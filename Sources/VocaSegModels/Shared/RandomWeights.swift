import Foundation
import VocaSegCore
import VocaSegTensor

/// Seeded random weights with non-degenerate values, for pipeline and speed checks of any family (outputs are
/// meaningless): conv/linear weights N(0, 1/fan_in), biases N(0, 0.02), norm weights U(0.9, 1.1), layer scale
/// U(0.1, 1), embeddings N(0, 0.02) / N(0, 0.01). Each key gets its own stream (FNV-1a of the key), so values do
/// not depend on load order.
public enum RandomWeights {
    /// `transposedConvolutions`: key fragments of ConvTranspose2d weights [in, out, k, k], whose fan-in is `in`.
    public static func loader(seed: UInt64, transposedConvolutions: [String] = []) -> WeightLoader {
        WeightLoader(source: "random(seed \(seed))", isRandom: true) { key, shape in
            tensor(key: key, shape: shape, seed: seed, transposedConvolutions: transposedConvolutions)
        }
    }

    static func tensor(key: String, shape: [Int], seed: UInt64, transposedConvolutions: [String]) -> Tensor {
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
            let transposed = transposedConvolutions.contains { key.contains($0) }
            let fanIn = transposed ? shape[0] : max(1, n / shape[0])
            law = .normal(1 / Float(fanIn).squareRoot())
        }
        var fnv = FNV1a64()
        fnv.add(key)
        let keySeed = fnv.value ^ (seed &* 0x9E37_79B9_7F4A_7C15)
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
