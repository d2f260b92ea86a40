/* AVX2 micro-kernels: the same strips and tiles as kernels/x86/gemm_avx512.c with ymm
 * registers (32 rows = four ymm of 8 lanes) and a smaller token tile, since AVX2 has 16
 * vector registers.  Also used by the "avx512" path (AVX-512 without VNNI) for int8 strips.
 *   et__qgemm_avx2   int8: |w| · sign(x, w) with maddubs (u8×s8 → s16 pairs, never
 *                    saturating as |w|,|x| ≤ 128·127·2 < 32768) then madd with ones → s32.
 *   et__sgemm_avx2   f32 FMA.
 */
#include <immintrin.h>
#include <string.h>
#include "kern_priv.h"

#define ET__INLINE static inline __attribute__((always_inline))

/* y[0..nr) (+)= v[0..3] (8 floats each), only the first nr lanes. */
ET__INLINE void et__store32_avx2(float *y, const __m256 v[4], int nr, bool accumulate) {
    if (nr >= 32) {
        #pragma GCC unroll 16
        for (int r = 0; r < 4; r++) {
            __m256 o = accumulate ? _mm256_add_ps(v[r], _mm256_loadu_ps(y + 8 * r)) : v[r];
            _mm256_storeu_ps(y + 8 * r, o);
        }
        return;
    }
    float tmp[32];
    #pragma GCC unroll 16
    for (int r = 0; r < 4; r++) _mm256_storeu_ps(tmp + 8 * r, v[r]);
    for (int j = 0; j < nr; j++) y[j] = accumulate ? y[j] + tmp[j] : tmp[j];
}

static inline int32_t et__ld32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

void et__qgemm_avx2(const et__qstrip *s, const et__qact *a, int64_t t0, int64_t nt, float *y,
                    size_t ldy, int nr, bool accumulate) {
    const int G = s->G, steps = G / 4;
    const int64_t K = a->K, nga = a->ngroups;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t t = t0; t < t0 + nt; t++) {
        const int8_t *xq = a->q + (size_t)t * (size_t)K;
        const float *xd = a->d + t * nga, *xs = a->ds + t * nga;
        __m256 f[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                        _mm256_setzero_ps() };
        for (int64_t g = 0; g < s->ngroups; g++) {
            const int8_t *wq = s->q + g * G * ET__SW;
            const int64_t k0 = g * G, ga = k0 / ET__QG;
            __m256i acc[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(),
                               _mm256_setzero_si256(), _mm256_setzero_si256() };
            for (int st = 0; st < steps; st++) {
                __m256i xb = _mm256_set1_epi32(et__ld32(xq + k0 + st * 4));
                #pragma GCC unroll 16
                for (int r = 0; r < 4; r++) {
                    __m256i w = _mm256_loadu_si256((const __m256i *)(wq + st * 128 + 32 * r));
                    __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xb, w));
                    acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, ones));
                }
            }
            __m256 dx = _mm256_set1_ps(xd[ga]);
            #pragma GCC unroll 16
            for (int r = 0; r < 4; r++) {
                __m256 dw = _mm256_loadu_ps(s->dw + g * 32 + 8 * r);
                f[r] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[r]), dw), dx, f[r]);
            }
            if (s->mw) {
                __m256 sx = _mm256_set1_ps(xs[ga]);
                #pragma GCC unroll 16
                for (int r = 0; r < 4; r++)
                    f[r] = _mm256_fmadd_ps(_mm256_loadu_ps(s->mw + g * 32 + 8 * r), sx, f[r]);
            }
        }
        et__store32_avx2(y + (size_t)t * ldy, f, nr, accumulate);
    }
}

ET__INLINE void et__stile256(int64_t K, const float *a, size_t sat, size_t sak, const float *b,
                             size_t ldb, float *c, size_t ldc, const int C, int nr, float alpha,
                             bool accumulate) {
    __m256 f[2][4];
    #pragma GCC unroll 16
    for (int i = 0; i < C; i++)
        #pragma GCC unroll 16
        for (int r = 0; r < 4; r++) f[i][r] = _mm256_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        __m256 bv[4];
        #pragma GCC unroll 16
        for (int r = 0; r < 4; r++) bv[r] = _mm256_loadu_ps(b + k * ldb + 8 * r);
        #pragma GCC unroll 16
        for (int i = 0; i < C; i++) {
            __m256 av = _mm256_broadcast_ss(a + i * sat + k * sak);
            #pragma GCC unroll 16
            for (int r = 0; r < 4; r++) f[i][r] = _mm256_fmadd_ps(av, bv[r], f[i][r]);
        }
    }
    __m256 al = _mm256_set1_ps(alpha);
    #pragma GCC unroll 16
    for (int i = 0; i < C; i++) {
        #pragma GCC unroll 16
        for (int r = 0; r < 4; r++) f[i][r] = _mm256_mul_ps(f[i][r], al);
        et__store32_avx2(c + i * ldc, f[i], nr, accumulate);
    }
}

void et__sgemm_avx2(int64_t K, const float *a, size_t sat, size_t sak, const float *b,
                    size_t ldb, float *c, size_t ldc, int64_t nt, int nr, float alpha,
                    bool accumulate) {
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2)
        et__stile256(K, a + t * sat, sat, sak, b, ldb, c + t * ldc, ldc, 2, nr, alpha, accumulate);
    for (; t < nt; t++)
        et__stile256(K, a + t * sat, sat, sak, b, ldb, c + t * ldc, ldc, 1, nr, alpha, accumulate);
}
