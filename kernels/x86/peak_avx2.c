/* Peak-throughput loops for the instructions the AVX2 kernels use (see peak_avx512.c): ymm
 * FMA, and the int8 sequence of et__qgemm_avx2 (maddubs → madd → add: 32 multiply-adds). */
#include <immintrin.h>
#include "kern_priv.h"

#define ET__CHAINS 12
/* Not instrumented: an ASan build would otherwise measure the sanitizer. */

static volatile float et__sink_f;
static volatile int et__sink_i;

__attribute__((no_sanitize("address", "undefined"))) double et__peak_fma256(int64_t n) {
    __m256 a[ET__CHAINS], b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    #pragma GCC unroll 16
    for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm256_set1_ps((float)j);
    for (int64_t i = 0; i < n; i++)
        #pragma GCC unroll 16
        for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm256_fmadd_ps(a[j], b, c);
    float out[8];
    __m256 s = a[0];
    #pragma GCC unroll 16
    for (int j = 1; j < ET__CHAINS; j++) s = _mm256_add_ps(s, a[j]);
    _mm256_storeu_ps(out, s);
    et__sink_f = out[0];
    return (double)n * ET__CHAINS * 8 * 2;
}

__attribute__((no_sanitize("address", "undefined"))) double et__peak_int8_avx2(int64_t n) {
    __m256i a[ET__CHAINS], x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-2);
    const __m256i ones = _mm256_set1_epi16(1);
    #pragma GCC unroll 16
    for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm256_set1_epi32(j);
    for (int64_t i = 0; i < n; i++)
        #pragma GCC unroll 16
        for (int j = 0; j < ET__CHAINS; j++)
            a[j] = _mm256_add_epi32(a[j], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    __m256i s = a[0];
    #pragma GCC unroll 16
    for (int j = 1; j < ET__CHAINS; j++) s = _mm256_add_epi32(s, a[j]);
    et__sink_i = _mm256_extract_epi32(s, 0);
    return (double)n * ET__CHAINS * 32 * 2;
}
