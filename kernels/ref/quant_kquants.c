/* Reference K-quants: Q4_K and Q6_K weights, Q8_K activations (256-element super-blocks).
 *
 * Quantizers follow ggml's reference algorithms (quantize_row_q4_K_ref, quantize_row_q6_K_ref,
 * quantize_row_q8_K_ref) operation for operation, so that files we write look like files
 * llama.cpp writes:
 *   Q4_K  each 32-element sub-block gets a scale and a min from make_qkx2_quants (weighted
 *         least squares over 21 candidate scales, weights sqrt(mean x^2) + |x|); the eight
 *         scales and mins are then quantized to 6 bits against the largest of each, and the
 *         4-bit quants recomputed for the rounded scales.
 *   Q6_K  each 16-element sub-block gets a signed scale from make_qx_quants (weights x^2,
 *         19 candidate scales); scales are quantized to int8 against the largest, then the
 *         6-bit quants recomputed.
 * The dequantizers evaluate (d * sc) * q - (dmin * m) in that order, bit-exact with gguf.
 *
 * Robustness beyond ggml (same bytes wherever ggml's own arithmetic stays finite): a
 * super-block with |x| > 65536 runs the scale searches on x * 2^-e, because the weighted sums
 * of x^3 overflow float far below FLT_MAX (Q6_K's from |x| ~ 2^20).  Scaling by a power of two
 * is exact, and the zero thresholds are scaled with it, so only elements more than 2^126 below
 * the block's largest could round differently.  fp16 scales saturate at 65504, and rounding to
 * integers is total (quant_internal.h), so no input reaches undefined behaviour.
 */
#include <math.h>
#include <string.h>
#include "quant.h"
#include "ref/quant_ref.h"
#include "ref/quant_internal.h"

/* ==== Q4_K ============================================================================== */

/* ggml's make_qkx2_quants with nmax = 15, rmin = -1, rdelta = 0.1, nstep = 20, squared error.
 * Fits x ≈ scale * L - min_out (L in 0..15, min_out >= 0) minimising sum w (scale L + min - x)^2.
 * Returns scale, writes -min to *min_out and the levels to L. */
