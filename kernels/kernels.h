/* The kernel layer's interface: pure compute on raw pointers, sizes and strides.
 *
 * Kernels know no tensors.  Each entry point here dispatches once per call through a table of
 * function pointers chosen at start-up (kernels/dispatch.c) from CPUID on x86 or
 * getauxval(AT_HWCAP) on ARM; EDGETUNE_ISA=ref|avx2|avx512|avx512vnni|avx512bf16|neon|
 * neon-dotprod|neon-i8mm forces a path so one machine can test every path it can run.
 *
 * Layout conventions (row-major, "x·Wᵀ" as in every LLM linear layer):
 *   x  : T rows of K floats, row stride ldx floats          (activations, tokens × features)
 *   W  : N rows of K elements of `wtype`, row stride ldw bytes  (weights, out × in)
 *   y  : T rows of N floats, row stride ldy floats
 * Kernels parallelize internally with OpenMP and are deterministic for a fixed thread count.
 * They must not be called from inside an OpenMP parallel region.
 */
#ifndef ET_KERNELS_H
#define ET_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dtype.h"

typedef enum et_isa {
    ET_ISA_REF = 0,
    ET_ISA_AVX2,
    ET_ISA_AVX512,
    ET_ISA_AVX512VNNI,
    ET_ISA_AVX512BF16,
    ET_ISA_AMX,            /* AVX512-BF16 + AMX-BF16 tiles (the bf16 family's products) */
    ET_ISA_NEON,
    ET_ISA_NEON_DOTPROD,
    ET_ISA_NEON_I8MM,
    ET_ISA_COUNT
} et_isa;

const char *et_isa_name(et_isa isa);
/* The path in use (chosen on first call; EDGETUNE_ISA overrides). */
et_isa et_kern_isa(void);
/* Best path this CPU supports. */
et_isa et_kern_isa_best(void);
/* Force a path (tests); returns false if this CPU cannot run it. */
bool et_kern_set_isa(et_isa isa);
/* Whether this CPU can run a path; the path named `name` ("avx2"), ET_ISA_COUNT if unknown. */
bool et_kern_isa_available(et_isa isa);
et_isa et_isa_from_name(const char *name);

/* ---- f32 GEMM --------------------------------------------------------------------------
 * C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C, row-major, like cblas_sgemm with
 * CblasRowMajor.  OpenBLAS when the build has it, else the engine's own blocked GEMM. */
void et_sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc);
/* The engine's own GEMM, same contract; always available (reference for tests, Android). */
void et_sgemm_own(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc);

/* The same contract on the calling thread only: for small products inside a caller's own
 * OpenMP parallel region (attention tiles).  Deterministic; never calls BLAS. */
void et_sgemm_st(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                 float *C, int64_t ldc);

/* ---- row primitives (softmax, log-sum-exp), calling thread only ------------------------
 * Vectorized exp (kernels/rowops.c): within 2 ulp of expf for arguments ≥ −87.3 (smaller
 * ones, −inf included, give exactly 0), NaN stays NaN.  The ref path uses expf itself. */
float et_kern_row_max(const float *x, int64_t n);
/* x[j] = c · exp(a·x[j] − b); returns Σ_j exp(a·x[j] − b) (before the factor c). */
float et_kern_row_exp(float *x, int64_t n, float a, float b, float c);
/* Σ_j exp(x[j] − b), x unchanged. */
float et_kern_row_expsum(const float *x, int64_t n, float b);
/* SiLU rows with the same exponential: z = silu(x) = x / (1 + e^−x); z = silu(x)·y (SwiGLU);
 * z = y·silu'(x) = y·s·(1 + x·(1 − s)), s = 1 / (1 + e^−x) (the backward).  z may alias x or y. */
typedef enum { ET_KERN_SILU, ET_KERN_SWIGLU, ET_KERN_DSILU } et_kern_act;
void et_kern_row_silu(et_kern_act kind, const float *x, const float *y, float *z, int64_t n);

