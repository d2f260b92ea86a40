/* AVX-512 micro-kernels (compiled with AVX-512 F/BW/VL/DQ/VNNI/BF16; each function is only
 * called on a path whose CPU check covers the instructions it uses — kernels/dispatch.c).
 *
 * All three share one register tile: 32 output rows (two zmm of 16 lanes) × C tokens, the
 * weight strip streaming from L1/L2 and each token's activation broadcast from memory:
 *   et__qgemm_vnni       int8 strips, vpdpbusd (4 k per lane per instruction), one int32
 *                        accumulator per group of G; block scales applied once per group.
 *   et__bgemm_avx512bf16 bf16 strips, vdpbf16ps (2 k per lane).
 *   et__sgemm_avx512     f32, FMA (1 k per lane) — the engine GEMM, dX and F16/NF4 fallback.
 * Fast for: many tokens (T ≥ 4) against a strip that stays in L2 (K ≤ ~8k).
 */
#include <immintrin.h>
#include <string.h>
#include "kern_priv.h"

#define ET__INLINE static inline __attribute__((always_inline))

static inline __mmask16 et__mask16(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* y[0..nr) (+)= v0 | v1 */
ET__INLINE void et__store32(float *y, __m512 v0, __m512 v1, int nr, bool accumulate) {
    __mmask16 m0 = et__mask16(nr), m1 = et__mask16(nr - 16);
    if (accumulate) {
        v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, y));
        v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, y + 16));
    }
    _mm512_mask_storeu_ps(y, m0, v0);
    _mm512_mask_storeu_ps(y + 16, m1, v1);
}

static inline int32_t et__ld32(const void *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* ---- int8 × int8 (VNNI) ----------------------------------------------------------------------
 * Activations arrive as q+128 (unsigned), weights signed:  sum (q+128)·w = q·w + 128·sum(w),
 * so each group's int32 accumulator starts at sw = -128·sum(w) instead of zero. */
ET__INLINE void et__qtile_vnni(const et__qstrip *s, const et__qact *a, int64_t t0, const int C,
                               const int G, float *y, size_t ldy, int nr, bool accumulate) {
    const int steps = G / 4;
    const int64_t K = a->K, nga = a->ngroups;
    __m512 f0[4], f1[4];
    const uint8_t *xq[4];
    const float *xd[4], *xs[4];
    #pragma GCC unroll 16
    for (int c = 0; c < C; c++) {
        f0[c] = f1[c] = _mm512_setzero_ps();
        xq[c] = (const uint8_t *)a->q + (size_t)(t0 + c) * (size_t)K;
        xd[c] = a->d + (t0 + c) * nga;
        xs[c] = a->ds + (t0 + c) * nga;
    }
    for (int64_t g = 0; g < s->ngroups; g++) {
        const int8_t *wq = s->q + g * G * ET__SW;
        const int64_t k0 = g * G, ga = k0 / ET__QG;
        __m512i sw0 = _mm512_loadu_si512(s->sw + g * 32), sw1 = _mm512_loadu_si512(s->sw + g * 32 + 16);
        __m512i i0[4], i1[4];
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) { i0[c] = sw0; i1[c] = sw1; }
        #pragma GCC unroll 8
        for (int st = 0; st < steps; st++) {
            __m512i w0 = _mm512_loadu_si512(wq + st * 128), w1 = _mm512_loadu_si512(wq + st * 128 + 64);
            #pragma GCC unroll 16
            for (int c = 0; c < C; c++) {
                __m512i xb = _mm512_set1_epi32(et__ld32(xq[c] + k0 + st * 4));
                i0[c] = _mm512_dpbusd_epi32(i0[c], xb, w0);
                i1[c] = _mm512_dpbusd_epi32(i1[c], xb, w1);
            }
        }
        __m512 dw0 = _mm512_loadu_ps(s->dw + g * 32), dw1 = _mm512_loadu_ps(s->dw + g * 32 + 16);
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            __m512 dx = _mm512_set1_ps(xd[c][ga]);
            f0[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i0[c]), dw0), dx, f0[c]);
            f1[c] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(i1[c]), dw1), dx, f1[c]);
        }
        if (s->mw) {   /* min term: mw · d·sum(q) = mw · sum(x̂) over the group */
            __m512 m0 = _mm512_loadu_ps(s->mw + g * 32), m1 = _mm512_loadu_ps(s->mw + g * 32 + 16);
            #pragma GCC unroll 16
            for (int c = 0; c < C; c++) {
                __m512 sx = _mm512_set1_ps(xs[c][ga]);
                f0[c] = _mm512_fmadd_ps(m0, sx, f0[c]);
                f1[c] = _mm512_fmadd_ps(m1, sx, f1[c]);
            }
        }
    }
    #pragma GCC unroll 16
    for (int c = 0; c < C; c++) et__store32(y + (size_t)(t0 + c) * ldy, f0[c], f1[c], nr, accumulate);
}

