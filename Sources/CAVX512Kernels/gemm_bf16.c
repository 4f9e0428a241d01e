#include "vocaseg_avx512_kernels.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

#include "avx512_common.h"

int vs_gemm_bf16_available(void) {
    // __builtin_cpu_supports also checks that the OS saves the ZMM and opmask state (XGETBV), not only CPUID.
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bf16");
}

// Blocking, BLIS style. The operands are packed as pairs of bfloat16 along k (one 32-bit lane holds the values at k
// and k+1), the unit `vdpbf16ps` multiplies: for every output lane it adds a[k]·b[k] + a[k+1]·b[k+1] in float32.
//   micro-tile  MR rows × NR columns of C in 24 ZMM accumulators (12 rows × 2 vectors of 16 columns);
//   KC          k values per packed block: a 32-column sliver of B is KC/2 × 32 lanes = 16 KiB, half of L1;
//   MC          rows of the packed A block (MC × KC bf16 = 192 KiB) that stays in L2 while B's slivers pass;
//   NC          columns of the packed B block (KC × NC bf16 = 1.5 MiB), in L3.
enum { MR = 12, NR = 32, KC = 256, MC = 384, NC = 3072 };

// One row of `len` contiguous k values → `pairs` lanes at dst[q·stride] (the tail past `len` zero).
VS_BF16_TARGET static void pack_run(uint32_t *dst, long stride, const float *src, long len, long pairs) {
    for (long q0 = 0; q0 < pairs; q0 += 16) {
        long k0 = 2 * q0;
        long count = pairs - q0 < 16 ? pairs - q0 : 16;
        store_strided(dst + q0 * stride, stride, pairs_along(src + k0, len - k0), count);
    }
}

// Block of B, k in [0, kc), columns [0, nc), into slivers of NR columns: sliver s, pair q, column c at
// ((s·pairs) + q)·NR + c. Columns past nc are zero.
VS_BF16_TARGET static void pack_b(uint32_t *dst, int trans, const float *b, long ldb, long kc, long nc) {
    long pairs = (kc + 1) / 2;
    for (long s0 = 0; s0 < nc; s0 += NR) {
        long width = nc - s0 < NR ? nc - s0 : NR;
        uint32_t *sliver = dst + (s0 / NR) * pairs * NR;
        if (!trans) {  // B(k, n) = b[k·ldb + n]: rows k contiguous over n
            for (long q = 0; q < pairs; q++) {
                const float *row0 = b + 2 * q * ldb + s0;
                const float *row1 = 2 * q + 1 < kc ? row0 + ldb : NULL;
                _mm512_storeu_si512(sliver + q * NR, pairs_across(row0, row1, width));
                _mm512_storeu_si512(sliver + q * NR + 16,
                                    width > 16 ? pairs_across(row0 + 16, row1 ? row1 + 16 : NULL, width - 16)
                                               : _mm512_setzero_si512());
            }
        } else {       // B(k, n) = b[n·ldb + k]: column n contiguous over k
            for (long c = 0; c < NR; c++) {
                if (c < width) {
                    pack_run(sliver + c, NR, b + (s0 + c) * ldb, kc, pairs);
                } else {
                    for (long q = 0; q < pairs; q++) sliver[q * NR + c] = 0;
                }
            }
        }
    }
}

// Block of A, rows [0, mc), k in [0, kc), into slivers of MR rows: sliver s, pair q, row r at ((s·pairs) + q)·MR + r.
// Rows past mc are zero.
VS_BF16_TARGET static void pack_a(uint32_t *dst, int trans, const float *a, long lda, long mc, long kc) {
    long pairs = (kc + 1) / 2;
    for (long s0 = 0; s0 < mc; s0 += MR) {
        long height = mc - s0 < MR ? mc - s0 : MR;
        uint32_t *sliver = dst + (s0 / MR) * pairs * MR;
        if (!trans) {  // A(i, k) = a[i·lda + k]: row i contiguous over k
            for (long r = 0; r < MR; r++) {
                if (r < height) {
                    pack_run(sliver + r, MR, a + (s0 + r) * lda, kc, pairs);
                } else {
                    for (long q = 0; q < pairs; q++) sliver[q * MR + r] = 0;
                }
            }
        } else {       // A(i, k) = a[k·lda + i]: row k contiguous over i
            for (long q = 0; q < pairs; q++) {
                const float *row0 = a + 2 * q * lda + s0;
                const float *row1 = 2 * q + 1 < kc ? row0 + lda : NULL;
                // MR = 12 lanes: a full 16-lane store would run into the next pair's lanes (or past the buffer).
                _mm512_mask_storeu_epi32(sliver + q * MR, lanes(MR), pairs_across(row0, row1, height));
            }
        }
    }
}