static float et__make_qkx2(const float *x, const float *w, uint8_t *L, float *min_out) {
    enum { N = 32, NMAX = 15, NSTEP = 20 };
    const float rmin = -1.0f, rdelta = 0.1f;
    uint8_t Laux[N];
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < N; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, N);
        *min_out = -min;
        return 0.0f;
    }
    float iscale = NMAX / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < N; i++) {
        int l = et__nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)(l < 0 ? 0 : l > NMAX ? NMAX : l);
        float diff = scale * L[i] + min - x[i];
        best_error += w[i] * (diff * diff);
    }
    for (int is = 0; is <= NSTEP; is++) {
        iscale = (rmin + rdelta * is + NMAX) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < N; i++) {
            int l = et__nearest_int(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > NMAX ? NMAX : l;
            Laux[i] = (uint8_t)l;
            sum_l  += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min   = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < N; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                cur_error += w[i] * (diff * diff);
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, N);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

/* Sub-block j's 6-bit scale and min from the packed 12 bytes (ggml's get_scale_min_k4). */
static inline void et__scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m  = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m  = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

static float et__amax(const float *x, int n) {
    float amax = 0.0f;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    return amax;
}

void et_ref_quantize_row_q4_k(const float *x, void *vy, int64_t n) {
    et_block_q4_K *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK_K; ib++, x += ET_QK_K) {
        uint8_t L[ET_QK_K];
        float weights[32], mins[ET_QK_K / 32], scales[ET_QK_K / 32];
        const int e = et__prescale_exp(et__amax(x, ET_QK_K));
        float xs[ET_QK_K];                 /* x, or x * 2^-e when its cubes would overflow */
        for (int i = 0; i < ET_QK_K; i++) xs[i] = e ? ldexpf(x[i], -e) : x[i];

        float max_scale = 0, max_min = 0;  /* scales and mins are >= 0 here */
        for (int j = 0; j < ET_QK_K / 32; j++) {
            const float *xb = xs + 32 * j;
            float sum_x2 = 0;
            for (int l = 0; l < 32; l++) sum_x2 += xb[l] * xb[l];
            float av_x = sqrtf(sum_x2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xb[l]);
            scales[j] = et__make_qkx2(xb, weights, L + 32 * j, &mins[j]);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
        float inv_min   = max_min   > 0 ? 63.f / max_min   : 0.f;
        memset(y[ib].scales, 0, sizeof y[ib].scales);
        for (int j = 0; j < ET_QK_K / 32; j++) {
            int ls = et__nearest_int(inv_scale * scales[j]);
            int lm = et__nearest_int(inv_min * mins[j]);
            ls = ls < 0 ? 0 : ls > 63 ? 63 : ls;
            lm = lm < 0 ? 0 : lm > 63 ? 63 : lm;
            if (j < 4) {
                y[ib].scales[j]     = (uint8_t)ls;
                y[ib].scales[j + 4] = (uint8_t)lm;
            } else {
                y[ib].scales[j + 4] = (uint8_t)((ls & 0xf) | ((lm & 0xf) << 4));
                y[ib].scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
                y[ib].scales[j]     |= (uint8_t)((lm >> 4) << 6);
            }
        }
        float d = ldexpf(max_scale / 63.f, e), dmin = ldexpf(max_min / 63.f, e);
        y[ib].d    = et_fp32_to_fp16(et__fp16_saturate(isfinite(d) ? d : 0.0f));
        y[ib].dmin = et_fp32_to_fp16(et__fp16_saturate(isfinite(dmin) ? dmin : 0.0f));

        /* recompute the quants for the rounded scales (L keeps make_qkx2's where d is 0) */
        for (int j = 0; j < ET_QK_K / 32; j++) {
            uint8_t sc, m;
            et__scale_min_k4(j, y[ib].scales, &sc, &m);
            const float dj = et_fp16_to_fp32(y[ib].d) * sc;
            if (!dj) continue;
            const float dm = et_fp16_to_fp32(y[ib].dmin) * m;
            for (int ii = 0; ii < 32; ii++) {
                int l = et__nearest_int((x[32 * j + ii] + dm) / dj);
                L[32 * j + ii] = (uint8_t)(l < 0 ? 0 : l > 15 ? 15 : l);
            }
        }
        uint8_t *q = y[ib].qs;
        for (int j = 0; j < ET_QK_K; j += 64, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
    }
}

void et_ref_dequantize_row_q4_k(const void *vx, float *y, int64_t n) {
    const et_block_q4_K *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK_K; ib++) {
        const float d = et_fp16_to_fp32(x[ib].d), dmin = et_fp16_to_fp32(x[ib].dmin);
        const uint8_t *q = x[ib].qs;
        for (int j = 0; j < ET_QK_K; j += 64, q += 32) {
            uint8_t sc, m;
            et__scale_min_k4(j / 32, x[ib].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            et__scale_min_k4(j / 32 + 1, x[ib].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

/* ==== Q6_K ============================================================================== */

/* ggml's make_qx_quants with n = 16, nmax = 32, rmse_type = 1 (weights x^2): symmetric levels
 * L - 32 in [-32, 31]; returns the (signed) scale, levels in L as 0..63.  eps is ggml's
 * GROUP_MAX_EPS in the units of x (scaled with x when the caller rescales). */
static float et__make_qx(const float *x, int8_t *L, float eps) {
    enum { N = 16, NMAX = 32 };
    float max = 0, amax = 0;
    for (int i = 0; i < N; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < eps) {
        memset(L, 0, N);
        return 0.0f;
    }
    float iscale = -NMAX / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < N; i++) {
        int l = et__nearest_int(iscale * x[i]);
        l = l < -NMAX ? -NMAX : l > NMAX - 1 ? NMAX - 1 : l;
        L[i] = (int8_t)(l + NMAX);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(NMAX + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < N; i++) {
            int l = et__nearest_int(iscale * x[i]);
            l = l < -NMAX ? -NMAX : l > NMAX - 1 ? NMAX - 1 : l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < N; i++) {
                int l = et__nearest_int(iscale * x[i]);
                L[i] = (int8_t)(NMAX + (l < -NMAX ? -NMAX : l > NMAX - 1 ? NMAX - 1 : l));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

void et_ref_quantize_row_q6_k(const float *x, void *vy, int64_t n) {
    et_block_q6_K *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK_K; ib++, x += ET_QK_K) {
        int8_t L[ET_QK_K];
        float scales[ET_QK_K / 16];
        const int e = et__prescale_exp(et__amax(x, ET_QK_K));
        float xs[ET_QK_K];
        for (int i = 0; i < ET_QK_K; i++) xs[i] = e ? ldexpf(x[i], -e) : x[i];

        const float eps = ldexpf(ET__GROUP_MAX_EPS, -e);   /* exact: e <= 128 */
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < ET_QK_K / 16; j++) {
            scales[j] = et__make_qx(xs + 16 * j, L + 16 * j, eps);
            if (fabsf(scales[j]) > max_abs_scale) {
                max_abs_scale = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        memset(&y[ib], 0, sizeof y[ib]);
        if (!(max_abs_scale >= eps)) continue;                   /* all zero (or NaN) */

        float iscale = -128.f / max_scale;
        float d = ldexpf(1 / iscale, e);
        y[ib].d = et_fp32_to_fp16(et__fp16_saturate(isfinite(d) ? d : 0.0f));
        for (int j = 0; j < ET_QK_K / 16; j++) {
            int s = et__nearest_int(iscale * scales[j]);
            y[ib].scales[j] = (int8_t)(s > 127 ? 127 : s < -128 ? -128 : s);
        }
        for (int j = 0; j < ET_QK_K / 16; j++) {
            const float dj = et_fp16_to_fp32(y[ib].d) * y[ib].scales[j];
            if (!dj) continue;
            for (int ii = 0; ii < 16; ii++) {
                int l = et__nearest_int(x[16 * j + ii] / dj);
                l = l < -32 ? -32 : l > 31 ? 31 : l;
                L[16 * j + ii] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = y[ib].ql, *qh = y[ib].qh;
        for (int j = 0; j < ET_QK_K; j += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                const uint8_t q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf;
                const uint8_t q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
                ql[l]      = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                  ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
        }
    }
}

void et_ref_dequantize_row_q6_k(const void *vx, float *y, int64_t n) {
    const et_block_q6_K *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK_K; ib++) {
        const float d = et_fp16_to_fp32(x[ib].d);
        const uint8_t *ql = x[ib].ql, *qh = x[ib].qh;
        const int8_t *sc = x[ib].scales;
        for (int j = 0; j < ET_QK_K; j += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xf)      | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4)       | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4)  | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l]      = d * sc[is + 0] * (float)q1;
                y[l + 32] = d * sc[is + 2] * (float)q2;
                y[l + 64] = d * sc[is + 4] * (float)q3;
                y[l + 96] = d * sc[is + 6] * (float)q4;
            }
        }
    }
}

/* ==== Q8_K (activations) ================================================================ */

void et_ref_quantize_row_q8_k(const float *x, void *vy, int64_t n) {
    et_block_q8_K *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK_K; ib++, x += ET_QK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < ET_QK_K; j++) {
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float iscale = amax ? -127.f / max : 0.0f;
        memset(&y[ib], 0, sizeof y[ib]);
        if (!isfinite(iscale) || iscale == 0.0f) continue;   /* zero, subnormal-only, inf */
        for (int j = 0; j < ET_QK_K; j++) {
            int v = et__nearest_int(iscale * x[j]);
            y[ib].qs[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int j = 0; j < ET_QK_K / 16; j++) {
            int sum = 0;
            for (int ii = 0; ii < 16; ii++) sum += y[ib].qs[16 * j + ii];
            y[ib].bsums[j] = (int16_t)sum;
        }
        y[ib].d = 1 / iscale;
    }
}
