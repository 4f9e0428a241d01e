#ifndef VOCASEG_BF16_PACKING_H
#define VOCASEG_BF16_PACKING_H
// Conversions to bfloat16 pairs shared by the GEMM and attention kernels (x86-64 only; internal to this target).
// A "pair" is one 32-bit lane holding two bfloat16 values along the reduction axis: the low half at index 2q, the
// high half at 2q+1, which is how `vdpbf16ps` multiplies and adds them.

#include <immintrin.h>
#include <stdint.h>

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

#endif
