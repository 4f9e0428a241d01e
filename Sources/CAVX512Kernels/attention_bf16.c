#include "vocaseg_avx512_kernels.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include "avx512_common.h"

// Query rows per step: 6 rows × 2 vectors of 16 keys (or 16 value channels) = 12 independent accumulators, enough
// to cover the dot product's latency; the rows' scores (6 × Lk floats) stay in L1 between the two products.
enum { ROWS = 6 };

// scale·K as key blocks of 16: block b, channel pair p, key lane l at (b·pairs + p)·16 + l. Keys past lk are zero.
VS_BF16_TARGET static void pack_keys(uint32_t *dst, const float *k, long ldk, long lk, long d, float scale,
                                     long blocks) {
    long pairs = (d + 1) / 2;
    memset(dst, 0, (size_t)blocks * pairs * 16 * sizeof(uint32_t));
    __m512 vs = _mm512_set1_ps(scale);
    for (long j = 0; j < lk; j++) {
        uint32_t *block = dst + (j / 16) * pairs * 16 + (j % 16);
        const float *row = k + j * ldk;
        for (long c0 = 0; c0 < d; c0 += 32) {
            __m512 lo = _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(lanes(d - c0), row + c0));
            __m512 hi = _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(lanes(d - c0 - 16), row + c0 + 16));
            long count = pairs - c0 / 2 < 16 ? pairs - c0 / 2 : 16;
            store_strided(block + (c0 / 2) * 16, 16, (__m512i)_mm512_cvtne2ps_pbh(hi, lo), count);
        }
    }
}

// V as key pairs: pair q, channel c at q·dv + c holds (V[2q][c], V[2q+1][c]); keys past lk are zero.
VS_BF16_TARGET static void pack_values(uint32_t *dst, const float *v, long ldv, long lk, long dv, long key_pairs) {
    for (long q = 0; q < key_pairs; q++) {
        const float *row0 = 2 * q < lk ? v + 2 * q * ldv : NULL;
        const float *row1 = 2 * q + 1 < lk ? v + (2 * q + 1) * ldv : NULL;
        for (long c0 = 0; c0 < dv; c0 += 16) {
            __m512i pair = row0 ? pairs_across(row0 + c0, row1 ? row1 + c0 : NULL, 16) : _mm512_setzero_si512();
            _mm512_storeu_si512(dst + q * dv + c0, pair);
        }
    }
}

// Scores of ROWS query rows (as channel pairs `qp`, `pairs` per row) against all key blocks (an even count),
// padding keys at −∞, into s (row stride ld); each row's maximum into row_max.
VS_BF16_TARGET static void scores(const uint32_t *qp, long pairs, const uint32_t *keys, long blocks, long lk,
                                  float *s, long ld, float *row_max) {
    __m512 ninf = _mm512_set1_ps(-__builtin_inff());
    __m512 mx[ROWS];
    for (int r = 0; r < ROWS; r++) mx[r] = ninf;
    for (long b = 0; b < blocks; b += 2) {
        const uint32_t *k0 = keys + b * pairs * 16, *k1 = k0 + pairs * 16;
        __m512 acc[ROWS][2];
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        for (long p = 0; p < pairs; p++) {
            __m512bh kv0 = (__m512bh)_mm512_load_si512(k0 + p * 16), kv1 = (__m512bh)_mm512_load_si512(k1 + p * 16);
#pragma clang loop unroll(full)
            for (int r = 0; r < ROWS; r++) {
                __m512bh qv = (__m512bh)_mm512_set1_epi32((int)qp[r * pairs + p]);
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], qv, kv0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], qv, kv1);
            }
        }
        __mmask16 valid0 = lanes(lk - b * 16), valid1 = lanes(lk - b * 16 - 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) {
            __m512 a0 = _mm512_mask_blend_ps(valid0, ninf, acc[r][0]);
            __m512 a1 = _mm512_mask_blend_ps(valid1, ninf, acc[r][1]);
            mx[r] = _mm512_max_ps(mx[r], _mm512_max_ps(a0, a1));
            _mm512_storeu_ps(s + r * ld + b * 16, a0);
            _mm512_storeu_ps(s + r * ld + b * 16 + 16, a1);
        }
    }
    for (int r = 0; r < ROWS; r++) row_max[r] = _mm512_reduce_max_ps(mx[r]);
}

// exp(s − max) for one row: the fp32 sum (padding keys contribute exactly 0) and the probabilities as key pairs.
VS_BF16_TARGET static float softmax_row(const float *s, long blocks, long lk, float row_max, uint32_t *probs) {
    __m512 m = _mm512_set1_ps(row_max), sum = _mm512_setzero_ps();
    for (long b = 0; b < blocks; b += 2) {
        __m512 e0 = _mm512_maskz_mov_ps(lanes(lk - b * 16), exp_ps(_mm512_sub_ps(_mm512_loadu_ps(s + b * 16), m)));
        __m512 e1 = _mm512_maskz_mov_ps(lanes(lk - b * 16 - 16),
                                        exp_ps(_mm512_sub_ps(_mm512_loadu_ps(s + b * 16 + 16), m)));
        sum = _mm512_add_ps(sum, _mm512_add_ps(e0, e1));
        _mm512_storeu_si512(probs + b * 8, (__m512i)_mm512_cvtne2ps_pbh(e1, e0));
    }
    return _mm512_reduce_add_ps(sum);
}

