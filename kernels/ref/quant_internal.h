/* Helpers shared by the reference quantizers (kernels/ref/quant_*.c) and nothing else.
 *
 * Two things every quantizer needs and must get the same way:
 *   - rounding as ggml rounds: nearest_int() is round-half-to-even (ggml's 1.5*2^23 trick),
 *     made total here: NaN gives 0 and out-of-range values clamp instead of wrapping, so no
 *     input can reach an undefined float-to-int conversion;
 *   - a binary16 block scale that saturates: GGUF stores scales as fp16, and a scale beyond
 *     65504 would be written as inf, which dequantizes every element to inf or NaN.
 */
#ifndef ET_QUANT_INTERNAL_H
#define ET_QUANT_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include "dtype.h"

#define ET__FP16_MAX 65504.0f
/* ggml's GROUP_MAX_EPS: a sub-block whose absmax is below this is treated as all zero. */
#define ET__GROUP_MAX_EPS 1e-15f

/* Round half to even, as ggml's nearest_int() does for |v| <= 4194303 (its valid range). */
static inline int et__nearest_int(float v) {
    if (!(v == v)) return 0;
    if (v > 4194303.0f) return 4194303;
    if (v < -4194303.0f) return -4194303;
    return (int)lrintf(v);       /* default rounding mode: to nearest, ties to even */
}

/* d clamped to the finite binary16 range (sign kept); NaN passes through. */
static inline float et__fp16_saturate(float d) {
    if (d > ET__FP16_MAX) return ET__FP16_MAX;
    if (d < -ET__FP16_MAX) return -ET__FP16_MAX;
    return d;
}

/* True when d would be stored as an infinite half (an infinite d or a round-to-nearest
 * overflow): exactly when the saturated path replaces gguf's. */
static inline int et__fp16_overflows(float d) {
    return (et_fp32_to_fp16(d) & 0x7fffu) == 0x7c00u;
}

/* 1/d, or 0 when d is 0 or so small that 1/d overflows: the zero-scale guard. */
static inline float et__safe_inv(float d) {
    if (d == 0.0f) return 0.0f;
    float id = 1.0f / d;
    return isfinite(id) ? id : 0.0f;
}

/* Exponent e such that ldexpf(amax, -e) lies in [0.5, 1), used to rescale blocks whose
 * squared values would overflow float in ggml's least-squares scale searches.  Scaling by a
 * power of two is exact, so for blocks that do not overflow the result is bit-identical. */
static inline int et__prescale_exp(float amax) {
    if (!(amax > 65536.0f) || isinf(amax)) return 0;
    int e;
    frexpf(amax, &e);
    return e;
}

#endif
