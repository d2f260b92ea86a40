/* aarch64 micro-kernels for the strip scheme of kernels/kern_priv.h (the same strips and tiles
 * as kernels/x86/, NEON registers of 4 lanes: 32 rows = 8 registers).
 *   et__sgemm_neon       f32 FMA (vfmaq), 32 columns × 2 tokens — every aarch64 core.
 *   et__qgemm_neon       int8 without the dot-product extension: widening multiplies
 *                        (vmull_s8 → vpadalq_s16), 32 rows × 1 token.
 *   et__qgemm_sdot       int8 with ARMv8.2 dotprod: sdot (4 k per lane, signed × signed, so
 *                        no offset correction), 32 rows × 1 token.  The neon-i8mm path runs it
 *                        too (an smmla kernel is not written yet).
 * Fast for: what NEON can do on small cores; the tests run them under qemu (-cpu cortex-a53
 * has no dotprod, -cpu max has dotprod and i8mm).
 */
#include <arm_neon.h>
#include <string.h>
#include "kern_priv.h"

#define ET__INLINE static inline __attribute__((always_inline))

/* y[0..nr) (+)= v (32 floats in 8 registers) */
ET__INLINE void et__store32_neon(float *y, const float32x4_t v[8], int nr, bool accumulate) {
    float tmp[32];
    for (int r = 0; r < 8; r++) vst1q_f32(tmp + 4 * r, v[r]);
    for (int j = 0; j < nr; j++) y[j] = accumulate ? y[j] + tmp[j] : tmp[j];
}

ET__INLINE void et__stile_neon(int64_t K, const float *a, size_t sat, size_t sak,
                               const float *b, size_t ldb, float *c, size_t ldc, const int C,
                               int nr, float alpha, bool accumulate) {
    float32x4_t f[2][8];
    #pragma GCC unroll 2
    for (int i = 0; i < C; i++)
        #pragma GCC unroll 8
        for (int r = 0; r < 8; r++) f[i][r] = vdupq_n_f32(0.0f);
    for (int64_t k = 0; k < K; k++) {
        float32x4_t bv[8];
        #pragma GCC unroll 8
        for (int r = 0; r < 8; r++) bv[r] = vld1q_f32(b + k * ldb + 4 * r);
        #pragma GCC unroll 2
        for (int i = 0; i < C; i++) {
            float av = a[i * sat + k * sak];
            #pragma GCC unroll 8
            for (int r = 0; r < 8; r++) f[i][r] = vfmaq_n_f32(f[i][r], bv[r], av);
        }
    }
    for (int i = 0; i < C; i++) {
        for (int r = 0; r < 8; r++) f[i][r] = vmulq_n_f32(f[i][r], alpha);
        et__store32_neon(c + i * ldc, f[i], nr, accumulate);
    }
}

void et__sgemm_neon(int64_t K, const float *a, size_t sat, size_t sak, const float *b,
                    size_t ldb, float *c, size_t ldc, int64_t nt, int nr, float alpha,
                    bool accumulate) {
    int64_t t = 0;
    for (; t + 2 <= nt; t += 2)
        et__stile_neon(K, a + t * sat, sat, sak, b, ldb, c + t * ldc, ldc, 2, nr, alpha, accumulate);
    for (; t < nt; t++)
        et__stile_neon(K, a + t * sat, sat, sak, b, ldb, c + t * ldc, ldc, 1, nr, alpha, accumulate);
}

/* Per group: the int32 dots of 32 rows (8 registers) are scaled and added to f. */
ET__INLINE void et__qscale(const et__qstrip *s, int64_t g, const int32x4_t acc[8], float dx,
                           float dsx, float32x4_t f[8]) {
    for (int r = 0; r < 8; r++) {
        float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc[r]), vld1q_f32(s->dw + g * 32 + 4 * r));
        f[r] = vfmaq_n_f32(f[r], v, dx);
        if (s->mw) f[r] = vfmaq_n_f32(f[r], vld1q_f32(s->mw + g * 32 + 4 * r), dsx);
    }
}