// C tile (mr ≤ MR rows, nr ≤ NR columns) = act(alpha · Apanel · Bpanel + beta · C + bias); C is not read when
// beta == 0; `bias` (the tile's NR columns) and `gelu` are passed for the last k block only.
VS_BF16_TARGET static void micro_kernel(long pairs, const uint32_t *ap, const uint32_t *bp, float *c, long ldc,
                                        long mr, long nr, float alpha, float beta, const float *bias, int gelu) {
    __m512 acc[MR][2];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        acc[r][0] = _mm512_setzero_ps();
        acc[r][1] = _mm512_setzero_ps();
    }
    for (long q = 0; q < pairs; q++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp);
        __m512bh b1 = (__m512bh)_mm512_load_si512(bp + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[r]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
        ap += MR;
        bp += NR;
    }
    __mmask16 m0 = lanes(nr), m1 = lanes(nr - 16);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
    // Constant row indices after unrolling keep the accumulators in registers; `r < mr` only gates the stores.
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) {
        if (r < mr) {
            float *row = c + r * ldc;
            __m512 v0 = _mm512_mul_ps(va, acc[r][0]), v1 = _mm512_mul_ps(va, acc[r][1]);
            if (beta != 0) {
                v0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), v0);
                v1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), v1);
            }
            if (bias) {
                v0 = _mm512_add_ps(v0, bias0);
                v1 = _mm512_add_ps(v1, bias1);
            }
            if (gelu) {  // while the tile is in registers: no second pass over C
                v0 = gelu16(v0);
                v1 = gelu16(v1);
            }
            _mm512_mask_storeu_ps(row, m0, v0);
            _mm512_mask_storeu_ps(row + 16, m1, v1);
        }
    }
}

// Packing buffers, kept per thread and reused across calls (the engine's GEMM workers are long-lived threads), and
// freed by the thread-exit destructor of a pthread key (Dispatch retires idle workers; a plain thread-local pointer
// would leak their buffers).
typedef struct {
    uint32_t *a, *b;
} packing_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p) {
    packing_scratch *s = p;
    free(s->a);
    free(s->b);
    free(s);
}

static void scratch_key_create(void) { (void)pthread_key_create(&scratch_key, scratch_free); }

// This thread's buffers (MC × KC/2 and NC × KC/2 lanes, 64-byte aligned), or NULL when memory runs out.
static packing_scratch *thread_scratch(void) {
    pthread_once(&scratch_once, scratch_key_create);
    packing_scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (!s->a) s->a = aligned_alloc(64, (size_t)MC * (KC / 2) * sizeof(uint32_t));
    if (!s->b) s->b = aligned_alloc(64, (size_t)NC * (KC / 2) * sizeof(uint32_t));
    return s->a && s->b ? s : NULL;
}

// Lanes of one packed B block: whole slivers of NR columns × pairs of k.
static long packed_block_lanes(long kc, long nc) { return (nc + NR - 1) / NR * NR * ((kc + 1) / 2); }

// B packed block by block in the order `gemm_blocked` visits them (column blocks of NC, then k blocks of KC).
long vs_bf16_packed_b_lanes(long k, long n) {
    long lanes_total = 0;
    for (long jc = 0; jc < n; jc += NC)
        for (long pc = 0; pc < k; pc += KC)
            lanes_total += packed_block_lanes(k - pc < KC ? k - pc : KC, n - jc < NC ? n - jc : NC);
    return lanes_total;
}

VS_BF16_TARGET static void pack_b_all(int tb, long k, long n, const float *b, long ldb, uint32_t *dst) {
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC;
            pack_b(dst, tb, tb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc);
            dst += packed_block_lanes(kc, nc);
        }
    }
}

