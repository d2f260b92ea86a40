/* aarch64 micro-kernels for the strip scheme of kernels/kern_priv.h (the same strips and tiles
 * as kernels/x86/, NEON registers of 4 lanes: 32 rows = 8 registers).
 *   et__sgemm_neon       f32 FMA (vfmaq), 32 columns × 2 tokens — every aarch64 core.
 *   et__qgemm_neon       int8 without the dot-product extension: widening multiplies
 *                        (vmull_s8 → vpadalq_s16), 32 rows × 1 token.
 *   et__qgemm_sdot       int8 with ARMv8.2 dotprod: sdot (4 k per lane, signed × signed, so
 *                        no offset correction), 32 rows × 1 token.
 *   et__qgemm_i8mm       int8 with the matrix-multiply extension (ARMv8.6 i8mm, optional from
 *                        v8.2): smmla, a 2×2 int32 block from 2 rows × 8 k of each operand, so
 *                        32 rows × 2 tokens (16 accumulators); an odd last token goes to sdot.
 *                        The int32 dots are the same integers as sdot's and are scaled by the
 *                        same et__qscale, so both paths give bitwise the same floats.
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

/* smmla over the strip: two consecutive 4-k steps of a strip register hold 8 k of 4 rows,
 *   w0 = vld1q(step st)   = [r0 k0..3 | r1 k0..3 | r2 k0..3 | r3 k0..3]
 *   w1 = vld1q(step st+1) = [r0 k4..7 | r1 k4..7 | r2 k4..7 | r3 k4..7]
 * and zipping their 32-bit lanes gives smmla's 2 rows × 8 k operands: zip1 → rows 0,1,
 * zip2 → rows 2,3 (the k order within a row, 0..7, is the activation's own order).  With the
 * activations as the first operand (token t: 8 k, token t+1: 8 k) an accumulator holds
 * [t·r0, t·r1, t+1·r0, t+1·r1], so 64-bit zips give each token its 4 consecutive rows. */
__attribute__((target("arch=armv8.2-a+i8mm")))
void et__qgemm_i8mm(const et__qstrip *s, const et__qact *a, int64_t t0, int64_t nt, float *y,
                    size_t ldy, int nr, bool accumulate) {
    const int G = s->G;   /* 32 or 16: a whole number of step pairs */
    int64_t t = t0;
    for (; t + 2 <= t0 + nt; t += 2) {
        const int8_t *xq0 = a->q + (size_t)t * (size_t)a->K, *xq1 = xq0 + a->K;
        const float *xd = a->d + t * a->ngroups, *xs = a->ds + t * a->ngroups;
        float32x4_t f0[8], f1[8];
        for (int r = 0; r < 8; r++) f0[r] = f1[r] = vdupq_n_f32(0.0f);
        for (int64_t g = 0; g < s->ngroups; g++) {
            const int8_t *wq = s->q + g * G * ET__SW;
            const int64_t k0 = g * G;
            int32x4_t lo[8], hi[8];   /* register r: rows 4r,4r+1 | 4r+2,4r+3, both tokens */
            for (int r = 0; r < 8; r++) lo[r] = hi[r] = vdupq_n_s32(0);
            for (int st = 0; st < G / 4; st += 2) {
                int8x16_t xv = vcombine_s8(vld1_s8(xq0 + k0 + 4 * st), vld1_s8(xq1 + k0 + 4 * st));
                #pragma GCC unroll 8
                for (int r = 0; r < 8; r++) {
                    int32x4_t w0 = vreinterpretq_s32_s8(vld1q_s8(wq + st * 128 + 16 * r));
                    int32x4_t w1 = vreinterpretq_s32_s8(vld1q_s8(wq + (st + 1) * 128 + 16 * r));
                    lo[r] = vmmlaq_s32(lo[r], xv, vreinterpretq_s8_s32(vzip1q_s32(w0, w1)));
                    hi[r] = vmmlaq_s32(hi[r], xv, vreinterpretq_s8_s32(vzip2q_s32(w0, w1)));
                }
            }
            int32x4_t acc0[8], acc1[8];
            for (int r = 0; r < 8; r++) {
                int64x2_t l = vreinterpretq_s64_s32(lo[r]), h = vreinterpretq_s64_s32(hi[r]);
                acc0[r] = vreinterpretq_s32_s64(vzip1q_s64(l, h));   /* token t:   rows 4r..4r+3 */
                acc1[r] = vreinterpretq_s32_s64(vzip2q_s64(l, h));   /* token t+1 */
            }
            const int64_t ag = k0 / ET__QG;
            et__qscale(s, g, acc0, xd[ag], xs[ag], f0);
            et__qscale(s, g, acc1, xd[a->ngroups + ag], xs[a->ngroups + ag], f1);
        }
        et__store32_neon(y + (size_t)t * ldy, f0, nr, accumulate);
        et__store32_neon(y + (size_t)(t + 1) * ldy, f1, nr, accumulate);
    }
    /* an odd last token: sdot does 16 useful MACs per instruction, smmla with half its
     * operand idle no more (every i8mm core has dotprod: et__cpu_has checks both) */
    if (t < t0 + nt) et__qgemm_sdot(s, a, t, t0 + nt - t, y, ldy, nr, accumulate);
}

/* Peak loops (edgetune bench kernels): f32 FMA, sdot and smmla, 12 independent chains. */
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

/* An int8 peak loop: `op` (sdot: 16 multiply-adds per instruction; smmla: 2 × 2 × 8 = 32). */
#define ET__PEAK_INT8(name, arch, op, macs)                                                  \
    __attribute__((target(arch))) __attribute__((no_sanitize("address", "undefined")))     \
    double name(int64_t n) {                                                              \
        int32x4_t a[12];                                                                  \
        int8x16_t x = vdupq_n_s8(3), w = vdupq_n_s8(-2);                                  \
        for (int j = 0; j < 12; j++) a[j] = vdupq_n_s32(j);                               \
        for (int64_t i = 0; i < n; i++)                                                   \
            _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) a[j] = op(a[j], x, w);  \
        int32x4_t s = a[0];                                                               \
        for (int j = 1; j < 12; j++) s = vaddq_s32(s, a[j]);                              \
        et__sink_i = vgetq_lane_s32(s, 0);                                                \
        return (double)n * 12 * (macs) * 2;                                               \
    }
ET__PEAK_INT8(et__peak_sdot, "arch=armv8.2-a+dotprod", vdotq_s32, 16)
ET__PEAK_INT8(et__peak_smmla, "arch=armv8.2-a+i8mm", vmmlaq_s32, 32)
