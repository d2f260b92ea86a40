/* Row primitives of softmax and log-sum-exp: max, exp with an affine argument, and sums of
 * exponentials — the inner loops of attention and the chunked cross-entropy, where a scalar
 * expf per element was a third of a small model's training step.
 *
 * The exponential is Cephes' single-precision scheme on 8-wide vectors (GCC vector
 * extensions: AVX2+FMA on the x86-64-v3 baseline, two NEON registers on aarch64):
 *   n = round(x·log2 e),  r = x − n·ln 2  (ln 2 split in two, so r is exact),
 *   e^r ≈ 1 + r + r²·P(r)  (degree-5 P, |error| < 1 ulp on [−ln2/2, ln2/2]),  e^x = 2^n · e^r.
 * Arguments below −87.3 (where 2^n would leave the normal range) give exactly 0, so masked
 * scores (−inf) vanish; above 88.37 give +inf; NaN propagates.  Measured against expf by
 * tests/test_rowops.c (≤ 2 ulp).  On the ref path every function is the plain scalar loop
 * with expf: the living definition the vector code is tested against.
 * Sums are accumulated in float lanes, then added in a fixed order: deterministic.
 */
#include <math.h>
#include <string.h>
#include "kernels.h"

typedef float   et__v8f __attribute__((vector_size(32)));
typedef int32_t et__v8i __attribute__((vector_size(32)));

static inline et__v8f et__ld8(const float *p) { et__v8f v; memcpy(&v, p, sizeof v); return v; }
static inline void    et__st8(float *p, et__v8f v) { memcpy(p, &v, sizeof v); }
static inline et__v8f et__splat(float f) { return (et__v8f){f, f, f, f, f, f, f, f}; }
static inline et__v8f et__sel(et__v8i m, et__v8f a, et__v8f b) {   /* m ? a : b */
    return (et__v8f)((m & (et__v8i)a) | (~m & (et__v8i)b));
}

static inline et__v8f et__vexp(et__v8f x) {
    const et__v8f hi = et__splat(88.3762626647949f), lo = et__splat(-87.3365447504f);
    const et__v8f magic = et__splat(12582912.0f);   /* 1.5 · 2^23: adding it rounds to an integer */
    et__v8i under = x < lo, over = x > hi;
    x = et__sel(under, lo, et__sel(over, hi, x));
    et__v8f t = x * et__splat(1.44269504088896341f) + magic;
    et__v8i n = (et__v8i)t - (et__v8i)magic;        /* the integer, from t's low mantissa bits */
    et__v8f fn = t - magic;
    et__v8f r = x - fn * et__splat(0.693359375f) - fn * et__splat(-2.12194440e-4f);
    et__v8f p = et__splat(1.9875691500e-4f);
    p = p * r + et__splat(1.3981999507e-3f);
    p = p * r + et__splat(8.3334519073e-3f);
    p = p * r + et__splat(4.1665795894e-2f);
    p = p * r + et__splat(1.6666665459e-1f);
    p = p * r + et__splat(5.0000001201e-1f);
    p = p * r * r + r + et__splat(1.0f);
    et__v8f y = p * (et__v8f)((n + 127) << 23);
    y = (et__v8f)((et__v8i)y & ~under);
    return et__sel(over, et__splat(INFINITY), y);
}

static inline float et__hsum(et__v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

static bool et__ref(void) { return et_kern_isa() == ET_ISA_REF; }

float et_kern_row_max(const float *x, int64_t n) {
    float m = -INFINITY;
    int64_t j = 0;
    if (!et__ref() && n >= 8) {
        et__v8f vm = et__ld8(x);
        for (j = 8; j + 8 <= n; j += 8) {
            et__v8f v = et__ld8(x + j);
            vm = et__sel(v > vm, v, vm);
        }
        for (int i = 0; i < 8; i++) m = vm[i] > m ? vm[i] : m;
    }
    for (; j < n; j++) m = x[j] > m ? x[j] : m;
    return m;
}

float et_kern_row_exp(float *x, int64_t n, float a, float b, float c) {
    float sum = 0;
    int64_t j = 0;
    if (!et__ref()) {
        et__v8f va = et__splat(a), vb = et__splat(b), vc = et__splat(c), acc = et__splat(0);
        for (; j + 8 <= n; j += 8) {
            et__v8f e = et__vexp(va * et__ld8(x + j) - vb);
            acc += e;
            et__st8(x + j, e * vc);
        }
        if (j < n) {   /* the tail through one padded vector */
            float tmp[8] = {0};
            memcpy(tmp, x + j, (size_t)(n - j) * 4);
            et__v8f e = et__vexp(va * et__ld8(tmp) - vb);
            for (int64_t i = 0; i < n - j; i++) { sum += e[i]; x[j + i] = e[i] * c; }
            j = n;
        }
        sum += et__hsum(acc);
    }
    for (; j < n; j++) {
        float e = expf(a * x[j] - b);
        sum += e;
        x[j] = e * c;
    }
    return sum;
}

float et_kern_row_expsum(const float *x, int64_t n, float b) {
    float sum = 0;
    int64_t j = 0;
    if (!et__ref()) {
        et__v8f vb = et__splat(b), acc = et__splat(0);
        for (; j + 8 <= n; j += 8) acc += et__vexp(et__ld8(x + j) - vb);
        if (j < n) {   /* the tail through the same vector exp, so no element's value depends
                        * on where a chunk boundary put it */
            float tmp[8] = {0};
            memcpy(tmp, x + j, (size_t)(n - j) * 4);
            et__v8f e = et__vexp(et__ld8(tmp) - vb);
            for (int64_t i = 0; i < n - j; i++) sum += e[i];
            j = n;
        }
        sum += et__hsum(acc);
    }
    for (; j < n; j++) sum += expf(x[j] - b);
    return sum;
}

/* The scalar forms: the ref path, and the vector loop's tail. */
static inline float et__silu1(et_kern_act kind, float x, float y) {
    float s = 1.0f / (1.0f + expf(-x));
    return kind == ET_KERN_SILU ? x * s : kind == ET_KERN_SWIGLU ? x * s * y : y * s * (1.0f + x * (1.0f - s));
}

void et_kern_row_silu(et_kern_act kind, const float *x, const float *y, float *z, int64_t n) {
    int64_t j = 0;
    if (!et__ref()) {
        const et__v8f one = et__splat(1.0f);
        for (; j + 8 <= n; j += 8) {
            et__v8f v = et__ld8(x + j), s = one / (one + et__vexp(-v)), r;
            if (kind == ET_KERN_SILU) r = v * s;
            else if (kind == ET_KERN_SWIGLU) r = v * s * et__ld8(y + j);
            else r = et__ld8(y + j) * s * (one + v * (one - s));
            et__st8(z + j, r);
        }
    }
    for (; j < n; j++) z[j] = et__silu1(kind, x[j], y ? y[j] : 0.0f);
}
