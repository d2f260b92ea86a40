/* Scalar float16 / bfloat16 conversions: the reference every vector path is tested against.
 *
 * fp32→fp16 follows numpy's npy_floatbits_to_halfbits (round to nearest, ties to even; NaN
 * payload kept and kept a NaN), so F16 files match what the PyPI gguf package writes byte for
 * byte.  fp32→bf16 follows gguf-py / ggml: NaN forced quiet, else round to nearest even.
 */
#include <string.h>
#include "dtype.h"

static inline uint32_t et__f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float    et__u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t et_fp32_to_fp16(float f) {
    uint32_t x = et__f2u(f);
    uint16_t sgn = (uint16_t)((x & 0x80000000u) >> 16);
    uint32_t exp = x & 0x7f800000u;
    uint32_t sig;

    if (exp >= 0x47800000u) {                       /* overflow, inf or NaN */
        if (exp == 0x7f800000u && (x & 0x007fffffu)) {
            uint16_t r = (uint16_t)(0x7c00u + ((x & 0x007fffffu) >> 13));
            if (r == 0x7c00u) r++;                  /* keep it a NaN */
            return sgn + r;
        }
        return sgn + 0x7c00u;
    }
    if (exp <= 0x38000000u) {                       /* half subnormal or zero */
        if (exp < 0x33000000u) return sgn;
        uint32_t e = exp >> 23;
        sig = 0x00800000u + (x & 0x007fffffu);
        sig >>= (113 - e);
        /* ties to even; the shift may have dropped up to 11 sticky bits, checked in x */
        if (((sig & 0x3fffu) != 0x1000u) || (x & 0x7ffu)) sig += 0x1000u;
        return sgn + (uint16_t)(sig >> 13);
    }
    uint16_t hexp = (uint16_t)((exp - 0x38000000u) >> 13);
    sig = x & 0x007fffffu;
    if ((sig & 0x3fffu) != 0x1000u) sig += 0x1000u;
    /* a carry out of the significand bumps the exponent: the correct result, up to inf */
    return sgn + (uint16_t)(hexp + (uint16_t)(sig >> 13));
}

float et_fp16_to_fp32(uint16_t h) {
    uint32_t sgn = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t sig = h & 0x3ffu;
    if (exp == 0) {
        if (sig == 0) return et__u2f(sgn);
        /* subnormal: normalize */
        int shift = 0;
        while (!(sig & 0x400u)) { sig <<= 1; shift++; }
        sig &= 0x3ffu;
        return et__u2f(sgn | ((uint32_t)(113 - shift) << 23) | (sig << 13));
    }
    if (exp == 31) return et__u2f(sgn | 0x7f800000u | (sig << 13));
    return et__u2f(sgn | ((exp + 112) << 23) | (sig << 13));
}

uint16_t et_fp32_to_bf16(float f) {
    uint32_t u = et__f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);  /* quiet NaN */
    return (uint16_t)((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

float et_bf16_to_fp32(uint16_t h) { return et__u2f((uint32_t)h << 16); }

void et_ref_f32_to_f16(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = et_fp32_to_fp16(src[i]);
}
void et_ref_f16_to_f32(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = et_fp16_to_fp32(s[i]);
}
void et_ref_f32_to_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *d = dst;
    for (int64_t i = 0; i < n; i++) d[i] = et_fp32_to_bf16(src[i]);
}
void et_ref_bf16_to_f32(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = et_bf16_to_fp32(s[i]);
}
void et_ref_f32_copy(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
void et_ref_f32_copy_from(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * 4); }
