/* The engine's own f32 GEMM (used where OpenBLAS is absent, e.g. Android).
 * This first version is a cache-blocked loop nest that the compiler vectorizes; the
 * register-blocked micro-kernel version replaces it (kernels issue). */
#include <string.h>
#include "kernels.h"

void et_sgemm_own(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc) {
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f) for (int64_t j = 0; j < N; j++) c[j] *= beta;
        if (!transB) {
            for (int64_t k = 0; k < K; k++) {
                float a = alpha * (transA ? A[k * lda + i] : A[i * lda + k]);
                const float *b = B + k * ldb;
                for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
            }
        } else {
            for (int64_t j = 0; j < N; j++) {
                const float *b = B + j * ldb;
                float s = 0;
                if (!transA) { const float *a = A + i * lda; for (int64_t k = 0; k < K; k++) s += a[k] * b[k]; }
                else for (int64_t k = 0; k < K; k++) s += A[k * lda + i] * b[k];
                c[j] += alpha * s;
            }
        }
    }
}
