#include "vocaseg_avx512_kernels.h"

#if defined(__x86_64__)
#include "avx512_common.h"

int vs_avx512_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}

VS_AVX512_TARGET static void gelu(const float *src, const float *bias, float *dst, long count) {
    for (long i = 0; i < count; i += 16) {
        __mmask16 m = count - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (count - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(m, src + i);
        if (bias) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, bias + i));
        _mm512_mask_storeu_ps(dst + i, m, gelu16(x));
    }
}

void vs_gelu_avx512(const float *src, const float *bias, float *dst, long count) {
    if (count > 0 && vs_avx512_available()) gelu(src, bias, dst, count);
}

#else

int vs_avx512_available(void) { return 0; }
void vs_gelu_avx512(const float *src, const float *bias, float *dst, long count) {
    (void)src; (void)bias; (void)dst; (void)count;
}

#endif
