/* Reference quantize / dequantize for the 32-element GGUF formats: Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, IQ4_NL.
 *
 * Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 reproduce the PyPI gguf package's numpy quantizers byte for byte
 * (gguf/quants.py, which in turn reproduces ggml's quantize_row_*_ref):
 *   Q8_0  d = amax / 127, q = roundf(x * (1/d))            (round half away from zero)
 *   Q4_0  d = max / -8 (max = the signed value of largest magnitude, first one on ties),
 *         q = trunc((double)x * (double)(1/d) + 8.5) rounded to float, clipped to 15.
 *         gguf evaluates the product in float64 to stand in for the FMA ggml's C code gets
 *         from the compiler; a float64 product of two floats is exact, so this is one
 *         rounding, then numpy rounds to float32 before the truncation (np.trunc(dtype=f32)).
 *   Q4_1  d = (max - min) / 15, q = trunc((x - min) * (1/d) + 0.5f), all in float32.
 *   Q5_0  Q4_0's rule with 5 bits: d = max / -16, q = trunc((double)x * (double)(1/d) + 16.5)
 *         rounded to float, clipped to 31.
 *   Q5_1  Q4_1's rule with 5 bits: d = (max - min) / 31, q clipped to 31.
 * IQ4_NL follows llama.cpp's quantize_iq4_nl without an importance matrix, i.e. what
 * llama-quantize writes: quantize_row_iq4_nl_impl with ntry = 7 (a search over 15 candidate
 * scales with weights x^2, then every quant recomputed for the chosen float scale).
 * ggml's quantize_row_iq4_nl_ref is a faster variant without the search (ntry = -1); gguf
 * has no quantizer for IQ4_NL at all.
 *
 * Departures, only where gguf's output would be unusable: a scale that overflows binary16
 * saturates at ±65504 (and the quants are computed for that scale, so values clip), and a
 * scale whose reciprocal overflows float (subnormal input) quantizes to all-zero quants.
 */
#include <math.h>
#include <string.h>
#include "quant.h"
#include "ref/quant_ref.h"
#include "ref/quant_internal.h"

const int8_t et_iq4nl_values[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* ==== Q8_0 ============================================================================== */

void et_ref_quantize_row_q8_0(const float *x, void *vy, int64_t n) {
    et_block_q8_0 *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK8_0; ib++, x += ET_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < ET_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        if (et__fp16_overflows(d)) d = et__fp16_saturate(d);
        float id = et__safe_inv(d);
        y[ib].d = et_fp32_to_fp16(d);
        for (int j = 0; j < ET_QK8_0; j++) {
            float q = roundf(x[j] * id);                  /* half away from zero, like gguf */
            q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
            y[ib].qs[j] = (int8_t)(q == q ? q : 0.0f);
        }
    }
}

void et_ref_dequantize_row_q8_0(const void *vx, float *y, int64_t n) {
    const et_block_q8_0 *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK8_0; ib++, y += ET_QK8_0) {
        const float d = et_fp16_to_fp32(x[ib].d);
        for (int j = 0; j < ET_QK8_0; j++) y[j] = (float)x[ib].qs[j] * d;
    }
}

/* ==== Q4_0 ============================================================================== */

/* The signed value of largest magnitude (the first on ties, as numpy's argmax and ggml). */
static float et__signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    }
    return max;
}

/* A float quant value clipped to [0, hi] (NaN to 0) as a small unsigned integer. */
static inline uint8_t et__clip_u(float q, float hi) {
    if (!(q >= 0.0f)) return 0;
    return (uint8_t)(q > hi ? hi : q);
}

