/* One-token matvec (decode) for the AVX512-VNNI paths: y[n] = W[n,:] · x for a range of rows,
 * streaming each weight row once straight from its GGUF blocks.  Memory-bound by design: the
 * loops do just enough work per block to keep up with DRAM (~16 bytes per ~8 instructions),
 * using 256-bit VNNI (vpdpbusd ymm, AVX512-VL) against x quantized to int8 groups of 32.
 *   Q8_0   |w| · sign(x, w)              one int32 dot per block, one scale multiply
 *   Q4_0   nibbles (0..15) · x, minus 8 · sum(x) per block (from the activation's group sums)
 *   Q4_K   nibbles · x per 32-element sub-block, 6-bit scales/mins decoded per super-block
 * Two rows at a time so each x group is loaded once for both.
 */
#include <immintrin.h>
#include "kern_priv.h"
#include "quant.h"

static inline float et__h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float et__hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline void et__put(float *y, int64_t n, float v, bool accumulate) {
    y[n] = accumulate ? y[n] + v : v;
}

/* 32 nibbles of a Q4 block as bytes 0..15: low nibbles first, then high (GGUF order). */
static inline __m256i et__nib32(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m128i m = _mm_set1_epi8(0xF);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

void et__mv_q8_0_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                        int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK8_0;
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q8_0 *b = (const et_block_q8_0 *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t i = 0; i < nb; i++) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)b[i].qs);
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->q + i * 32));
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wv),
                                            _mm256_sign_epi8(xv, wv));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(et__h2f(b[i].d) * xq->d[i]),
                                  acc);
        }
        et__put(y, n, et__hsum256(acc), accumulate);
    }
}

void et__mv_q4_0_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                        int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK4_0;
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q4_0 *b = (const et_block_q4_0 *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 acc = _mm256_setzero_ps();
        float corr = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq->q + i * 32));
            __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), et__nib32(b[i].qs), xv);
            float d = et__h2f(b[i].d);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d * xq->d[i]), acc);
            corr += d * xq->ds[i];
        }
        et__put(y, n, et__hsum256(acc) - 8.0f * corr, accumulate);
    }
}

void et__mv_q4_k_vnni(const et__wdesc *w, const float *x, const et__qact *xq, float *y,
                        int64_t n0, int64_t n1, bool accumulate) {
    const int64_t nb = w->K / ET_QK_K;
    for (int64_t n = n0; n < n1; n++) {
        const et_block_q4_K *b = (const et_block_q4_K *)((const char *)w->base + (size_t)n * w->ldw);
        __m256 acc = _mm256_setzero_ps();
        float mins = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            const uint8_t *s = b[i].scales;
            const float d = et__h2f(b[i].d), dmin = et__h2f(b[i].dmin);
            const int8_t *xs = xq->q + i * ET_QK_K;
            const float *xd = xq->d + i * 8, *xds = xq->ds + i * 8;
            for (int j = 0; j < 4; j++) {
                /* sub-blocks 2j (low nibbles) and 2j+1 (high) share 32 bytes of qs */
                __m256i v = _mm256_loadu_si256((const __m256i *)(b[i].qs + 32 * j));
                __m256i m4 = _mm256_set1_epi8(0xF);
                __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                __m256i pl = _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo,
                                                 _mm256_loadu_si256((const __m256i *)(xs + 64 * j)));
                __m256i ph = _mm256_dpbusd_epi32(_mm256_setzero_si256(), hi,
                                                 _mm256_loadu_si256((const __m256i *)(xs + 64 * j + 32)));
                int a = 2 * j, c = 2 * j + 1;
                uint8_t sa, ma, sc, mc;
                if (a < 4) { sa = s[a] & 63; ma = s[a + 4] & 63; }
                else { sa = (s[a + 4] & 0xF) | ((s[a - 4] >> 6) << 4); ma = (s[a + 4] >> 4) | ((s[a] >> 6) << 4); }
                if (c < 4) { sc = s[c] & 63; mc = s[c + 4] & 63; }
                else { sc = (s[c + 4] & 0xF) | ((s[c - 4] >> 6) << 4); mc = (s[c + 4] >> 4) | ((s[c] >> 6) << 4); }
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pl), _mm256_set1_ps(d * sa * xd[a]), acc);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ph), _mm256_set1_ps(d * sc * xd[c]), acc);
                mins += dmin * ma * xds[a] + dmin * mc * xds[c];
            }
        }
        et__put(y, n, et__hsum256(acc) - mins, accumulate);
    }
}