// out[r][c] = inverse[r] · Σ_q probs[r][q] · values[q][c] for the valid rows, 32 or 16 channels at a time.
VS_BF16_TARGET static void weighted_values(const uint32_t *probs, long key_pairs, const uint32_t *values, long dv,
                                           const float *inverse, float *out, long ldo, long valid_rows) {
    long c0 = 0;
    for (; c0 + 32 <= dv; c0 += 32) {
        __m512 acc[ROWS][2];
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
        for (long q = 0; q < key_pairs; q++) {
            __m512bh v0 = (__m512bh)_mm512_loadu_si512(values + q * dv + c0);
            __m512bh v1 = (__m512bh)_mm512_loadu_si512(values + q * dv + c0 + 16);
#pragma clang loop unroll(full)
            for (int r = 0; r < ROWS; r++) {
                __m512bh pv = (__m512bh)_mm512_set1_epi32((int)probs[r * key_pairs + q]);
                acc[r][0] = _mm512_dpbf16_ps(acc[r][0], pv, v0);
                acc[r][1] = _mm512_dpbf16_ps(acc[r][1], pv, v1);
            }
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) {
            if (r < valid_rows) {
                __m512 inv = _mm512_set1_ps(inverse[r]);
                _mm512_storeu_ps(out + r * ldo + c0, _mm512_mul_ps(acc[r][0], inv));
                _mm512_storeu_ps(out + r * ldo + c0 + 16, _mm512_mul_ps(acc[r][1], inv));
            }
        }
    }
    if (c0 < dv) {  // dv % 32 == 16: one last 16-channel slab
        __m512 acc[ROWS];
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) acc[r] = _mm512_setzero_ps();
        for (long q = 0; q < key_pairs; q++) {
            __m512bh v0 = (__m512bh)_mm512_loadu_si512(values + q * dv + c0);
#pragma clang loop unroll(full)
            for (int r = 0; r < ROWS; r++)
                acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_set1_epi32((int)probs[r * key_pairs + q]), v0);
        }
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++)
            if (r < valid_rows) _mm512_storeu_ps(out + r * ldo + c0, _mm512_mul_ps(acc[r], _mm512_set1_ps(inverse[r])));
    }
}

VS_BF16_TARGET static void attention(long rows, long lk, long d, long dv, float scale, const float *q, long ldq,
                                     const float *k, long ldk, const float *v, long ldv, float *out, long ldo,
                                     uint32_t *keys, uint32_t *values, float *s, uint32_t *probs, uint32_t *qp,
                                     long blocks) {
    long pairs = (d + 1) / 2, key_pairs = blocks * 8, ld = blocks * 16;
    pack_keys(keys, k, ldk, lk, d, scale, blocks);
    pack_values(values, v, ldv, lk, dv, key_pairs);
    float row_max[ROWS], inverse[ROWS];
    for (long i = 0; i < rows; i += ROWS) {
        long valid = rows - i < ROWS ? rows - i : ROWS;
        // Query rows as channel pairs; rows past the end are zero (their results are computed and dropped).
        for (long r = 0; r < ROWS; r++) {
            for (long c0 = 0; c0 < d; c0 += 32) {
                long count = pairs - c0 / 2 < 16 ? pairs - c0 / 2 : 16;
                __m512i pair = r < valid ? pairs_along(q + (i + r) * ldq + c0, d - c0) : _mm512_setzero_si512();
                _mm512_mask_storeu_epi32(qp + r * pairs + c0 / 2, lanes(count), pair);
            }
        }
        scores(qp, pairs, keys, blocks, lk, s, ld, row_max);
        for (long r = 0; r < ROWS; r++)
            inverse[r] = 1.0f / softmax_row(s + r * ld, blocks, lk, row_max[r], probs + r * key_pairs);
        weighted_values(probs, key_pairs, values, dv, inverse, out + i * ldo, ldo, valid);
    }
}

int vs_attention_bf16(long rows, long lk, long d, long dv, float scale, const float *q, long ldq, const float *k,
                      long ldk, const float *v, long ldv, float *out, long ldo) {
    if (rows < 0 || lk < 1 || d < 1 || dv < 16 || dv % 16 != 0 || ldq < d || ldk < d || ldv < dv || ldo < dv)
        return -2;
    if (!vs_gemm_bf16_available()) return -1;
    if (rows == 0) return 0;
    long blocks = ((lk + 15) / 16 + 1) / 2 * 2;  // key blocks of 16, an even count (scores runs two at a time)
    long pairs = (d + 1) / 2, key_pairs = blocks * 8;
    size_t lanes_needed = (size_t)blocks * pairs * 16 + (size_t)key_pairs * dv + (size_t)ROWS * blocks * 16 +
                          (size_t)ROWS * key_pairs + (size_t)ROWS * pairs + 64;
    uint32_t *scratch = aligned_alloc(64, (lanes_needed * sizeof(uint32_t) + 63) / 64 * 64);
    if (!scratch) return -3;
    uint32_t *keys = scratch;                                   // 64-byte aligned: the key blocks are loaded aligned
    uint32_t *values = keys + (size_t)blocks * pairs * 16;
    float *s = (float *)(values + (size_t)key_pairs * dv);
    uint32_t *probs = (uint32_t *)(s + (size_t)ROWS * blocks * 16);
    uint32_t *qp = probs + (size_t)ROWS * key_pairs;
    attention(rows, lk, d, dv, scale, q, ldq, k, ldk, v, ldv, out, ldo, keys, values, s, probs, qp, blocks);
    free(scratch);
    return 0;
}

#else

int vs_attention_bf16(long rows, long lk, long d, long dv, float scale, const float *q, long ldq, const float *k,
                      long ldk, const float *v, long ldv, float *out, long ldo) {
    (void)rows; (void)lk; (void)d; (void)dv; (void)scale; (void)q; (void)ldq; (void)k; (void)ldk; (void)v;
    (void)ldv; (void)out; (void)ldo;
    return -1;
}

#endif