void et_ref_quantize_row_q4_0(const float *x, void *vy, int64_t n) {
    et_block_q4_0 *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK4_0; ib++, x += ET_QK4_0) {
        float d = et__signed_absmax(x, ET_QK4_0) / -8.0f;
        if (et__fp16_overflows(d)) d = et__fp16_saturate(d);
        const float id = et__safe_inv(d);
        y[ib].d = et_fp32_to_fp16(d);
        for (int j = 0; j < ET_QK4_0 / 2; j++) {
            /* one rounding of x*id + 8.5 (double), then to float, then truncation */
            float v0 = (float)((double)x[j] * (double)id + 8.5);
            float v1 = (float)((double)x[j + ET_QK4_0 / 2] * (double)id + 8.5);
            uint8_t q0 = et__clip_u(truncf(v0), 15.0f);
            uint8_t q1 = et__clip_u(truncf(v1), 15.0f);
            y[ib].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void et_ref_dequantize_row_q4_0(const void *vx, float *y, int64_t n) {
    const et_block_q4_0 *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK4_0; ib++, y += ET_QK4_0) {
        const float d = et_fp16_to_fp32(x[ib].d);
        for (int j = 0; j < ET_QK4_0 / 2; j++) {
            y[j]                = (float)((x[ib].qs[j] & 0x0f) - 8) * d;
            y[j + ET_QK4_0 / 2] = (float)((x[ib].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ==== Q4_1 ============================================================================== */

void et_ref_quantize_row_q4_1(const float *x, void *vy, int64_t n) {
    et_block_q4_1 *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK4_1; ib++, x += ET_QK4_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < ET_QK4_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        float d = (max - min) / 15.0f;
        if (et__fp16_overflows(min) || et__fp16_overflows(d)) {
            /* gguf would store an inf: keep the min and the step finite, values clip */
            min = et__fp16_saturate(min);
            d = et__fp16_saturate((max - min) / 15.0f);
        }
        const float id = et__safe_inv(d);
        y[ib].d = et_fp32_to_fp16(d);
        y[ib].m = et_fp32_to_fp16(min);
        for (int j = 0; j < ET_QK4_1 / 2; j++) {
            uint8_t q0 = et__clip_u(truncf((x[j] - min) * id + 0.5f), 15.0f);
            uint8_t q1 = et__clip_u(truncf((x[j + ET_QK4_1 / 2] - min) * id + 0.5f), 15.0f);
            y[ib].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void et_ref_dequantize_row_q4_1(const void *vx, float *y, int64_t n) {
    const et_block_q4_1 *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK4_1; ib++, y += ET_QK4_1) {
        const float d = et_fp16_to_fp32(x[ib].d);
        const float m = et_fp16_to_fp32(x[ib].m);
        for (int j = 0; j < ET_QK4_1 / 2; j++) {
            y[j]                = d * (float)(x[ib].qs[j] & 0x0f) + m;
            y[j + ET_QK4_1 / 2] = d * (float)(x[ib].qs[j] >> 4) + m;
        }
    }
}

/* ==== Q5_0 / Q5_1 ======================================================================= */

/* 32 five-bit quants into a Q5 block's qs (low nibbles: j and j+16) and qh (bit j = bit 4 of
 * quant j, as a little-endian uint32). */
static void et__pack5(const uint8_t q[32], uint8_t qh[4], uint8_t qs[16]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        h |= (uint32_t)(q[j] >> 4) << j;
        h |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    for (int b = 0; b < 4; b++) qh[b] = (uint8_t)(h >> (8 * b));
}

/* The inverse: 32 five-bit quants (0..31) of a block. */
static void et__unpack5(const uint8_t qh[4], const uint8_t qs[16], int q[32]) {
    const uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    for (int j = 0; j < 16; j++) {
        q[j]      = (qs[j] & 0x0F) | (int)((h >> j) & 1) << 4;
        q[j + 16] = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4;
    }
}

void et_ref_quantize_row_q5_0(const float *x, void *vy, int64_t n) {
    et_block_q5_0 *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK5_0; ib++, x += ET_QK5_0) {
        float d = et__signed_absmax(x, ET_QK5_0) / -16.0f;
        if (et__fp16_overflows(d)) d = et__fp16_saturate(d);
        const float id = et__safe_inv(d);
        y[ib].d = et_fp32_to_fp16(d);
        uint8_t q[ET_QK5_0];
        for (int j = 0; j < ET_QK5_0; j++)    /* Q4_0's single rounding, then truncation */
            q[j] = et__clip_u(truncf((float)((double)x[j] * (double)id + 16.5)), 31.0f);
        et__pack5(q, y[ib].qh, y[ib].qs);
    }
}

void et_ref_dequantize_row_q5_0(const void *vx, float *y, int64_t n) {
    const et_block_q5_0 *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK5_0; ib++, y += ET_QK5_0) {
        const float d = et_fp16_to_fp32(x[ib].d);
        int q[ET_QK5_0];
        et__unpack5(x[ib].qh, x[ib].qs, q);
        for (int j = 0; j < ET_QK5_0; j++) y[j] = d * (float)(q[j] - 16);
    }
}

void et_ref_quantize_row_q5_1(const float *x, void *vy, int64_t n) {
    et_block_q5_1 *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK5_1; ib++, x += ET_QK5_1) {
        float min = x[0], max = x[0];
        for (int j = 1; j < ET_QK5_1; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        float d = (max - min) / 31.0f;
        if (et__fp16_overflows(min) || et__fp16_overflows(d)) {   /* as Q4_1 */
            min = et__fp16_saturate(min);
            d = et__fp16_saturate((max - min) / 31.0f);
        }
        const float id = et__safe_inv(d);
        y[ib].d = et_fp32_to_fp16(d);
        y[ib].m = et_fp32_to_fp16(min);
        uint8_t q[ET_QK5_1];
        for (int j = 0; j < ET_QK5_1; j++) q[j] = et__clip_u(truncf((x[j] - min) * id + 0.5f), 31.0f);
        et__pack5(q, y[ib].qh, y[ib].qs);
    }
}

void et_ref_dequantize_row_q5_1(const void *vx, float *y, int64_t n) {
    const et_block_q5_1 *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK5_1; ib++, y += ET_QK5_1) {
        const float d = et_fp16_to_fp32(x[ib].d);
        const float m = et_fp16_to_fp32(x[ib].m);
        int q[ET_QK5_1];
        et__unpack5(x[ib].qh, x[ib].qs, q);
        for (int j = 0; j < ET_QK5_1; j++) y[j] = d * (float)q[j] + m;
    }
}

/* ==== IQ4_NL ============================================================================ */

/* Index of the codebook value nearest to v (ggml's best_index_int8: ties go up). */
static int et__iq4nl_index(float v) {
    const int8_t *val = et_iq4nl_values;
    if (v <= val[0]) return 0;
    if (v >= val[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < val[mid]) hi = mid; else lo = mid;
    }
    return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

/* ggml's scale search for one 32-element block with weights x^2 and ntry = 7: start from
 * d = max / 127 (max -> -127), then try inverse scales (k - 127) / max for k in -7..7 and keep
 * the least-squares d of the assignment with the best sum(w q x)^2 / sum(w q^2).  x must not
 * overflow when cubed (the caller rescales by a power of two).  Returns the scale. */
static float et__iq4nl_search(const float *x, float max) {
    const int8_t *val = et_iq4nl_values;
    float d = -max / val[0];
    float id = 1.0f / d;
    float sumqx = 0.0f, sumq2 = 0.0f;
    for (int j = 0; j < ET_QK4_NL; j++) {
        float q = val[et__iq4nl_index(id * x[j])];
        float w = x[j] * x[j];
        sumqx += w * q * x[j];
        sumq2 += w * q * q;
    }
    d = sumqx / sumq2;
    float best = d * sumqx;
    for (int itry = -7; itry <= 7; itry++) {
        id = (itry + val[0]) / max;
        sumqx = sumq2 = 0.0f;
        for (int j = 0; j < ET_QK4_NL; j++) {
            float q = val[et__iq4nl_index(id * x[j])];
            float w = x[j] * x[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

void et_ref_quantize_row_iq4_nl(const float *x, void *vy, int64_t n) {
    et_block_iq4_nl *y = vy;
    for (int64_t ib = 0; ib < n / ET_QK4_NL; ib++, x += ET_QK4_NL) {
        float max = et__signed_absmax(x, ET_QK4_NL);
        float d = 0.0f;
        if (fabsf(max) >= ET__GROUP_MAX_EPS) {
            const int e = et__prescale_exp(fabsf(max));
            if (e) {
                float xs[ET_QK4_NL];
                for (int j = 0; j < ET_QK4_NL; j++) xs[j] = ldexpf(x[j], -e);
                d = ldexpf(et__iq4nl_search(xs, ldexpf(max, -e)), e);
            } else {
                d = et__iq4nl_search(x, max);
            }
            if (!isfinite(d)) d = 0.0f;          /* inf input: no usable scale */
        }
        d = et__fp16_saturate(d);
        y[ib].d = et_fp32_to_fp16(d);
        const float id = et__safe_inv(d);
        for (int j = 0; j < ET_QK4_NL / 2; j++) {
            int l0 = et__iq4nl_index(id * x[j]);
            int l1 = et__iq4nl_index(id * x[j + ET_QK4_NL / 2]);
            y[ib].qs[j] = (uint8_t)(l0 | (l1 << 4));
        }
    }
}

void et_ref_dequantize_row_iq4_nl(const void *vx, float *y, int64_t n) {
    const et_block_iq4_nl *x = vx;
    for (int64_t ib = 0; ib < n / ET_QK4_NL; ib++, y += ET_QK4_NL) {
        const float d = et_fp16_to_fp32(x[ib].d);
        for (int j = 0; j < ET_QK4_NL / 2; j++) {
            y[j]                 = d * (float)et_iq4nl_values[x[ib].qs[j] & 0x0f];
            y[j + ET_QK4_NL / 2] = d * (float)et_iq4nl_values[x[ib].qs[j] >> 4];
        }
    }
}
