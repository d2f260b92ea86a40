/* Weight decoders used inside the kernels: one row (or a column range of it) of any weight
 * type into the forms the micro-kernels consume — int8 quants with a scale (and min) per group
 * for the integer kernels, or f32 for the f32/bf16 kernels and dX.  They read GGUF's block
 * layouts (kernels/quant.h) directly; the scalar references in kernels/ref/ are the oracle the
 * tests hold them to.  Portable C: they run once per strip and are amortized over the tokens
 * of a matmul, so clarity beats speed here (the T == 1 paths have their own SIMD loops).
 *
 * Integer form:  w[k] = dw[g] * q[k] + mw[g]  with q int8 and g = k / G:
 *   Q8_0  q           G 32          Q4_0  nibble - 8    G 32       IQ4_NL  codebook[nibble]
 *   Q4_1  nibble, mw = m            Q4_K  nibble, dw = d*sc, mw = -dmin*m (sub-blocks of 32)
 *   Q6_K  6-bit - 32, dw = d*sc, G 16
 *   Q5_0  5-bit - 16  G 32          Q5_1  5-bit, mw = m      (high bits from qh)
 */
#include <string.h>
#include "kern_priv.h"
#include "quant.h"
#include "ref/quant_ref.h"

/* bitsandbytes' NF4 codebook (QLoRA appendix E), ascending. */
const float et__nf4_code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f,
};

/* IQ4_NL's non-linear codebook (ggml kvalues_iq4nl). */
const int8_t et__iq4nl_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
                                      1, 13, 25, 38, 53, 69, 89, 113 };

/* 16 bytes → their 16 low nibbles and 16 high nibbles (GCC vector extensions: SSE/NEON). */
typedef uint8_t et__u8x16 __attribute__((vector_size(16)));
typedef int8_t  et__i8x16 __attribute__((vector_size(16)));

static inline void et__nibbles(const uint8_t *qs, int8_t *lo, int8_t *hi, int8_t bias) {
    et__u8x16 v;
    memcpy(&v, qs, 16);
    et__i8x16 l = (et__i8x16)(v & 0xF) - bias, h = (et__i8x16)(v >> 4) - bias;
    memcpy(lo, &l, 16);
    memcpy(hi, &h, 16);
}

static inline const uint8_t *et__row(const et__wdesc *w, int64_t n) {
    return (const uint8_t *)w->base + (size_t)n * w->ldw;
}

/* ---- integer form --------------------------------------------------------------------------- */

static void et__dec_q8_0(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_q8_0 *b = (const et_block_q8_0 *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK8_0; i++) {
        dw[i] = et_fp16_to_fp32(b[i].d);
        memcpy(q + i * 32, b[i].qs, 32);
    }
}

static void et__dec_q4_0(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_q4_0 *b = (const et_block_q4_0 *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK4_0; i++, q += 32) {
        dw[i] = et_fp16_to_fp32(b[i].d);
        et__nibbles(b[i].qs, q, q + 16, 8);
    }
}

static void et__dec_q4_1(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_q4_1 *b = (const et_block_q4_1 *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK4_1; i++, q += 32) {
        dw[i] = et_fp16_to_fp32(b[i].d);
        mw[i] = et_fp16_to_fp32(b[i].m);
        et__nibbles(b[i].qs, q, q + 16, 0);
    }
}

/* Q5: the nibbles as Q4, then bit j of qh (a little-endian uint32) adds 16 to quant j.  The
 * bits are spread to bytes by a byte shuffle (qh[j / 8] to byte j) and a per-byte bit mask. */
