#ifndef VOCASEG_BF16_PACKING_H
#define VOCASEG_BF16_PACKING_H
// Vector helpers shared by this target's kernels (x86-64 only; internal): e^x and GELU on 16 lanes, and the
// conversions to bfloat16 pairs of the GEMM and attention kernels.
// A "pair" is one 32-bit lane holding two bfloat16 values along the reduction axis: the low half at index 2q, the
// high half at 2q+1, which is how `vdpbf16ps` multiplies and adds them.

#include <immintrin.h>
#include <stdint.h>

#define VS_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define VS_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// Lanes `count` (0…16) of a 16-lane mask.
static inline __mmask16 lanes(long count) {
    return count >= 16 ? (__mmask16)0xffff : (count <= 0 ? (__mmask16)0 : (__mmask16)((1u << count) - 1));
}

// Pairs along a contiguous run: src[0..<len] (len ≤ 32 here) → lane q = (src[2q], src[2q+1]) for q < 16, the
// element past `len` read as zero. Returns the 16 lanes.
VS_BF16_TARGET static inline __m512i pairs_along(const float *src, long len) {
    __m512 lo = _mm512_maskz_loadu_ps(lanes(len), src);
    __m512 hi = _mm512_maskz_loadu_ps(lanes(len - 16), src + 16);
    // Words 0…15 come from `lo`, 16…31 from `hi`: in memory order, which is the pair order we need.
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

// Pairs across two rows: lane j = (row0[j], row1[j]) for j < width ≤ 16; row1 may be NULL (odd k: zero).
VS_BF16_TARGET static inline __m512i pairs_across(const float *row0, const float *row1, long width) {
    static const uint16_t interleave[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                            8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    __mmask16 mask = lanes(width);
    __m512 v0 = _mm512_maskz_loadu_ps(mask, row0);
    __m512 v1 = row1 ? _mm512_maskz_loadu_ps(mask, row1) : _mm512_setzero_ps();
    __m512i words = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);  // words 0…15 = row0, 16…31 = row1
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(interleave), words);
}

// Writes the 16 lanes of `v` to dst[0], dst[stride], dst[2·stride], … (first `count` lanes).
VS_BF16_TARGET static inline void store_strided(uint32_t *dst, long stride, __m512i v, long count) {
    if (stride == 1) {
        _mm512_mask_storeu_epi32(dst, lanes(count), v);
        return;
    }
    uint32_t tmp[16];
    _mm512_storeu_si512(tmp, v);
    for (long q = 0; q < count; q++) dst[q * stride] = tmp[q];
}

// e^x, Cephes' single-precision polynomial on the reduced argument and AVX-512's scalef for the 2^n; ~2 ulp.
// x ≤ −104 gives 0; NaN stays NaN.
VS_AVX512_TARGET static inline __m512 exp_ps(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);  // max(c, NaN) is NaN: the second operand wins
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

// GELU, exact erf form 0.5·x·(1 + erf(x/√2)); erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7), as the
// engine's AVX2 path.
VS_AVX512_TARGET static inline __m512 gelu16(__m512 x) {
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.7071067811865475f));
    // |z| ≥ 10 has erf = ±1 in float; the clamp keeps 1/(1 + p·|z|) finite for infinite inputs.
    __m512 az = _mm512_min_ps(_mm512_abs_ps(z), _mm512_set1_ps(10.0f));
    // t = 1/(1 + p·|z|): the hardware reciprocal estimate (14 bits) and one Newton step (~28 bits).
    __m512 den = _mm512_fmadd_ps(az, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f));
    __m512 t = _mm512_rcp14_ps(den);
    t = _mm512_mul_ps(t, _mm512_fnmadd_ps(den, t, _mm512_set1_ps(2.0f)));
    __m512 poly = _mm512_set1_ps(1.061405429f);
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-1.453152027f));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(1.421413741f));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(-0.284496736f));
    poly = _mm512_fmadd_ps(poly, t, _mm512_set1_ps(0.254829592f));
    __m512 e = exp_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), az), az));
    __m512 magnitude = _mm512_fnmadd_ps(_mm512_mul_ps(poly, t), e, _mm512_set1_ps(1.0f));
    // erf has z's sign: copy the sign bit of z onto the magnitude.
    __m512 sign = _mm512_and_ps(z, _mm512_castsi512_ps(_mm512_set1_epi32((int)0x80000000u)));
    __m512 erf = _mm512_or_ps(magnitude, sign);
    __m512 half = _mm512_mul_ps(x, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(half, erf, half);
}

#endif