void et__qgemm_neon(const et__qstrip *s, const et__qact *a, int64_t t0, int64_t nt, float *y,
                    size_t ldy, int nr, bool accumulate) {
    const int G = s->G;
    for (int64_t t = t0; t < t0 + nt; t++) {
        const int8_t *xq = a->q + (size_t)t * (size_t)a->K;
        const float *xd = a->d + t * a->ngroups, *xs = a->ds + t * a->ngroups;
        float32x4_t f[8];
        for (int r = 0; r < 8; r++) f[r] = vdupq_n_f32(0.0f);
        for (int64_t g = 0; g < s->ngroups; g++) {
            const int8_t *wq = s->q + g * G * ET__SW;
            const int64_t k0 = g * G;
            int32x4_t acc[8];
            for (int r = 0; r < 8; r++) acc[r] = vdupq_n_s32(0);
            for (int st = 0; st < G / 4; st++) {
                int32_t x4;
                memcpy(&x4, xq + k0 + 4 * st, 4);
                int8x16_t xv = vreinterpretq_s8_s32(vdupq_n_s32(x4));
                for (int r = 0; r < 8; r++) {
                    int8x16_t w = vld1q_s8(wq + st * 128 + 16 * r);
                    /* 4 rows × 4 k: products as s16, pairwise sums into the 4 row lanes */
                    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(xv));
                    int16x8_t hi = vmull_s8(vget_high_s8(w), vget_high_s8(xv));
                    int32x4_t pl = vpaddlq_s16(lo), ph = vpaddlq_s16(hi);   /* rows 0,0,1,1 | 2,2,3,3 */
                    acc[r] = vaddq_s32(acc[r], vcombine_s32(vpadd_s32(vget_low_s32(pl), vget_high_s32(pl)),
                                                            vpadd_s32(vget_low_s32(ph), vget_high_s32(ph))));
                }
            }
            et__qscale(s, g, acc, xd[k0 / ET__QG], xs[k0 / ET__QG], f);
        }
        et__store32_neon(y + (size_t)t * ldy, f, nr, accumulate);
    }
}

__attribute__((target("arch=armv8.2-a+dotprod")))
void et__qgemm_sdot(const et__qstrip *s, const et__qact *a, int64_t t0, int64_t nt, float *y,
                    size_t ldy, int nr, bool accumulate) {
    const int G = s->G;
    for (int64_t t = t0; t < t0 + nt; t++) {
        const int8_t *xq = a->q + (size_t)t * (size_t)a->K;
        const float *xd = a->d + t * a->ngroups, *xs = a->ds + t * a->ngroups;
        float32x4_t f[8];
        for (int r = 0; r < 8; r++) f[r] = vdupq_n_f32(0.0f);
        for (int64_t g = 0; g < s->ngroups; g++) {
            const int8_t *wq = s->q + g * G * ET__SW;
            const int64_t k0 = g * G;
            int32x4_t acc[8];
            for (int r = 0; r < 8; r++) acc[r] = vdupq_n_s32(0);
            for (int st = 0; st < G / 4; st++) {
                int32_t x4;
                memcpy(&x4, xq + k0 + 4 * st, 4);
                int8x16_t xv = vreinterpretq_s8_s32(vdupq_n_s32(x4));
                for (int r = 0; r < 8; r++)
                    acc[r] = vdotq_s32(acc[r], vld1q_s8(wq + st * 128 + 16 * r), xv);
            }
            et__qscale(s, g, acc, xd[k0 / ET__QG], xs[k0 / ET__QG], f);
        }
        et__store32_neon(y + (size_t)t * ldy, f, nr, accumulate);
    }
}

/* Peak loops (edgetune bench kernels): f32 FMA and sdot, 12 independent chains. */
static volatile float et__sink_f;
static volatile int et__sink_i;

__attribute__((no_sanitize("address", "undefined"))) double et__peak_fma_neon(int64_t n) {
    float32x4_t a[12], b = vdupq_n_f32(0.999999f), c = vdupq_n_f32(1e-7f);
    for (int j = 0; j < 12; j++) a[j] = vdupq_n_f32((float)j);
    for (int64_t i = 0; i < n; i++)
        #pragma GCC unroll 12
        for (int j = 0; j < 12; j++) a[j] = vfmaq_f32(c, a[j], b);
    float32x4_t s = a[0];
    for (int j = 1; j < 12; j++) s = vaddq_f32(s, a[j]);
    et__sink_f = vgetq_lane_f32(s, 0);
    return (double)n * 12 * 4 * 2;
}

__attribute__((target("arch=armv8.2-a+dotprod")))
__attribute__((no_sanitize("address", "undefined"))) double et__peak_sdot(int64_t n) {
    int32x4_t a[12];
    int8x16_t x = vdupq_n_s8(3), w = vdupq_n_s8(-2);
    for (int j = 0; j < 12; j++) a[j] = vdupq_n_s32(j);
    for (int64_t i = 0; i < n; i++)
        #pragma GCC unroll 12
        for (int j = 0; j < 12; j++) a[j] = vdotq_s32(a[j], x, w);
    int32x4_t s = a[0];
    for (int j = 1; j < 12; j++) s = vaddq_s32(s, a[j]);
    et__sink_i = vgetq_lane_s32(s, 0);
    return (double)n * 12 * 16 * 2;
}
