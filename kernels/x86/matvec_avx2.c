/* One-token matvec for the AVX2 path (and AVX-512 without VNNI): Q8_0 and Q4_0 streamed
 * straight from their blocks, as in matvec_avx512.c but with maddubs + madd (u8 × s8 → s16
 * pairs → s32) in place of vpdpbusd.  No saturation: |w|·|x| pairs ≤ 2·128·127 for Q8_0's
 * |w|·sign(x, w), 2·15·127 for Q4_0's nibbles.  Other types take the strip path at T = 1. */
#include <string.h>
#include "matvec_x86.h"

/* Both row loops take four blocks per step into four accumulators and the two-level prefetch
 * of kern_priv.h (ET__PF): one block a step into one accumulator waited on the FMA's latency
 * every block, and without prefetch the rows were latency-bound (Sapphire Rapids,
 * EDGETUNE_ISA=avx2, 2 threads: Q8_0 14.9 -> 33.0 GB/s, Q4_0 6.8 -> 21.6, against a 33 GB/s
 * read probe).  Q8_0's block step; its row loop is matvec_x86.h's. */
ET__INLINE __m256 et__q8_0_blk(const et_block_q8_0 *b, const et__qact *xq, int64_t i, __m256 acc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i wv = _mm256_loadu_si256((const __m256i *)b[i].qs);
    __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->q + i * 32));
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(xv, wv)), ones);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(_cvtsh_ss(b[i].d) * xq->d[i]), acc);
}

void et__mv_q8_0_avx2(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    et__mv_q8_0_rows(w, xq, y, n0, n1, accumulate, et__q8_0_blk);
}

/* Q4_0: x = d (q - 8); the -8 d·Σx̂ term per block in a second vector accumulator (lane 0). */
ET__INLINE void et__q4_0_blk(const et_block_q4_0 *b, const et__qact *xq, int64_t i, __m256 *acc,
                             __m128 *corr) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m128i v = _mm_loadu_si128((const __m128i *)b[i].qs);
    __m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4), _mm_and_si128(v, m4));
    __m256i p = _mm256_madd_epi16(
        _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)(xq->q + i * 32))), ones);
    const __m128 d = _mm_set_ss(_cvtsh_ss(b[i].d));
    *acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(_mm_cvtss_f32(d) * xq->d[i]), *acc);
    *corr = _mm_fmadd_ss(d, _mm_set_ss(xq->ds[i]), *corr);
}

void et__mv_q4_0_avx2(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                      int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK4_0;
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q4_0 *b = (const et_block_q4_0 *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        __m128 c0 = _mm_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
        int64_t i = 0;
        for (; i + 4 <= nb; i += 4) {   /* 72 bytes: two lines */
            ET__PF((const char *)(b + i));
            ET__PF((const char *)(b + i) + 64);
            et__q4_0_blk(b, xq, i, &a0, &c0);
            et__q4_0_blk(b, xq, i + 1, &a1, &c1);
            et__q4_0_blk(b, xq, i + 2, &a2, &c2);
            et__q4_0_blk(b, xq, i + 3, &a3, &c3);
        }
        for (; i < nb; i++) et__q4_0_blk(b, xq, i, &a0, &c0);
        const float corr = _mm_cvtss_f32(_mm_add_ss(_mm_add_ss(c0, c1), _mm_add_ss(c2, c3)));
        et__put(y, n, et__hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) - 8.0f * corr,
                accumulate);
    }
}
