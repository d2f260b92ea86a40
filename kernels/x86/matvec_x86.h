/* What the x86 matvec files (matvec_avx2.c, matvec_avx512.c) share: storing a row's sum, the
 * 8-lane horizontal sum, and the Q8_0 row loop, whose block step is the one thing the paths
 * do differently (maddubs + madd on AVX2, vpdpbusd on VNNI).  256-bit code only: it compiles
 * under either file's flags. */
#ifndef ET_MATVEC_X86_H
#define ET_MATVEC_X86_H

#include <immintrin.h>
#include "kern_priv.h"
#include "quant.h"

#define ET__INLINE static inline __attribute__((always_inline))

static inline void et__put(float *y, int64_t n, float v, bool accumulate) {
    y[n] = accumulate ? y[n] + v : v;
}

static inline float et__hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Q8_0 rows n0..n1: four blocks per step into four accumulators (with one, every block waited
 * for the previous block's FMA: 13 GB/s from L2 on one Xeon thread), each step's 136 bytes
 * prefetched as three lines (with two, one line in eight went unfetched: 2 threads 27.1 ->
 * 28.3 GB/s).  step(b, xq, i, acc) adds block i's scaled dot to acc. */
ET__INLINE void et__mv_q8_0_rows(const et__wdesc *w, const et__qact *xq, float *y, int64_t n0,
                                 int64_t n1, bool accumulate,
                                 __m256 (*step)(const et_block_q8_0 *, const et__qact *, int64_t, __m256)) {
    const int64_t nb = w->K / ET_QK8_0;
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q8_0 *b = (const et_block_q8_0 *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int64_t i = 0;
        for (; i + 4 <= nb; i += 4) {
            ET__PF((const char *)(b + i));
            ET__PF((const char *)(b + i) + 64);
            ET__PF((const char *)(b + i) + 128);
            a0 = step(b, xq, i, a0);
            a1 = step(b, xq, i + 1, a1);
            a2 = step(b, xq, i + 2, a2);
            a3 = step(b, xq, i + 3, a3);
        }
        for (; i < nb; i++) a0 = step(b, xq, i, a0);
        et__put(y, n, et__hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))), accumulate);
    }
}

#endif