/* G is a compile-time constant in each instance, so the k-steps of a group unroll. */
#define ET__QGEMM_VNNI_G(G)                                                                    \
    static void et__qgemm_vnni_g##G(const et__qstrip *s, const et__qact *a, int64_t t0,        \
                                    int64_t nt, float *y, size_t ldy, int nr, bool acc) {      \
        int64_t t = t0, end = t0 + nt;                                                         \
        for (; t + 4 <= end; t += 4) et__qtile_vnni(s, a, t, 4, G, y, ldy, nr, acc);          \
        switch (end - t) {                                                                     \
        case 3: et__qtile_vnni(s, a, t, 3, G, y, ldy, nr, acc); break;                          \
        case 2: et__qtile_vnni(s, a, t, 2, G, y, ldy, nr, acc); break;                          \
        case 1: et__qtile_vnni(s, a, t, 1, G, y, ldy, nr, acc); break;                          \
        default: break;                                                                        \
        }                                                                                      \
    }
ET__QGEMM_VNNI_G(32)
ET__QGEMM_VNNI_G(16)

void et__qgemm_vnni(const et__qstrip *s, const et__qact *a, int64_t t0, int64_t nt, float *y,
                    size_t ldy, int nr, bool accumulate) {
    if (s->G == 16) et__qgemm_vnni_g16(s, a, t0, nt, y, ldy, nr, accumulate);
    else et__qgemm_vnni_g32(s, a, t0, nt, y, ldy, nr, accumulate);
}

/* ---- bf16 × bf16 → f32 (vdpbf16ps) ------------------------------------------------------------ */
ET__INLINE void et__btile(const uint16_t *strip, int64_t kp, const uint16_t *xb, size_t ldxb,
                          const int C, float *y, size_t ldy, int nr, bool accumulate) {
    __m512 f0[8], f1[8];
    #pragma GCC unroll 16
    for (int c = 0; c < C; c++) f0[c] = f1[c] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kp; p++) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(strip + p * 64);
        __m512bh w1 = (__m512bh)_mm512_loadu_si512(strip + p * 64 + 32);
        #pragma GCC unroll 16
        for (int c = 0; c < C; c++) {
            __m512bh xv = (__m512bh)_mm512_set1_epi32(et__ld32(xb + (size_t)c * ldxb + 2 * p));
            f0[c] = _mm512_dpbf16_ps(f0[c], xv, w0);
            f1[c] = _mm512_dpbf16_ps(f1[c], xv, w1);
        }
    }
    #pragma GCC unroll 16
    for (int c = 0; c < C; c++) et__store32(y + (size_t)c * ldy, f0[c], f1[c], nr, accumulate);
}

void et__bgemm_avx512bf16(const uint16_t *strip, int64_t kp, const uint16_t *xb, size_t ldxb,
                          int64_t nt, float *y, size_t ldy, int nr, bool accumulate) {
    int64_t t = 0;
    for (; t + 8 <= nt; t += 8)
        et__btile(strip, kp, xb + t * ldxb, ldxb, 8, y + t * ldy, ldy, nr, accumulate);
    for (; t < nt; t++)
        et__btile(strip, kp, xb + t * ldxb, ldxb, 1, y + t * ldy, ldy, nr, accumulate);
}

/* ---- f32 FMA ----------------------------------------------------------------------------------- */
ET__INLINE void et__stile512(int64_t K, const float *a, size_t sat, size_t sak, const float *b,
                             size_t ldb, float *c, size_t ldc, const int C, int nr, float alpha,
                             bool accumulate) {
    __m512 f0[8], f1[8];
    #pragma GCC unroll 16
    for (int i = 0; i < C; i++) f0[i] = f1[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < K; k++) {
        /* A's lines 64 k ahead into L1: the drivers' packed 8-token tiles (one line per two k,
         * from L3 when T·K floats exceed L2) were left to the hardware prefetchers before.
         * Forward, 4096x14336, 2 threads, medians of 9 calls, interleaved rounds: T=512
         * 265-278 -> 285-291 GFLOP/s, T=256 253-255 -> 270-278 (OpenBLAS 291-300 / 270-277),
         * T=64 unchanged; 1 thread T=512 140 -> 147 (OpenBLAS 150).  32 or 128 k ahead the
         * same; prefetching the strip's lines too no better; testing sak to prefetch every k
         * for wider strides cost half the gain. */
        if (!(k & 1)) _mm_prefetch((const char *)(a + (k + 64) * sak), _MM_HINT_T0);
        __m512 b0 = _mm512_loadu_ps(b + k * ldb), b1 = _mm512_loadu_ps(b + k * ldb + 16);
        #pragma GCC unroll 16
        for (int i = 0; i < C; i++) {
            __m512 av = _mm512_set1_ps(a[i * sat + k * sak]);
            f0[i] = _mm512_fmadd_ps(av, b0, f0[i]);
            f1[i] = _mm512_fmadd_ps(av, b1, f1[i]);
        }
    }
    __m512 al = _mm512_set1_ps(alpha);
    #pragma GCC unroll 16
    for (int i = 0; i < C; i++)
        et__store32(c + i * ldc, _mm512_mul_ps(f0[i], al), _mm512_mul_ps(f1[i], al), nr,
                    accumulate);
}

