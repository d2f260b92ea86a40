/* The engine's own f32 GEMM (used where OpenBLAS is absent, e.g. Android, and as the f32
 * kernel of every quantized path): cblas_sgemm's row-major contract, any transposes.
 *
 * Packed and register-blocked: C is cut into strips of 32 columns split over OpenMP threads;
 * for each strip and each KC-deep slice, B is packed into a per-thread contiguous 32×KC
 * buffer (a row stride of a power of two would alias in L1), except for tiny M where it is
 * read in place; the per-ISA micro-kernel (kernels/x86/gemm_*.c) then holds a 32 × C-token tile
 * of C in registers and broadcasts A, which it reads through two strides, so op(A) is never
 * copied.  Deterministic: one thread computes each element, in a fixed k order.
 * Fast for: M ≥ 8 (tokens), any N, K; small M is memory-bound and fine too.
 * et_sgemm_st runs the same strips on the calling thread, for callers that parallelize
 * over many small products themselves (attention's per-head tiles).
 */
#include <string.h>
#include "kern_priv.h"
#include "ref/ref.h"

#define ET__GKC 256   /* k slice: a packed 32×256 f32 panel is 32 KiB, an L1 */

/* pack[k][0..32) = op(B)[k0 + k][j0 .. j0 + nr), zero past nr, for k < kc.  Row copies for B,
 * and for Bᵀ the path's in-register transposes, else one source row (contiguous reads)
 * scattered down a column at a time: the
 * per-element form, with its tests in the inner loop, cost more than the product of an
 * attention tile (M = 32, K = 64) itself. */
static void et__pack_strip(const et__isa_ops *io, bool transB, const float *B, int64_t ldb, int64_t j0, int nr,
                           int64_t k0, int64_t kc, float *pack) {
    if (!transB) {
        for (int64_t k = 0; k < kc; k++) {
            memcpy(pack + k * ET__SW, B + (k0 + k) * ldb + j0, (size_t)nr * sizeof(float));
            if (nr < ET__SW) memset(pack + k * ET__SW + nr, 0, (size_t)(ET__SW - nr) * sizeof(float));
        }
        return;
    }
    if (io->pack_t) {   /* in-register transposes */
        io->pack_t(B + j0 * ldb + k0, (size_t)ldb, nr, kc, pack);
        return;
    }
    for (int j = 0; j < nr; j++) {
        const float *src = B + (j0 + j) * ldb + k0;
        for (int64_t k = 0; k < kc; k++) pack[k * ET__SW + j] = src[k];
    }
    if (nr < ET__SW)
        for (int64_t k = 0; k < kc; k++) memset(pack + k * ET__SW + nr, 0, (size_t)(ET__SW - nr) * sizeof(float));
}

/* Cs[:, 0..32) += alpha · op(A) · op(B)[:, j0..j0+32), Cs the strip's first column of C: one
 * strip, every k slice. */
static void et__sgemm_strip(const et__isa_ops *io, bool transB, int64_t M, int64_t N, int64_t K,
                            float alpha, const float *A, size_t sat, size_t sak, const float *B,
                            int64_t ldb, float *Cs, int64_t ldc, int64_t j0, float *pack) {
    const int nr = (int)(N - j0 < ET__SW ? N - j0 : ET__SW);
    for (int64_t k0 = 0; k0 < K; k0 += ET__GKC) {
        const int64_t kc = K - k0 < ET__GKC ? K - k0 : ET__GKC;
        const float *b;
        size_t ldbk;
        if (!transB && nr == ET__SW && M < 16) {   /* too few rows to repay a pack */
            b = B + k0 * ldb + j0;
            ldbk = (size_t)ldb;
        } else {
            et__pack_strip(io, transB, B, ldb, j0, nr, k0, kc, pack);
            b = pack;
            ldbk = ET__SW;
        }
        io->sgemm(kc, A + k0 * sak, sat, sak, b, ldbk, Cs, (size_t)ldc, M, nr, alpha, true);
    }
}

/* The common start of both entry points: beta applied to C first (beta == 0 ignores C, NaNs
 * included, as BLAS does), the ref path run whole.  Returns the path's ops when strips remain
 * to be done, NULL when the product is complete. */
static const et__isa_ops *et__sgemm_begin(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                                          float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return NULL;
    if (beta != 1.0f)
        for (int64_t i = 0; i < M; i++) {
            float *c = C + i * ldc;
            if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
            else for (int64_t j = 0; j < N; j++) c[j] *= beta;
        }
    if (K <= 0 || alpha == 0.0f) return NULL;
    const et__isa_ops *io = et__kern_isa_ops();
    if (!io->sgemm) {
        et_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, 1.0f, C, ldc);
        return NULL;
    }
    return io;
}

void et_sgemm_own(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc) {
    const et__isa_ops *io = et__sgemm_begin(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (!io) return;
    const size_t sat = transA ? 1 : (size_t)lda, sak = transA ? (size_t)lda : 1;
    if (N <= 16 && M >= 2 * ET__SW) {
        /* Few columns, many rows (LoRA's dW of the up-projection: [N, 8] = dYᵀ·x): one strip
         * would be mostly padding on one thread.  Cᵀ = op(B)ᵀ·op(A)ᵀ instead, 32 rows of C a
         * task: that strip of Cᵀ (N × 32) in registers' worth of scratch, added back
         * transposed. */
        const size_t sat2 = transB ? (size_t)ldb : 1, sak2 = transB ? 1 : (size_t)ldb;
        const int64_t ntask = (M + ET__SW - 1) / ET__SW;
        #pragma omp parallel
        {
            float pack[ET__GKC * ET__SW] __attribute__((aligned(64)));
            float tmp[16 * ET__SW] __attribute__((aligned(64)));
            #pragma omp for schedule(static)
            for (int64_t s = 0; s < ntask; s++) {
                const int64_t m0 = s * ET__SW, nm = M - m0 < ET__SW ? M - m0 : ET__SW;
                memset(tmp, 0, sizeof tmp);
                et__sgemm_strip(io, !transA, N, M, K, alpha, B, sat2, sak2, A, lda, tmp, ET__SW, m0, pack);
                for (int64_t i = 0; i < nm; i++)
                    for (int64_t j = 0; j < N; j++) C[(m0 + i) * ldc + j] += tmp[j * ET__SW + i];
            }
        }
        return;
    }
    const int64_t nstrips = (N + ET__SW - 1) / ET__SW;
    #pragma omp parallel
    {
        float pack[ET__GKC * ET__SW] __attribute__((aligned(64)));
        #pragma omp for schedule(static)
        for (int64_t s = 0; s < nstrips; s++)
            et__sgemm_strip(io, transB, M, N, K, alpha, A, sat, sak, B, ldb, C + s * ET__SW, ldc, s * ET__SW, pack);
    }
}

void et_sgemm_st(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                 float *C, int64_t ldc) {
    const et__isa_ops *io = et__sgemm_begin(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (!io) return;
    const size_t sat = transA ? 1 : (size_t)lda, sak = transA ? (size_t)lda : 1;
    float pack[ET__GKC * ET__SW] __attribute__((aligned(64)));
    for (int64_t j0 = 0; j0 < N; j0 += ET__SW)
        et__sgemm_strip(io, transB, M, N, K, alpha, A, sat, sak, B, ldb, C + j0, ldc, j0, pack);
}
