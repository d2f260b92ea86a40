/* f32 GEMM entry points.  et_sgemm() is the one the engine calls: OpenBLAS (OpenMP build)
 * when linked, else the engine's own GEMM.  Both are row-major with cblas_sgemm's contract.
 * BLAS must never be called from inside an OpenMP parallel region: OpenBLAS-OpenMP shares
 * libgomp's pool with our kernels, and nesting would oversubscribe the cores. */
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
