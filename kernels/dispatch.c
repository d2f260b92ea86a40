/* Run-time choice of the kernel path: detected once from CPUID (x86) or getauxval (ARM),
 * overridable with EDGETUNE_ISA.  Every kernel entry point asks et_kern_isa(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"

static const char *const et__isa_names[ET_ISA_COUNT] = {
    [ET_ISA_REF] = "ref", [ET_ISA_AVX2] = "avx2", [ET_ISA_AVX512] = "avx512",
    [ET_ISA_AVX512VNNI] = "avx512vnni", [ET_ISA_AVX512BF16] = "avx512bf16",
    [ET_ISA_NEON] = "neon", [ET_ISA_NEON_DOTPROD] = "neon-dotprod",
    [ET_ISA_NEON_I8MM] = "neon-i8mm",
};

const char *et_isa_name(et_isa isa) { return isa < ET_ISA_COUNT ? et__isa_names[isa] : "?"; }

/* Paths are ordered: each x86 path implies the ones before it, likewise on ARM. */
static bool et__cpu_has(et_isa isa) {
    if (isa == ET_ISA_REF) return true;
#if defined(__x86_64__)
    __builtin_cpu_init();
    switch (isa) {
    case ET_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case ET_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    case ET_ISA_AVX512VNNI: return et__cpu_has(ET_ISA_AVX512) && __builtin_cpu_supports("avx512vnni");
    case ET_ISA_AVX512BF16:
        return et__cpu_has(ET_ISA_AVX512VNNI) && __builtin_cpu_supports("avx512bf16");
    default: return false;
    }
#elif defined(__aarch64__)
    return isa == ET_ISA_NEON;  /* dotprod / i8mm detection: kernels issue */
#else
    return false;
#endif
}

et_isa et_kern_isa_best(void) {
    et_isa best = ET_ISA_REF;
    for (int i = 1; i < ET_ISA_COUNT; i++)
        if (et__cpu_has((et_isa)i)) best = (et_isa)i;
    return best;
}

static int et__isa = -1;

et_isa et_kern_isa(void) {
    if (et__isa < 0) {
        et_isa isa = et_kern_isa_best();
        const char *env = getenv("EDGETUNE_ISA");
        if (env && *env) {
            int found = -1;
            for (int i = 0; i < ET_ISA_COUNT; i++)
                if (strcmp(env, et__isa_names[i]) == 0) found = i;
            if (found < 0)
                fprintf(stderr, "edgetune: EDGETUNE_ISA=%s is not a known path; using %s\n", env,
                        et_isa_name(isa));
            else if (!et__cpu_has((et_isa)found))
                fprintf(stderr, "edgetune: EDGETUNE_ISA=%s is not supported by this CPU; using %s\n",
                        env, et_isa_name(isa));
            else
                isa = (et_isa)found;
        }
        et__isa = (int)isa;
    }
    return (et_isa)et__isa;
}

bool et_kern_set_isa(et_isa isa) {
    if (isa >= ET_ISA_COUNT || !et__cpu_has(isa)) return false;
    et__isa = (int)isa;
    return true;
}
