#include "vocaseg_cpu_features.h"

int vs_cpu_supports_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports reads CPUID once (libgcc/compiler-rt keep the result) and also checks that the OS
    // enabled the YMM state (XGETBV), which a CPUID bit alone does not say.
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    // Other architectures do not build the x86 kernels at all.
    return 1;
#endif
}