void et__sgemm_avx512(int64_t K, const float *a, size_t sat, size_t sak, const float *b,
                      size_t ldb, float *c, size_t ldc, int64_t nt, int nr, float alpha,
                      bool accumulate) {
    int64_t t = 0;
    for (; t + 8 <= nt; t += 8)
        et__stile512(K, a + t * sat, sat, sak, b, ldb, c + t * ldc, ldc, 8, nr, alpha, accumulate);
    for (; t + 4 <= nt; t += 4)
        et__stile512(K, a + t * sat, sat, sak, b, ldb, c + t * ldc, ldc, 4, nr, alpha, accumulate);
    for (; t < nt; t++)
        et__stile512(K, a + t * sat, sat, sak, b, ldb, c + t * ldc, ldc, 1, nr, alpha, accumulate);
}

/* ---- few outputs, long reduction ------------------------------------------------------------
 * y[t, j] (+)= sum_k a[t, k] · w[j, k] for j < nr ≤ 8, t < nt: a LoRA down-projection (rank
 * outputs) or its dX, where a 32-row strip would be three quarters padding and leave one
 * thread alone.  Two tokens share each load of the 8 weight rows (from L1: 8·K floats); 16
 * accumulators, k in 16-lane steps with a masked tail; rows past nr alias row 0 and are not
 * stored.  The sums then reduce per (token, row) in a fixed order: deterministic. */
ET__INLINE float et__hsum512(__m512 v) { return _mm512_reduce_add_ps(v); }

static void et__rowdot8_avx512(const float *a, size_t lda, int64_t nt, int64_t K, const float *w, size_t ldw,
                               int nr, float *y, size_t ldy, bool accumulate) {
    const float *wr[8];
    for (int j = 0; j < 8; j++) wr[j] = w + (size_t)(j < nr ? j : 0) * ldw;
    int64_t t = 0;
    for (; t < nt; t += 2) {
        const bool two = t + 1 < nt;
        const float *a0 = a + (size_t)t * lda, *a1 = two ? a0 + lda : a0;
        __m512 s0[8], s1[8];
        for (int j = 0; j < 8; j++) s0[j] = s1[j] = _mm512_setzero_ps();
        int64_t k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 x0 = _mm512_loadu_ps(a0 + k), x1 = _mm512_loadu_ps(a1 + k);
            for (int j = 0; j < 8; j++) {
                __m512 wv = _mm512_loadu_ps(wr[j] + k);
                s0[j] = _mm512_fmadd_ps(x0, wv, s0[j]);
                s1[j] = _mm512_fmadd_ps(x1, wv, s1[j]);
            }
        }
        if (k < K) {
            __mmask16 m = et__mask16((int)(K - k));
            __m512 x0 = _mm512_maskz_loadu_ps(m, a0 + k), x1 = _mm512_maskz_loadu_ps(m, a1 + k);
            for (int j = 0; j < 8; j++) {
                __m512 wv = _mm512_maskz_loadu_ps(m, wr[j] + k);
                s0[j] = _mm512_fmadd_ps(x0, wv, s0[j]);
                s1[j] = _mm512_fmadd_ps(x1, wv, s1[j]);
            }
        }
        float *y0 = y + (size_t)t * ldy, *y1 = y0 + ldy;
        for (int j = 0; j < nr; j++) {
            float v0 = et__hsum512(s0[j]);
            y0[j] = accumulate ? y0[j] + v0 : v0;
            if (two) {
                float v1 = et__hsum512(s1[j]);
                y1[j] = accumulate ? y1[j] + v1 : v1;
            }
        }
    }
}

