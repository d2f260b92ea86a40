/* Weight decoders used inside the kernels: one row (or a column range of it) of any weight
 * type into the forms the micro-kernels consume — int8 quants with a scale (and min) per group
 * for the integer kernels, or f32 for the f32/bf16 kernels and dX.  They read GGUF's block
 * layouts (kernels/quant.h) directly; the scalar references in kernels/ref/ are the oracle the
 * tests hold them to.  Portable C with GCC vector extensions (SSE/AVX2 on x86-64-v3, NEON on
 * aarch64), written so that every loop has a constant trip count: -O2 vectorizes nothing
 * else, and at 64 tokens a dX or matmul spends as long decoding W as multiplying by it.
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
    et__i8x16 cb;
    memcpy(&cb, et__iq4nl_values, 16);
    for (int64_t i = 0; i < w->K / ET_QK4_NL; i++, q += 32) {
        dw[i] = et_fp16_to_fp32(b[i].d);
        et__u8x16 v;
        memcpy(&v, b[i].qs, 16);
        et__i8x16 lo = __builtin_shuffle(cb, v & 0xF), hi = __builtin_shuffle(cb, v >> 4);   /* pshufb / tbl */
        memcpy(q, &lo, 16);
        memcpy(q + 16, &hi, 16);
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
            for (int l = 0; l < 32; l += 16) {   /* 16 lanes at a time */
                et__u8x16 a, b, c;
                memcpy(&a, ql + l, 16);
                memcpy(&b, ql + l + 32, 16);
                memcpy(&c, qh + l, 16);
                et__i8x16 v0 = (et__i8x16)((a & 0xF) | ((c & 3) << 4)) - 32;
                et__i8x16 v1 = (et__i8x16)((b & 0xF) | (((c >> 2) & 3) << 4)) - 32;
                et__i8x16 v2 = (et__i8x16)((a >> 4) | (((c >> 4) & 3) << 4)) - 32;
                et__i8x16 v3 = (et__i8x16)((b >> 4) | ((c >> 6) << 4)) - 32;
                memcpy(y + l, &v0, 16);
                memcpy(y + l + 32, &v1, 16);
                memcpy(y + l + 64, &v2, 16);
                memcpy(y + l + 96, &v3, 16);
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

/* F16C / NEON convert 8 halves at a time; the bit-level reference elsewhere. */
#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif
static void et__decf_f16(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
    const uint16_t *s = (const uint16_t *)et__row(w, n) + k0;
    int64_t k = 0;
#if defined(__F16C__)
    for (; k + 8 <= nk; k += 8) _mm256_storeu_ps(y + k, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + k))));
#elif defined(__aarch64__)
    for (; k + 8 <= nk; k += 8) {
        float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(s + k));
        vst1q_f32(y + k, vcvt_f32_f16(vget_low_f16(h)));
        vst1q_f32(y + k + 4, vcvt_high_f32_f16(h));
    }
#endif
    for (; k < nk; k++) y[k] = et_fp16_to_fp32(s[k]);
}

typedef uint16_t et__u16x8 __attribute__((vector_size(16)));
typedef uint32_t et__u32x8 __attribute__((vector_size(32)));
typedef int32_t  et__i32x8 __attribute__((vector_size(32)));
typedef float    et__f32x8 __attribute__((vector_size(32)));

static void et__decf_bf16(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
    const uint16_t *s = (const uint16_t *)et__row(w, n) + k0;
    int64_t k = 0;
    for (; k + 8 <= nk; k += 8) {
        et__u16x8 h;
        memcpy(&h, s + k, 16);
        et__u32x8 u = __builtin_convertvector(h, et__u32x8) << 16;
        memcpy(y + k, &u, 32);
    }
    for (; k < nk; k++) {
        uint32_t u = (uint32_t)s[k] << 16;
        memcpy(&y[k], &u, 4);
    }
}

