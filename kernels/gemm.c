/* f32 GEMM entry points.  et_sgemm() is the one the engine calls: OpenBLAS (OpenMP build)
 * when linked, else the engine's own GEMM.  Both are row-major with cblas_sgemm's contract.
 * BLAS must never be called from inside an OpenMP parallel region: OpenBLAS-OpenMP shares
 * libgomp's pool with our kernels, and nesting would oversubscribe the cores. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "kernels.h"
#include "ref/ref.h"
#ifdef ET_HAVE_BLAS
#include <cblas.h>
#endif

void et_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc) {
    if (M == 0 || N == 0) return;
#ifdef ET_HAVE_BLAS
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A, (int)lda,
                B, (int)ldb, beta, C, (int)ldc);
#else
    et_sgemm_own(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

#ifdef ET_HAVE_BLAS
/* OpenBLAS's DYNAMIC_ARCH build picks its kernels from the CPU model number.  A CPU newer
 * than the library (0.3.21 here, on a model-207 Xeon) or a VM that hides the model makes it
 * fall back to "Prescott" — SSE3 kernels, 40 GFLOP/s where its SkylakeX kernels reach
 * several times that.  When the user has not chosen (OPENBLAS_CORETYPE unset) and the
 * chosen core lacks AVX2 that the CPU has, re-select from the instruction sets the CPU
 * reports, through OpenBLAS's own re-initialization (the path OPENBLAS_CORETYPE takes).
 * Runs once at start-up, after OpenBLAS's constructor and before any BLAS call. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
extern char *openblas_get_corename(void);

static bool et__blas_core_is_pre_avx2(const char *c) {
    static const char *const old[] = { "prescott", "core2", "penryn", "dunnington", "nehalem",
                                       "sandybridge", "atom", "katmai", "coppermine", "northwood",
                                       "banias", "opteron", "barcelona", "bobcat", "nano", "unknown" };
    for (size_t i = 0; i < sizeof old / sizeof old[0]; i++)
        if (!strcasecmp(c, old[i])) return true;
    return false;
}

__attribute__((constructor)) static void et__blas_pick_core(void) {
#if defined(__x86_64__)
    if (getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return;
    const char *core = openblas_get_corename();
    __builtin_cpu_init();
    if (!core || !et__blas_core_is_pre_avx2(core) || !__builtin_cpu_supports("avx2") ||
        !__builtin_cpu_supports("fma"))
        return;
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    const char *pick = avx512 ? "SkylakeX" : __builtin_cpu_is("amd") ? "Zen" : "Haswell";
    setenv("OPENBLAS_CORETYPE", pick, 0);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
#endif
}
#endif