static inline void et__fives(const uint8_t *qh, const uint8_t *qs, int8_t *q, int8_t bias) {
    const et__u8x16 sel = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const et__u8x16 lo_idx = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
    const et__u8x16 hi_idx = {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
    et__u8x16 v, h = {0};
    memcpy(&v, qs, 16);
    memcpy(&h, qh, 4);
    et__u8x16 blo = (__builtin_shuffle(h, lo_idx) & sel) != 0, bhi = (__builtin_shuffle(h, hi_idx) & sel) != 0;
    et__i8x16 l = (et__i8x16)((v & 0xF) | (blo & 0x10)) - bias, u = (et__i8x16)((v >> 4) | (bhi & 0x10)) - bias;
    memcpy(q, &l, 16);
    memcpy(q + 16, &u, 16);
}

static void et__dec_q5_0(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_q5_0 *b = (const et_block_q5_0 *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK5_0; i++, q += 32) {
        dw[i] = et_fp16_to_fp32(b[i].d);
        et__fives(b[i].qh, b[i].qs, q, 16);
    }
}

static void et__dec_q5_1(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_q5_1 *b = (const et_block_q5_1 *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK5_1; i++, q += 32) {
        dw[i] = et_fp16_to_fp32(b[i].d);
        mw[i] = et_fp16_to_fp32(b[i].m);
        et__fives(b[i].qh, b[i].qs, q, 0);
    }
}

static void et__dec_iq4_nl(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_iq4_nl *b = (const et_block_iq4_nl *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK4_NL; i++, q += 32) {
        dw[i] = et_fp16_to_fp32(b[i].d);
        for (int j = 0; j < 16; j++) {
            q[j]      = et__iq4nl_values[b[i].qs[j] & 0xF];
            q[j + 16] = et__iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

/* Q4_K's 6-bit scale and min of sub-block j (ggml get_scale_min_k4). */
static inline void et__k4_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m  = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
        *m  = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

static void et__dec_q4_k(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_q4_K *b = (const et_block_q4_K *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK_K; i++) {
        float d = et_fp16_to_fp32(b[i].d), dmin = et_fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 4; j++) {          /* 64 elements: low nibbles, then high */
            const uint8_t *qs = b[i].qs + 32 * j;
            for (int h = 0; h < 2; h++) {
                uint8_t sc, m;
                et__k4_scale_min(2 * j + h, b[i].scales, &sc, &m);
                *dw++ = d * sc;
                *mw++ = -(dmin * m);
            }
            et__nibbles(qs, q, q + 32, 0);
            et__nibbles(qs + 16, q + 16, q + 48, 0);
            q += 64;
        }
    }
}

static void et__dec_q6_k(const et__wdesc *w, int64_t n, int8_t *q, float *dw, float *mw) {
    const et_block_q6_K *b = (const et_block_q6_K *)et__row(w, n);
    for (int64_t i = 0; i < w->K / ET_QK_K; i++, q += 256, dw += 16) {
        float d = et_fp16_to_fp32(b[i].d);
        for (int s = 0; s < 16; s++) dw[s] = d * b[i].scales[s];
        for (int h = 0; h < 2; h++) {          /* 128 elements from 64 ql, 32 qh */
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            int8_t *y = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                y[l]      = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
                y[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                y[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                y[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}

et__dec_i8_fn et__dec_i8_for(et_type t, int *G, bool *has_min) {
    *G = 32;
    *has_min = false;
    switch (t) {
    case ET_Q8_0:   return et__dec_q8_0;
    case ET_Q4_0:   return et__dec_q4_0;
    case ET_IQ4_NL: return et__dec_iq4_nl;
    case ET_Q4_1:   *has_min = true; return et__dec_q4_1;
    case ET_Q5_0:   return et__dec_q5_0;
    case ET_Q5_1:   *has_min = true; return et__dec_q5_1;
    case ET_Q4_K:   *has_min = true; return et__dec_q4_k;
    case ET_Q6_K:   *G = 16; return et__dec_q6_k;
    default:        return NULL;
    }
}

/* ---- f32 form ------------------------------------------------------------------------------ */

static void et__decf_f32(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
    memcpy(y, (const float *)et__row(w, n) + k0, (size_t)nk * sizeof(float));
}

static void et__decf_f16(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
    const uint16_t *s = (const uint16_t *)et__row(w, n) + k0;
    for (int64_t k = 0; k < nk; k++) y[k] = et_fp16_to_fp32(s[k]);
}

static void et__decf_bf16(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
    const uint16_t *s = (const uint16_t *)et__row(w, n) + k0;
    for (int64_t k = 0; k < nk; k++) {
        uint32_t u = (uint32_t)s[k] << 16;
        memcpy(&y[k], &u, 4);
    }
}

/* Integer types through their int8 form, in pieces of up to 512 elements (k0, nk multiples
 * of the type's block): one decoder call per piece, then a loop the compiler vectorizes. */
static void et__decf_int(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
    int G;
    bool has_min;
    et__dec_i8_fn dec = et__dec_i8_for(w->type, &G, &has_min);
    const int64_t bs = et_type_get(w->type)->blck_size;
    const size_t bsz = et_type_get(w->type)->type_size;
    int8_t q[512];
    float dw[512 / 16], mw[512 / 16];
    for (int64_t kb = k0; kb < k0 + nk; kb += 512) {
        int64_t m = k0 + nk - kb < 512 ? k0 + nk - kb : 512;
        et__wdesc piece = { w->type, et__row(w, n) + (size_t)(kb / bs) * bsz, 0, m, 1 };
        dec(&piece, 0, q, dw, mw);
        float *o = y + (kb - k0);
        for (int64_t g = 0; g < m / G; g++) {
            const float d = dw[g], mn = has_min ? mw[g] : 0.0f;
            for (int j = 0; j < G; j++) o[g * G + j] = d * q[g * G + j] + mn;
        }
    }
}

/* NF4: x = code[nibble] * absmax(block); element 2j in the high nibble of qs[j]. */
static void et__decf_nf4(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
    int64_t bpr = w->K / ET_QKNF4, nblocks = bpr * w->N;
    const et_block_nf4 *b = (const et_block_nf4 *)et__row(w, n) + k0 / ET_QKNF4;
    for (int64_t i = 0; i < nk / ET_QKNF4; i++, y += ET_QKNF4) {
        float amax = et__nf4_absmax(w->base, nblocks, n * bpr + k0 / ET_QKNF4 + i);
        for (int j = 0; j < ET_QKNF4 / 2; j++) {
            y[2 * j]     = et__nf4_code[b[i].qs[j] >> 4] * amax;
            y[2 * j + 1] = et__nf4_code[b[i].qs[j] & 0xF] * amax;
        }
    }
}

float et__nf4_absmax(const void *base, int64_t nblocks, int64_t b) {
    return et_nf4_block_absmax(base, nblocks, b);
}

et__dec_f32_fn et__dec_f32_for(et_type t) {
    switch (t) {
    case ET_F32:  return et__decf_f32;
    case ET_F16:  return et__decf_f16;
    case ET_BF16: return et__decf_bf16;
    case ET_NF4:  return et__decf_nf4;
    case ET_Q8_0: case ET_Q4_0: case ET_Q4_1: case ET_Q5_0: case ET_Q5_1: case ET_IQ4_NL:
    case ET_Q4_K: case ET_Q6_K:
        return et__decf_int;
    default:      return NULL;
    }
}
