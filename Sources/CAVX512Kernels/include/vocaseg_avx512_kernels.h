#ifndef VOCASEG_AVX512_KERNELS_H
#define VOCASEG_AVX512_KERNELS_H

// AVX-512 kernels, chosen at run time: matrix products and attention with bfloat16 inputs and float32 accumulation
// (`--precision bf16`, AVX512_BF16), and element-wise activations on 16 lanes (AVX512F).
//
// The inputs stay float32 in memory; each call rounds them to bfloat16 (round to nearest even, as the hardware
// conversion and PyTorch's `.to(torch.bfloat16)` do) while packing them into the layout the AVX512_BF16 dot-product
// instruction reads, then accumulates in float32. The code is compiled for the AVX512_BF16 target only inside the
// kernel functions, so the library loads on any x86-64 CPU; callers must check `vs_gemm_bf16_available()` first.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// 1 when this CPU and OS can run the kernels (AVX512F, AVX512BW, AVX512VL and AVX512_BF16, with the ZMM state
// enabled by the OS); 0 otherwise, and always 0 on other architectures. Reads CPUID once.
int vs_gemm_bf16_available(void);

// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major with explicit leading dimensions, op(X) = X or Xᵀ.
// With beta == 0, C is written without being read (it may hold anything, NaN included).
// Single-threaded; callers split the work into bands of rows or columns.
// Returns 0 on success, -1 when the kernels are unavailable, -2 when the sizes are negative or a leading dimension
// is too small, -3 when scratch memory could not be allocated (C is untouched in all three cases).
int vs_gemm_bf16(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc);

// A constant B (a layer's weight) packed once for `vs_gemm_bf16_prepacked`: op(B) is k×n, op(B) = B or Bᵀ as
// `trans_b` says. `dst` holds `vs_bf16_packed_b_lanes(k, n)` 32-bit lanes, 64-byte aligned. Returns 0, or -1 / -2
// as `vs_gemm_bf16`.
long vs_bf16_packed_b_lanes(long k, long n);
int vs_bf16_pack_b(int trans_b, long k, long n, const float *b, long ldb, uint32_t *dst);

enum { VS_ACTIVATION_IDENTITY = 0, VS_ACTIVATION_GELU = 1 };

// C[m×n] = act(op(A) · B + beta · C + bias) with B packed by `vs_bf16_pack_b` for the same k and n (k ≥ 1);
// `bias` holds n values or is NULL; `activation` is VS_ACTIVATION_IDENTITY or VS_ACTIVATION_GELU (the exact erf
// form, as vs_gelu_avx512), applied to each tile of C while it is in registers. Single-threaded.
int vs_gemm_bf16_prepacked(int trans_a, long m, long n, long k, const float *a, long lda, const uint32_t *packed,
                           float beta, const float *bias, int activation, float *c, long ldc);

// One head of unmasked attention with bf16 products: out[i] = softmax(scale · q[i]·Kᵀ) · V for `rows` query rows,
// `lk` keys, `d` channels per query/key and `dv` (a multiple of 16) per value; row i of q at q + i·ldq, and so on.
// Scores and the softmax are fp32; the query, scale·key, probability and value inputs of the two products are
// rounded to bfloat16. Single-threaded. Returns 0, -1 (kernels unavailable), -2 (bad sizes) or -3 (no memory).
int vs_attention_bf16(long rows, long lk, long d, long dv, float scale, const float *q, long ldq, const float *k,
                      long ldk, const float *v, long ldv, float *out, long ldo);

// 1 when this CPU and OS run AVX512F/BW/VL/DQ code (ZMM state enabled); 0 otherwise and on other architectures.
int vs_avx512_available(void);

// dst[i] = GELU(src[i] + (bias ? bias[i] : 0)), the exact erf form 0.5·x·(1 + erf(x/√2)) with the same erf
// approximation as the engine's AVX2 path (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7). dst may equal src.
// Needs vs_avx512_available(); does nothing otherwise.
void vs_gelu_avx512(const float *src, const float *bias, float *dst, long count);

#ifdef __cplusplus
}
#endif
#endif
