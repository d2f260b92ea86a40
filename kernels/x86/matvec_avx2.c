/* One-token matvec for the AVX2 path (and AVX-512 without VNNI): Q8_0 and Q4_0 streamed
 * straight from their blocks, as in matvec_avx512.c but with maddubs + madd (u8 × s8 → s16
 * pairs → s32) in place of vpdpbusd.  No saturation: |w|·|x| pairs ≤ 2·128·127 for Q8_0's
 * |w|·sign(x, w), 2·15·127 for Q4_0's nibbles.  Other types take the strip path at T = 1. */
#include <immintrin.h>
#include <string.h>
#include "kern_priv.h"
#include "quant.h"

static inline float et__hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline void et__put(float *y, int64_t n, float v, bool accumulate) {
    y[n] = accumulate ? y[n] + v : v;
}

void et__mv_q8_0_avx2(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK8_0;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q8_0 *b = (const et_block_q8_0 *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)b[i].qs);
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->q + i * 32));
            __m256i p = _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv)), ones);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                                  _mm256_set1_ps(_cvtsh_ss(b[i].d) * xq->d[i]), acc);
        }
        et__put(y, n, et__hsum8(acc), accumulate);
    }
}

void et__mv_q4_0_avx2(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK4_0;
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128i m4 = _mm_set1_epi8(0xF);
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q4_0 *b = (const et_block_q4_0 *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 acc = _mm256_setzero_ps();
        float corr = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
            __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
            __m256i p = _mm256_madd_epi16(
                _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(xq->q + i * 32))), ones);
            const float d = _cvtsh_ss(b[i].d);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d * xq->d[i]), acc);
            corr += d * xq->ds[i];
        }
        et__put(y, n, et__hsum8(acc) - 8.0f * corr, accumulate);
    }
}