// With `prepacked` (from vs_bf16_pack_b) B is read from there; otherwise each block is packed into scratch.
// `bias` (n values, or NULL) and `gelu` apply to the finished sums.
VS_BF16_TARGET static void gemm_blocked(int ta, int tb, long m, long n, long k, float alpha, const float *a, long lda,
                                        const float *b, long ldb, const uint32_t *prepacked, float beta, float *c,
                                        long ldc, const float *bias, int gelu, packing_scratch *scratch) {
    uint32_t *packed_a = scratch->a, *packed_b = scratch->b;
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC, pairs = (kc + 1) / 2;
            const uint32_t *block_b = prepacked;
            if (prepacked) {
                prepacked += packed_block_lanes(kc, nc);
            } else {
                pack_b(packed_b, tb, tb ? b + jc * ldb + pc : b + pc * ldb + jc, ldb, kc, nc);
                block_b = packed_b;
            }
            // The first k block applies the caller's beta; later ones add to what the earlier ones wrote.
            float block_beta = pc == 0 ? beta : 1.0f;
            int last = pc + kc >= k;
            for (long ic = 0; ic < m; ic += MC) {
                long mc = m - ic < MC ? m - ic : MC;
                pack_a(packed_a, ta, ta ? a + pc * lda + ic : a + ic * lda + pc, lda, mc, kc);
                for (long jr = 0; jr < nc; jr += NR) {
                    long nr = nc - jr < NR ? nc - jr : NR;
                    for (long ir = 0; ir < mc; ir += MR) {
                        long mr = mc - ir < MR ? mc - ir : MR;
                        micro_kernel(pairs, packed_a + (ir / MR) * pairs * MR, block_b + (jr / NR) * pairs * NR,
                                     c + (ic + ir) * ldc + jc + jr, ldc, mr, nr, alpha, block_beta,
                                     last && bias ? bias + jc + jr : NULL, last && gelu);
                    }
                }
            }
        }
    }
}

int vs_gemm_bf16(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc) {
    if (m < 0 || n < 0 || k < 0) return -2;
    if (lda < (trans_a ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) || ldb < (trans_b ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) ||
        ldc < (n > 1 ? n : 1))
        return -2;
    if (!vs_gemm_bf16_available()) return -1;
    if (m == 0 || n == 0) return 0;
    if (k == 0) {  // no products: C = beta · C, without reading C when beta is 0
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return 0;
    }
    packing_scratch *scratch = thread_scratch();
    if (!scratch) return -3;
    gemm_blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, NULL, beta, c, ldc, NULL, 0, scratch);
    return 0;
}

int vs_bf16_pack_b(int trans_b, long k, long n, const float *b, long ldb, uint32_t *dst) {
    if (k < 0 || n < 0 || ldb < (trans_b ? (k > 1 ? k : 1) : (n > 1 ? n : 1))) return -2;
    if (!vs_gemm_bf16_available()) return -1;
    pack_b_all(trans_b, k, n, b, ldb, dst);
    return 0;
}

int vs_gemm_bf16_prepacked(int trans_a, long m, long n, long k, const float *a, long lda, const uint32_t *packed,
                           float beta, const float *bias, int activation, float *c, long ldc) {
    if (m < 0 || n < 0 || k < 1 || lda < (trans_a ? (m > 1 ? m : 1) : k) || ldc < (n > 1 ? n : 1)) return -2;
    if (activation != VS_ACTIVATION_IDENTITY && activation != VS_ACTIVATION_GELU) return -2;
    if (!vs_gemm_bf16_available()) return -1;
    if (m == 0 || n == 0) return 0;
    packing_scratch *scratch = thread_scratch();
    if (!scratch) return -3;
    gemm_blocked(trans_a, 0, m, n, k, 1.0f, a, lda, NULL, 0, packed, beta, c, ldc, bias,
                 activation == VS_ACTIVATION_GELU, scratch);
    return 0;
}

#else

int vs_gemm_bf16_available(void) { return 0; }
long vs_bf16_packed_b_lanes(long k, long n) { (void)k; (void)n; return 0; }
int vs_bf16_pack_b(int trans_b, long k, long n, const float *b, long ldb, uint32_t *dst) {
    (void)trans_b; (void)k; (void)n; (void)b; (void)ldb; (void)dst;
    return -1;
}
int vs_gemm_bf16_prepacked(int trans_a, long m, long n, long k, const float *a, long lda, const uint32_t *packed,
                           float beta, const float *bias, int activation, float *c, long ldc) {
    (void)trans_a; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)packed; (void)beta; (void)bias;
    (void)activation; (void)c; (void)ldc;
    return -1;
}

int vs_gemm_bf16(int trans_a, int trans_b, long m, long n, long k, float alpha, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc) {
    (void)trans_a; (void)trans_b; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda; (void)b; (void)ldb;
    (void)beta; (void)c; (void)ldc;
    return -1;
}

#endif
