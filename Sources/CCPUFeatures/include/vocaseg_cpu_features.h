#ifndef VOCASEG_CPU_FEATURES_H
#define VOCASEG_CPU_FEATURES_H
// 1 when this CPU (and the OS, which must save the AVX registers) can run the AVX2 + FMA code the tensor kernels
// are compiled for; 0 otherwise. Compiled for the x86-64 baseline, so it runs anywhere.
int vs_cpu_supports_avx2_fma(void);
#endif