/* y[0..8) = d * q[0..8) + m (fused where the target has FMA, as the compiler contracts the
 * scalar form) */
static inline void et__dq8(const int8_t *q, float d, float m, float *y) {
#if defined(__AVX2__) && defined(__FMA__)
    __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
    _mm256_storeu_ps(y, _mm256_fmadd_ps(f, _mm256_set1_ps(d), _mm256_set1_ps(m)));
#elif defined(__aarch64__)
    int16x8_t v = vmovl_s8(vld1_s8(q));
    float32x4_t a = vcvtq_f32_s32(vmovl_s16(vget_low_s16(v))), b = vcvtq_f32_s32(vmovl_high_s16(v));
    vst1q_f32(y, vfmaq_n_f32(vdupq_n_f32(m), a, d));
    vst1q_f32(y + 4, vfmaq_n_f32(vdupq_n_f32(m), b, d));
#else
    for (int j = 0; j < 8; j++) y[j] = d * q[j] + m;
#endif
}

/* Integer types through their int8 form, in pieces of up to 512 elements (k0, nk multiples
 * of the type's block): one decoder call per piece, then 8 at a time per group. */
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
            for (int j = 0; j < G; j += 8) et__dq8(q + g * G + j, d, mn, o + g * G + j);
        }
    }
}

/* NF4: x = code[nibble] * absmax(block); element 2j in the high nibble of qs[j]. */
static void et__decf_nf4(const et__wdesc *w, int64_t n, int64_t k0, int64_t nk, float *y) {
#if defined(__AVX2__)
    const __m256 clo = _mm256_loadu_ps(et__nf4_code), chi = _mm256_loadu_ps(et__nf4_code + 8);
#else
    typedef uint8_t et__u8x8 __attribute__((vector_size(8)));
    et__f32x8 lo, hi;   /* the codebook's entries 0-7 and 8-15 */
    memcpy(&lo, et__nf4_code, 32);
    memcpy(&hi, et__nf4_code + 8, 32);
#endif
    const et__u8x16 even = { 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23 };
    const et__u8x16 odd = { 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31 };
    int64_t bpr = w->K / ET_QKNF4, nblocks = bpr * w->N;
    const et_block_nf4 *b = (const et_block_nf4 *)et__row(w, n) + k0 / ET_QKNF4;
    for (int64_t i = 0; i < nk / ET_QKNF4; i++, y += ET_QKNF4) {
        const float amax = et__nf4_absmax(w->base, nblocks, n * bpr + k0 / ET_QKNF4 + i);
        for (int h = 0; h < 2; h++) {   /* 16 bytes: elements 32h .. 32h+31 */
            et__u8x16 v;
            memcpy(&v, b[i].qs + 16 * h, 16);
            const et__u8x16 hn = v >> 4, ln = v & 0xF;   /* element 2j high, 2j+1 low */
            et__u8x16 idx[2] = { __builtin_shuffle(hn, ln, even), __builtin_shuffle(hn, ln, odd) };
            for (int c = 0; c < 4; c++) {
#if defined(__AVX2__)   /* GCC widens u8 lanes one at a time: the intrinsics instead */
                __m256i ix = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)((const uint8_t *)idx + 8 * c)));
                __m256 f = _mm256_blendv_ps(_mm256_permutevar8x32_ps(clo, ix), _mm256_permutevar8x32_ps(chi, ix),
                                            _mm256_castsi256_ps(_mm256_slli_epi32(ix, 28)));
                _mm256_storeu_ps(y + 32 * h + 8 * c, _mm256_mul_ps(f, _mm256_set1_ps(amax)));
#else
                et__u8x8 i8;
                memcpy(&i8, (const uint8_t *)idx + 8 * c, 8);
                et__i32x8 ix = __builtin_convertvector(i8, et__i32x8);
                et__f32x8 f = __builtin_shuffle(lo, hi, ix) * amax;
                memcpy(y + 32 * h + 8 * c, &f, 32);
#endif
            }
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