void et__rowdot_avx512(const float *a, size_t lda, int64_t nt, int64_t K, const float *w, size_t ldw, int nr,
                       float *y, size_t ldy, bool accumulate) {
    for (int j0 = 0; j0 < nr; j0 += 8)
        et__rowdot8_avx512(a, lda, nt, K, w + (size_t)j0 * ldw, ldw, nr - j0 < 8 ? nr - j0 : 8, y + j0, ldy,
                           accumulate);
}

/* ---- transposed strip packing ------------------------------------------------------------
 * pack[k·32 + j] = B[j·ldb + k] for j < nr, k < kc; 0 for nr ≤ j < 32: blocks of 16 rows × 16
 * k loaded (masked past kc), transposed in registers (unpack ps, unpack pd, two 128-bit lane
 * shuffles) and stored as 16 k-rows of 16 floats.  Rows past nr read as zero. */
ET__INLINE void et__tr16x16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
        r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
        r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    }
    /* r[4q + c] holds, per 128-bit lane L, the 4 elements k = 4L .. 4L+3 of column c of row
     * group q (rows 4q .. 4q+3).  Gather lanes: out[4L + c] = lane L of r[c], r[4 + c], ... */
    for (int c = 0; c < 4; c++) {
        __m512 a = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88), b = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xDD);
        __m512 e = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88), f = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xDD);
        t[c] = _mm512_shuffle_f32x4(a, e, 0x88);        /* lane 0 */
        t[8 + c] = _mm512_shuffle_f32x4(a, e, 0xDD);    /* lane 2 */
        t[4 + c] = _mm512_shuffle_f32x4(b, f, 0x88);    /* lane 1 */
        t[12 + c] = _mm512_shuffle_f32x4(b, f, 0xDD);   /* lane 3 */
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}

void et__pack_t_avx512(const float *B, size_t ldb, int nr, int64_t kc, float *pack) {
    for (int jb = 0; jb < 32; jb += 16) {
        for (int64_t k0 = 0; k0 < kc; k0 += 16) {
            const int kw = kc - k0 < 16 ? (int)(kc - k0) : 16;
            const __mmask16 m = et__mask16(kw);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = jb + i < nr ? _mm512_maskz_loadu_ps(m, B + (size_t)(jb + i) * ldb + k0) : _mm512_setzero_ps();
            et__tr16x16(r);
            for (int i = 0; i < kw; i++) _mm512_storeu_ps(pack + (k0 + i) * 32 + jb, r[i]);
        }
    }
}

/* ---- f32 -> bf16 ------------------------------------------------------------------------------
 * y[i] = et_fp32_to_bf16(x[i]) bit for bit: round to nearest even on the integer bits, a NaN
 * keeps its sign and top payload with the quiet bit set (vcvtneps2bf16 would differ: it
 * flushes denormal inputs).  The result is in the low 16 bits of each lane. */
static inline __m512i et__bf16_lanes(__m512i u) {
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff), absm = _mm512_set1_epi32(0x7fffffff);
    const __m512i inf = _mm512_set1_epi32(0x7f800000), quiet = _mm512_set1_epi32(64);
    __m512i hi = _mm512_srli_epi32(u, 16);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(hi, one))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, absm), inf);
    return _mm512_mask_or_epi32(r, nan, hi, quiet);
}

void et__to_bf16_avx512(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = et__mask16(n - i < 16 ? (int)(n - i) : 16);
        __m512i r = et__bf16_lanes(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i)));
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtepi32_epi16(r));
    }
}

/* hi[i] = bf16(x[i]), lo[i] = bf16(x[i] - hi[i]), bit for bit as the scalar split. */
void et__split_bf16_avx512(const float *x, uint16_t *hi, uint16_t *lo, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = et__mask16(n - i < 16 ? (int)(n - i) : 16);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512i h = et__bf16_lanes(_mm512_castps_si512(v));
        const __m512 r = _mm512_sub_ps(v, _mm512_castsi512_ps(_mm512_slli_epi32(h, 16)));
        _mm256_mask_storeu_epi16(hi + i, m, _mm512_cvtepi32_epi16(h));
        _mm256_mask_storeu_epi16(lo + i, m, _mm512_cvtepi32_epi16(et__bf16_lanes(_mm512_castps_si512(r))));
    }
}

/* Two rows' k-pair interleave: lane i of the result is bf16(a[i]) | bf16(b[i]) << 16. */
void et__bf16_pairs_avx512(const float *a, const float *b, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = et__mask16(n - i < 16 ? (int)(n - i) : 16);
        __m512i r = et__bf16_lanes(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, a + i)));
        if (b) r = _mm512_or_si512(r, _mm512_slli_epi32(et__bf16_lanes(_mm512_castps_si512(_mm512_maskz_loadu_ps(m, b + i))), 16));
        _mm512_mask_storeu_epi32(y + 2 * i, m, r);
    }
}