/* ---- linear layers over any weight type ------------------------------------------------
 * y[t,n] = sum_k x[t,k] * W[n,k]            (accumulate: y += ... instead of y = ...)
 * For NF4, `w` must point at the start of the whole N-row tensor (its tail follows row N-1). */
bool   et_kern_matmul_supports(et_type wtype);   /* false: matmul/dx leave y untouched */
/* Work buffers: sized for omp_get_max_threads() at the time of the call and the current path;
 * query again after changing either. */
size_t et_kern_matmul_work(et_type wtype, int64_t T, int64_t K, int64_t N);
void   et_kern_matmul(et_type wtype, const void *w, size_t ldw, const float *x, size_t ldx,
                      float *y, size_t ldy, int64_t T, int64_t K, int64_t N, bool accumulate,
                      void *work);
/* dx[t,k] (+)= sum_n dy[t,n] * W[n,k]   — the input gradient through a frozen weight. */
size_t et_kern_matmul_dx_work(et_type wtype, int64_t T, int64_t K, int64_t N);
void   et_kern_matmul_dx(et_type wtype, const void *w, size_t ldw, const float *dy, size_t lddy,
                         float *dx, size_t lddx, int64_t T, int64_t K, int64_t N,
                         bool accumulate, void *work);

/* Which kernel family a weight type runs on the current path for matmul with T > 1
 * ("int8", "bf16", "bf16x3", "f32", "ref"), and the matching peak probe (edgetune bench
 * kernels).  "bf16x3": F16 on AMX, three bf16 tile products (error ~2^-16 of Σ|w x|) for
 * T >= 64 tokens; fewer take the f32 strips. */
typedef enum { ET_PEAK_F32_FMA = 0, ET_PEAK_BF16_DOT, ET_PEAK_INT8_DOT } et_peak_kind;
const char  *et_kern_matmul_family(et_type wtype);
/* dX's products through a weight of that type: "bf16" (every type but f32 where the path has
 * vdpbf16ps: dY and W rounded to bf16, f32 sums), "f32", or "ref". */
const char  *et_kern_matmul_dx_family(et_type wtype);
/* How many activations share one int8 scale in the forward product over T tokens: 32, or 256
 * where the path's matvec quantizes x per super-block (Q4_K on VNNI: llama.cpp's Q8_K);
 * 0 where x stays in floating point. */
int          et_kern_matmul_act_group(et_type wtype, int64_t T);
et_peak_kind et_kern_matmul_peak_kind(et_type wtype);
et_peak_kind et_kern_matmul_dx_peak_kind(et_type wtype);   /* the same for et_kern_matmul_dx */
/* Runs n iterations of a latency-hiding loop of the instruction the current path uses for
 * `kind` (vfmadd ps, vdpbf16ps, vpdpbusd or maddubs+madd); returns the flops / int8 ops it
 * performed (a multiply-add counts 2), or 0 if the path has no such instruction.  The caller
 * times it, on as many threads as it likes. */
double et_kern_peak_loop(et_peak_kind kind, int64_t n);
/* Streams `bytes` from p (64-byte aligned, a multiple of 256) with the path's widest loads;
 * returns the bytes read, or 0 if the path has no such loop (the bandwidth probe). */
double et_kern_read_loop(const void *p, size_t bytes);
/* The matvec kernels' software prefetch (x86): each line of a row stream asked into L1
 * ET_KERN_PF_L1 bytes ahead and into L2 ET_KERN_PF_L2 ahead.  The bandwidth probe's
 * prefetching read uses the same two, so the measured limit covers the kernels' best read. */
#define ET_KERN_PF_L1 1024
#define ET_KERN_PF_L2 4096

/* Dequantize / convert rows of any type to f32 (dispatching to the fastest path). */
void et_kern_to_f32(et_type t, const void *src, float *dst, int64_t ne0, int64_t nrows,
                    size_t src_row_bytes);

#endif
