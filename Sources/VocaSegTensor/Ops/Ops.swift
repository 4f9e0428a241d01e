/// Namespace for the engine's operators. Each op family lives in its own file as an `extension Ops`
/// (MatMul, Conv2d, Depthwise, ConvTranspose2d, Norms, Activations, Elementwise, …).
///
/// Conventions shared by all ops:
/// - Inputs are float32 `Tensor`s; kernels that need contiguous row-major data call `contiguous()` themselves
///   (a no-op when already contiguous), so strided views are accepted everywhere but may cost a copy.
/// - Outputs are freshly allocated unless an `out:` tensor is passed (then it must be contiguous, of the right
///   shape, and must not alias an input unless the op says in-place is allowed).
/// - GEMMs run on OpenBLAS's own threads; every other kernel splits its work with `DispatchQueue.concurrentPerform`
///   into a few chunks per `ParallelConfig.threads`, and never calls BLAS from inside a chunk.
public enum Ops {}
