/* Peak-throughput loops for the instructions the AVX-512 kernels use (edgetune bench kernels
 * probes): independent chains, enough of them to cover latency × pipes on current cores, so
 * the loop runs at the issue limit.  Each returns the flops (or int8 ops, a multiply-add
 * counting 2) it performed; the caller times it. */
#include <immintrin.h>
#include "kern_priv.h"

#define ET__CHAINS 12
/* Not instrumented: an ASan build would otherwise measure the sanitizer. */

static volatile float et__sink_f;
static volatile int et__sink_i;

__attribute__((no_sanitize("address", "undefined"))) double et__peak_fma512(int64_t n) {
    __m512 a[ET__CHAINS], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    #pragma GCC unroll 16
    for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm512_set1_ps((float)j);
    for (int64_t i = 0; i < n; i++)
        #pragma GCC unroll 16
        for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm512_fmadd_ps(a[j], b, c);
    __m512 s = a[0];
    #pragma GCC unroll 16
    for (int j = 1; j < ET__CHAINS; j++) s = _mm512_add_ps(s, a[j]);
    et__sink_f = _mm512_reduce_add_ps(s);
    return (double)n * ET__CHAINS * 16 * 2;
}

__attribute__((no_sanitize("address", "undefined"))) double et__peak_bf16_512(int64_t n) {
    __m512 a[ET__CHAINS];
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3c00);
    #pragma GCC unroll 16
    for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm512_set1_ps((float)j);
    for (int64_t i = 0; i < n; i++)
        #pragma GCC unroll 16
        for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm512_dpbf16_ps(a[j], x, y);
    __m512 s = a[0];
    #pragma GCC unroll 16
    for (int j = 1; j < ET__CHAINS; j++) s = _mm512_add_ps(s, a[j]);
    et__sink_f = _mm512_reduce_add_ps(s);
    return (double)n * ET__CHAINS * 32 * 2;
}

__attribute__((no_sanitize("address", "undefined"))) double et__peak_vnni512(int64_t n) {
    __m512i a[ET__CHAINS], x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
    #pragma GCC unroll 16
    for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm512_set1_epi32(j);
    for (int64_t i = 0; i < n; i++)
        #pragma GCC unroll 16
        for (int j = 0; j < ET__CHAINS; j++) a[j] = _mm512_dpbusd_epi32(a[j], x, y);
    __m512i s = a[0];
    #pragma GCC unroll 16
    for (int j = 1; j < ET__CHAINS; j++) s = _mm512_add_epi32(s, a[j]);
    et__sink_i = _mm512_reduce_add_epi32(s);
    return (double)n * ET__CHAINS * 64 * 2;
}

/* Streaming read of `bytes` (a multiple of 256) with zmm loads, four independent chains: the
 * bandwidth probe's widest pattern (the matvec kernels load 64 bytes at a time too). */
__attribute__((no_sanitize("address", "undefined"))) double et__read_avx512(const void *p,
                                                                             size_t bytes) {
    const char *c = p;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= bytes; i += 256) {
        a0 = _mm512_add_epi32(a0, _mm512_load_si512(c + i));
        a1 = _mm512_add_epi32(a1, _mm512_load_si512(c + i + 64));
        a2 = _mm512_add_epi32(a2, _mm512_load_si512(c + i + 128));
        a3 = _mm512_add_epi32(a3, _mm512_load_si512(c + i + 192));
    }
    et__sink_i = _mm512_reduce_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1),
                                                          _mm512_add_epi32(a2, a3)));
    return (double)(bytes / 256 * 256);
}
