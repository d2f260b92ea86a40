/* Quantization formats: the scalar references in kernels/ref/quant_*.c against independent
 * oracles, and their error against bounds derived from each format's step size.
 *
 * Golden files (tests/py/gen_quant.py, run first by tests/run.sh; a missing file FAILS):
 *   - F16/BF16 conversions, Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 quantization: byte-exact with PyPI gguf
 *     (0 ULP).
 *   - dequantization of every GGUF type from random bytes: bit-exact with gguf (0 ULP).
 *   - Q4_K, Q6_K, IQ4_NL, Q8_K quantization (gguf has no quantizer for them): byte-exact with
 *     tests/py/kquants_np.py, a numpy port of ggml's algorithms in exact float32 order.
 *   - NF4: byte-exact with a numpy re-implementation of bitsandbytes (0 ULP; see below).
 * Error bounds, for every quantizer, on top of that (they would hold for any correct
 * implementation, port or not; they follow from the step: half a step of rounding, one step
 * where the format clips, plus the binary16 rounding of the stored scales, which is <= 2^-11
 * relative or 2^-25 absolute when subnormal):
 *   Q8_0   |e| <= amax/254 + 127 s(d)        d = amax/127
 *   Q4_0   |e| <= amax/8 + 8 s(d)            (the value opposite max clips by a full step)
 *   Q4_1   |e| <= d/2 + 15 s(d) + s(m)       d = (max-min)/15, m = min
 *   Q5_0   |e| <= amax/16 + 16 s(d)          (Q4_0's clipping, with twice the levels)
 *   Q5_1   |e| <= d/2 + 31 s(d) + s(m)       d = (max-min)/31
 *   Q6_K   |e| <= (d*|sc|)/2 per sub-block + clipping, checked as <= amax/48 of the super-block
 *   Q4_K   |e| <= range/15 of the super-block (6-bit scales of small sub-blocks lose precision)
 *   IQ4_NL |e| <= amax * 24/127 (the widest codebook gap, 24, at the scale max -> ±127)
 *   NF4    |e| <= absmax * 0.1519 + |absmax - absmax'|: half the widest codebook gap
 *          (-1 .. -0.6961928, so 0.1519) plus the error of the double-quantized absmax'
 *   where s(v) = max(|v| 2^-11, 2^-25), each plus a float-rounding slack of 1e-6 relative.
 * Edge rows for every quantizer: all-zero (exact zeros back), constant, huge (1e30, FLT_MAX)
 * and subnormal rows: no NaN or inf comes out of finite input.
 */
#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "dtype.h"
#include "quant.h"
#include "ref/quant_ref.h"
#include "ref/ref.h"

/* ==== golden files ====================================================================== */

static const char *golden_dir(void) {
    const char *d = getenv("ET_GOLDEN_DIR");
    return d && *d ? d : "build/golden";
}

/* Reads build/golden/quant/<name>.<ext>; NULL (and a failed CHECK) if missing. */
static void *load(const char *name, const char *ext, size_t *size) {
    char path[256];
    snprintf(path, sizeof path, "%s/quant/%s.%s", golden_dir(), name, ext);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL, "golden file %s missing: run tests/py/gen_quant.py (tests/run.sh does)", path);
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    size_t got = p ? fread(p, 1, (size_t)n, f) : 0;
    fclose(f);
    CHECK(p && got == (size_t)n, "short read of %s", path);
    *size = (size_t)n;
    return p;
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static int all_finite(const float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) if (!isfinite(y[i])) return 0;
    return 1;
}

/* Bitwise float comparison (NaNs compared by their bits too). */
static void check_bits_f32(const float *got, const float *want, size_t n, const char *what) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (f2u(got[i]) != f2u(want[i]) && bad++ == 0) first = i;
    CHECK(bad == 0, "%s: %zu of %zu floats differ; first at %zu: got %.9g (0x%08x) want %.9g (0x%08x)",
          what, bad, n, first, got[first], f2u(got[first]), want[first], f2u(want[first]));
}

static void check_bytes(const uint8_t *got, const uint8_t *want, size_t n, size_t unit, const char *what) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i] && bad++ == 0) first = i;
    CHECK(bad == 0, "%s: %zu of %zu bytes differ; first in unit %zu (byte %zu): got 0x%02x want 0x%02x",
          what, bad, n, first / unit, first % unit, got[first], want[first]);
}

/* ==== F16 / BF16 ======================================================================== */

static void test_f16_bf16_vs_gguf(void) {
    static const struct { const char *name; et_type t; int from_f32; } cases[] = {
        { "f16_from_f32", ET_F16, 1 }, { "f16_to_f32", ET_F16, 0 },
        { "bf16_from_f32", ET_BF16, 1 }, { "bf16_to_f32", ET_BF16, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t ni, no;
        void *in = load(cases[c].name, "in", &ni), *out = load(cases[c].name, "out", &no);
        if (in && out) {
            const et_type_traits *tr = et_type_get(cases[c].t);
            if (cases[c].from_f32) {
                size_t n = ni / 4;
                CHECK(no == 2 * n, "%s: size", cases[c].name);
                uint16_t *h = malloc(2 * n);
                tr->from_f32(in, h, (int64_t)n);
                check_bytes((uint8_t *)h, out, 2 * n, 2, cases[c].name);
                free(h);
            } else {
                size_t n = ni / 2;
                CHECK(no == 4 * n, "%s: size", cases[c].name);
                float *f = malloc(4 * n);
                tr->to_f32(in, f, (int64_t)n);
                check_bits_f32(f, out, n, cases[c].name);
                free(f);
            }
        }
        free(in);
        free(out);
    }
}

/* Round-trip error of the half conversions: round to nearest, so at most half an ulp of the
 * target: |e| <= 2^-11 |x| for F16 (plus 2^-25 absolute in its subnormal range), 2^-8 |x| for
 * BF16; zero and subnormal rows stay finite (F16 flushes them to ±0).  Values beyond 65504
 * become inf in F16 by IEEE and numpy's definition (byte-exactness above pins that). */
static void test_f16_bf16_roundtrip(void) {
    enum { N = 4096 };
    static float x[N], y[N];
    static uint16_t h[N];
    et_t_fill(x, N, 21, 1.0f);
    for (int i = 0; i < N; i++) x[i] = ldexpf(x[i], i % 40 - 28);     /* 2^-28 .. 2^11 */
    et_ref_f32_to_f16(x, h, N);
    et_ref_f16_to_f32(h, y, N);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += !(fabsf(y[i] - x[i]) <= fabsf(x[i]) * 0x1p-11f + 0x1p-25f);
    CHECK(bad == 0, "f16 round trip: %d values over half an ulp", bad);
    et_ref_f32_to_bf16(x, h, N);
    et_ref_bf16_to_f32(h, y, N);
    bad = 0;
    for (int i = 0; i < N; i++) bad += !(fabsf(y[i] - x[i]) <= fabsf(x[i]) * 0x1p-8f);
    CHECK(bad == 0, "bf16 round trip: %d values over half an ulp", bad);
    for (int i = 0; i < N; i++) x[i] = i % 2 ? 0.0f : 1e-40f;
    et_ref_f32_to_f16(x, h, N);
    et_ref_f16_to_f32(h, y, N);
    CHECK(all_finite(y, N) && y[0] == 0.0f, "f16 of subnormal floats");
    et_ref_f32_to_bf16(x, h, N);
    et_ref_bf16_to_f32(h, y, N);
    CHECK(all_finite(y, N) && fabsf(y[0] - 1e-40f) <= 0x1p-134f, "bf16 keeps f32 subnormals");  /* half its ulp */
}

/* ==== byte-exact quantizers and bit-exact dequantizers vs gguf ========================== */

typedef struct {
    const char *name;
    et_type t;
    void (*quantize)(const float *, void *, int64_t);
    void (*dequantize)(const void *, float *, int64_t);
    int gguf_quant;          /* gguf has a quantizer: byte-exact goldens of both directions */
} fmt;

static const fmt FORMATS[] = {
    { "q8_0",   ET_Q8_0,   et_ref_quantize_row_q8_0,   et_ref_dequantize_row_q8_0, 1 },
    { "q4_0",   ET_Q4_0,   et_ref_quantize_row_q4_0,   et_ref_dequantize_row_q4_0, 1 },
    { "q4_1",   ET_Q4_1,   et_ref_quantize_row_q4_1,   et_ref_dequantize_row_q4_1, 1 },
    { "iq4_nl", ET_IQ4_NL, et_ref_quantize_row_iq4_nl, et_ref_dequantize_row_iq4_nl, 0 },
    { "q4_k",   ET_Q4_K,   et_ref_quantize_row_q4_k,   et_ref_dequantize_row_q4_k, 0 },
    { "q6_k",   ET_Q6_K,   et_ref_quantize_row_q6_k,   et_ref_dequantize_row_q6_k, 0 },
    { "q5_0",   ET_Q5_0,   et_ref_quantize_row_q5_0,   et_ref_dequantize_row_q5_0, 1 },
    { "q5_1",   ET_Q5_1,   et_ref_quantize_row_q5_1,   et_ref_dequantize_row_q5_1, 1 },
};
enum { NFORMATS = sizeof FORMATS / sizeof FORMATS[0] };

/* Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 against gguf's quantizers; IQ4_NL/Q4_K/Q6_K (and Q8_K below) against
 * tests/py/kquants_np.py, a numpy port of ggml's algorithms in exact float32 order. */
static void test_quantize_vs_gguf(void) {
    for (int c = 0; c < 2 * NFORMATS; c++) {
        /* then, for the searched formats, rows above their 2^16 rescaling threshold */
        const int f = c % NFORMATS, large = c >= NFORMATS;
        if (large && FORMATS[f].gguf_quant) continue;
        char name[64];
        snprintf(name, sizeof name, "%s_quantize%s", FORMATS[f].name, large ? "_large" : "");
        size_t ni, no;
        float *x = load(name, "in", &ni);
        uint8_t *want = load(name, "out", &no);
        if (x && want) {
            const int64_t n = (int64_t)(ni / 4);
            const size_t bytes = et_type_row_size(FORMATS[f].t, n);
            CHECK(no == bytes, "%s: golden has %zu bytes, expected %zu", name, no, bytes);
            uint8_t *got = malloc(bytes);
            FORMATS[f].quantize(x, got, n);
            if (no == bytes) check_bytes(got, want, bytes, et_type_get(FORMATS[f].t)->type_size, name);
            free(got);
        }
        free(x);
        free(want);
    }
}

static void test_dequantize_vs_gguf(void) {
    for (int f = 0; f < NFORMATS; f++) {
        for (int raw = 0; raw < 2; raw++) {
            if (!raw && !FORMATS[f].gguf_quant) continue;   /* only gguf's quantizers have both */
            char name[64];
            snprintf(name, sizeof name, "%s_dequantize%s", FORMATS[f].name, raw ? "_raw" : "");
            size_t ni, no;
            uint8_t *q = load(name, "in", &ni);
            float *want = load(name, "out", &no);
            if (q && want) {
                const et_type_traits *tr = et_type_get(FORMATS[f].t);
                const int64_t n = (int64_t)(ni / tr->type_size) * tr->blck_size;
                CHECK(no == (size_t)n * 4, "%s: sizes", name);
                float *got = malloc(no);
                FORMATS[f].dequantize(q, got, n);
                check_bits_f32(got, want, (size_t)n, name);
                free(got);
            }
            free(q);
            free(want);
        }
    }
}

/* ==== error bounds ====================================================================== */

static double s16(double v) {           /* binary16 rounding error bound of a stored scale */
    v = fabs(v) * (1.0 / 2048);
    return v > 0x1p-25 ? v : 0x1p-25;
}

/* The error bound of element j of a row for format f (see the file comment). */
static double bound(int f, const float *x, int64_t j) {
    const int bs = et_type_get(FORMATS[f].t)->blck_size;
    const float *b = x + (j / bs) * bs;
    double amax = 0, mn = b[0], mx = b[0];
    for (int i = 0; i < bs; i++) {
        amax = fmax(amax, fabs(b[i]));
        mn = fmin(mn, b[i]);
        mx = fmax(mx, b[i]);
    }
    double e;
    switch (FORMATS[f].t) {
    case ET_Q8_0:   e = amax / 254 + 127 * s16(amax / 127); break;
    case ET_Q4_0:   e = amax / 8 + 8 * s16(amax / 8); break;
    case ET_Q4_1:   e = (mx - mn) / 30 + 15 * s16((mx - mn) / 15) + s16(mn); break;
    case ET_Q5_0:   e = amax / 16 + 16 * s16(amax / 16); break;
    case ET_Q5_1:   e = (mx - mn) / 62 + 31 * s16((mx - mn) / 31) + s16(mn); break;
    case ET_IQ4_NL: e = amax * 24 / 127 + 127 * s16(amax / 113); break;
    case ET_Q4_K:   e = (mx - (mn < 0 ? mn : 0)) / 15 + 63 * 15 * s16(amax / 63); break;
    case ET_Q6_K:   e = amax / 48 + 128 * 32 * s16(amax / 128); break;
    default:        e = 0;
    }
    return e * (1 + 1e-6) + 1e-30;
}

/* Quantizes n elements with format f, dequantizes, and checks every element against its bound.
 * Returns the worst |error| / bound seen. */
static double check_roundtrip(int f, const float *x, int64_t n, const char *what) {
    const size_t bytes = et_type_row_size(FORMATS[f].t, n);
    uint8_t *q = malloc(bytes);
    float *y = malloc((size_t)n * 4);
    FORMATS[f].quantize(x, q, n);
    FORMATS[f].dequantize(q, y, n);
    double worst = 0, b = 0;
    int64_t bad = 0, first = -1;
    const int bs = et_type_get(FORMATS[f].t)->blck_size;
    for (int64_t j = 0; j < n; j++) {
        if (j % bs == 0) b = bound(f, x, j);           /* one bound per block */
        const double e = fabs((double)y[j] - x[j]);
        if (!(e <= b) && bad++ == 0) first = j;
        if (e / b > worst) worst = e / b;
    }
    CHECK(bad == 0, "%s %s: %lld elements over the bound; first %lld: x=%.9g y=%.9g bound %.3g",
          FORMATS[f].name, what, (long long)bad, (long long)first, first >= 0 ? x[first] : 0.0,
          first >= 0 ? y[first] : 0.0, first >= 0 ? bound(f, x, first) : 0.0);
    free(q);
    free(y);
    return worst;
}

static void check_q8_k_case(const char *name) {
    size_t ni, no;
    float *x = load(name, "in", &ni);
    uint8_t *want = load(name, "out", &no);
    if (x && want) {
        const int64_t n = (int64_t)(ni / 4);
        const size_t bytes = et_type_row_size(ET_Q8_K, n);
        CHECK(no == bytes, "%s golden has %zu bytes, expected %zu", name, no, bytes);
        uint8_t *got = malloc(bytes);
        et_ref_quantize_row_q8_k(x, got, n);
        if (no == bytes) check_bytes(got, want, bytes, sizeof(et_block_q8_K), name);
        free(got);
    }
    free(x);
    free(want);
}

static void test_q8_k_vs_numpy(void) {
    check_q8_k_case("q8_k_quantize");
    check_q8_k_case("q8_k_quantize_large");
}

static void test_roundtrip_error_bounds(void) {
    size_t ni, no;
    float *x = load("q4_k_quantize", "in", &ni);      /* gguf-range weights, mixed scales */
    void *unused = load("q4_k_quantize", "out", &no);
    free(unused);
    if (!x) return;
    const int64_t n = (int64_t)(ni / 4);
    for (int f = 0; f < NFORMATS; f++) {
        double w = check_roundtrip(f, x, n, "weights");
        printf("  %-6s worst |error| / bound = %.3f\n", FORMATS[f].name, w);
    }
    /* a smooth row (ggml's test-quantize-fns data: 0.1 + 2 cos(i)) and a uniform one */
    enum { N = 4096 };
    float *s = malloc(N * 4);
    for (int i = 0; i < N; i++) s[i] = 0.1f + 2 * cosf((float)i);
    for (int f = 0; f < NFORMATS; f++) check_roundtrip(f, s, N, "cosine");
    et_t_fill(s, N, 7, 3.0f);
    for (int f = 0; f < NFORMATS; f++) check_roundtrip(f, s, N, "uniform");
    free(s);
    free(x);
}

/* RMS error on N(0,1) weights: the per-element bounds above would not notice a scale search
 * that silently stopped searching, but the known ordering of the formats would.  Checked:
 * Q8_0 < Q6_K < Q4_K < Q4_1 < Q4_0, IQ4_NL < Q4_0 and Q6_K < Q5_1 < Q5_0 < Q4_K, each by a
 * margin of 5% (measured here: 0.0053, 0.0177, 0.0711, 0.0777, 0.0857, 0.0761, 0.0377 and
 * 0.0426). */
static void test_rmse_ordering(void) {
    enum { N = 1 << 16 };
    float *x = malloc(N * 4), *y = malloc(N * 4);
    uint8_t *q = malloc(N * 2);
    uint64_t st = 12345;
    for (int i = 0; i < N; i += 2) {            /* Box-Muller */
        double u1 = (et_t_rng_next(&st) >> 11) * 0x1p-53 + 0x1p-54;
        double u2 = (et_t_rng_next(&st) >> 11) * 0x1p-53;
        x[i] = (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
        x[i + 1] = (float)(sqrt(-2 * log(u1)) * sin(2 * M_PI * u2));
    }
    double rmse[NFORMATS];
    for (int f = 0; f < NFORMATS; f++) {
        FORMATS[f].quantize(x, q, N);
        FORMATS[f].dequantize(q, y, N);
        double s = 0;
        for (int i = 0; i < N; i++) s += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        rmse[f] = sqrt(s / N);
        printf("  %-6s rmse on N(0,1) = %.5f\n", FORMATS[f].name, rmse[f]);
    }
    enum { Q8_0, Q4_0, Q4_1, IQ4_NL, Q4_K, Q6_K, Q5_0, Q5_1 };
    CHECK(rmse[Q8_0] * 1.05 < rmse[Q6_K], "q8_0 %g vs q6_k %g", rmse[Q8_0], rmse[Q6_K]);
    CHECK(rmse[Q6_K] * 1.05 < rmse[Q4_K], "q6_k %g vs q4_k %g", rmse[Q6_K], rmse[Q4_K]);
    CHECK(rmse[Q4_K] * 1.05 < rmse[Q4_1], "q4_k %g vs q4_1 %g", rmse[Q4_K], rmse[Q4_1]);
    CHECK(rmse[Q4_1] * 1.05 < rmse[Q4_0], "q4_1 %g vs q4_0 %g", rmse[Q4_1], rmse[Q4_0]);
    CHECK(rmse[IQ4_NL] * 1.05 < rmse[Q4_0], "iq4_nl %g vs q4_0 %g", rmse[IQ4_NL], rmse[Q4_0]);
    CHECK(rmse[Q6_K] * 1.05 < rmse[Q5_1], "q6_k %g vs q5_1 %g", rmse[Q6_K], rmse[Q5_1]);
    CHECK(rmse[Q5_1] * 1.05 < rmse[Q5_0], "q5_1 %g vs q5_0 %g", rmse[Q5_1], rmse[Q5_0]);
    CHECK(rmse[Q5_0] * 1.05 < rmse[Q4_K], "q5_0 %g vs q4_k %g", rmse[Q5_0], rmse[Q4_K]);
    free(x);
    free(y);
    free(q);
}

/* ==== edge rows ========================================================================= */

static void test_edge_rows(void) {
    enum { N = 512 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    for (int f = 0; f < NFORMATS; f++) {
        const char *nm = FORMATS[f].name;
        /* all zero: exact zeros back */
        memset(x, 0, sizeof x);
        FORMATS[f].quantize(x, q, N);
        FORMATS[f].dequantize(q, y, N);
        int zeros = 1;
        for (int i = 0; i < N; i++) zeros &= y[i] == 0.0f;
        CHECK(zeros, "%s: all-zero row did not come back as zeros", nm);
        /* constant rows, both signs, within the bound */
        for (int i = 0; i < N; i++) x[i] = i < N / 2 ? 0.75f : -3.5f;
        check_roundtrip(f, x, N, "constant");
        /* subnormal rows: finite, and within the bound (which is ~2^-25 absolute there) */
        for (int i = 0; i < N; i++) x[i] = (i % 3 - 1) * 1e-40f * (float)(1 + i % 7);
        check_roundtrip(f, x, N, "subnormal");
        /* huge rows: no NaN/inf out of finite input (GGUF's fp16 scales saturate) */
        const float huge[] = { 1e30f, FLT_MAX, 1e6f };
        for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
            for (int i = 0; i < N; i++) x[i] = (i % 2 ? -1.0f : 1.0f) * huge[h] * (i % 5 == 0 ? 1.0f : 0.5f);
            FORMATS[f].quantize(x, q, N);
            FORMATS[f].dequantize(q, y, N);
            CHECK(all_finite(y, N), "%s: row of %g gave NaN/inf", nm, (double)huge[h]);
            int signs = 1;                       /* saturated, but the signs survive */
            for (int i = 0; i < N; i++) signs &= (y[i] > 0) == (x[i] > 0) || y[i] == 0;
            CHECK(signs, "%s: row of %g lost signs", nm, (double)huge[h]);
            for (int i = 0; i < N; i++) x[i] = i % 64 == 3 ? huge[h] : 0.25f;   /* one outlier */
            FORMATS[f].quantize(x, q, N);
            FORMATS[f].dequantize(q, y, N);
            CHECK(all_finite(y, N), "%s: outlier %g gave NaN/inf", nm, (double)huge[h]);
        }
        /* NaN and inf in: anything may come out, but no crash and no undefined float-to-int
         * conversion (checked with -fsanitize=undefined,float-cast-overflow) */
        for (int i = 0; i < N; i++) x[i] = i % 7 == 0 ? NAN : i % 11 == 0 ? -INFINITY : 1.5f;
        FORMATS[f].quantize(x, q, N);
        FORMATS[f].dequantize(q, y, N);
        /* near the gguf-exact limit: magnitudes whose scales and Q4_1's min still fit binary16 */
        for (int i = 0; i < N; i++) x[i] = (i % 2 ? -1.0f : 1.0f) * 60000.0f / (float)(1 + i % 8);
        check_roundtrip(f, x, N, "large");
    }
}

/* ==== Q8_K ============================================================================== */

static void test_q8_k(void) {
    enum { N = 1024 };
    static float x[N];
    static et_block_q8_K b[N / ET_QK_K];
    et_t_fill(x, N, 11, 5.0f);
    x[300] = -9.0f;                                    /* the largest magnitude is negative */
    et_ref_quantize_row_q8_k(x, b, N);
    for (int ib = 0; ib < N / ET_QK_K; ib++) {
        float amax = 0;
        for (int j = 0; j < ET_QK_K; j++) amax = fmaxf(amax, fabsf(x[ib * ET_QK_K + j]));
        CHECK(fabsf(fabsf(b[ib].d) - amax / 127) <= amax / 127 * 1e-6f, "q8_k d %g for amax %g",
              (double)b[ib].d, (double)amax);
        for (int j = 0; j < ET_QK_K; j++) {
            double e = fabs((double)b[ib].d * b[ib].qs[j] - x[ib * ET_QK_K + j]);
            CHECK(e <= fabs(b[ib].d) * 0.5 * (1 + 1e-5), "q8_k element %d err %g", j, e);
        }
        for (int j = 0; j < ET_QK_K / 16; j++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) sum += b[ib].qs[16 * j + i];
            CHECK(sum == b[ib].bsums[j], "q8_k bsums[%d] = %d, want %d", j, b[ib].bsums[j], sum);
        }
    }
    CHECK(b[1].qs[300 - 256] == -127 || b[1].qs[300 - 256] == 127, "q8_k: the absmax maps to ±127");
    memset(x, 0, sizeof x);
    x[5] = 1e-41f;                                     /* subnormal-only block: zero scale */
    x[600] = FLT_MAX;
    et_ref_quantize_row_q8_k(x, b, N);
    CHECK(b[0].d == 0 && isfinite(b[2].d), "q8_k: zero/subnormal and huge blocks");
}

/* ==== the dtype table =================================================================== */

static void test_dtype_table(void) {
    for (int f = 0; f < NFORMATS; f++) {
        const et_type_traits *tr = et_type_get(FORMATS[f].t);
        CHECK(tr->to_f32 == FORMATS[f].dequantize && tr->from_f32 == FORMATS[f].quantize,
              "dtype table row %s does not use the reference converters", tr->name);
    }
    CHECK(et_type_get(ET_Q8_K)->from_f32 == et_ref_quantize_row_q8_k, "q8_k from_f32");
    for (int64_t nb = 1; nb < 2000; nb += 97)
        CHECK(et_nf4_nbytes(nb * ET_QKNF4) == et_type_nbytes(ET_NF4, ET_QKNF4, nb) &&
              et_nf4_nbytes(nb * ET_QKNF4) == et_type_nbytes(ET_NF4, nb * ET_QKNF4, 1),
              "nf4 nbytes for %lld blocks", (long long)nb);
}

/* ==== NF4 =============================================================================== */

static void test_nf4_tables(void) {
    size_t ni, no;
    void *in = load("nf4_dynamic_map", "in", &ni);
    float *map = load("nf4_dynamic_map", "out", &no);
    if (map) {
        CHECK(no == sizeof et_nf4_dynamic_map, "dynamic map size");
        check_bits_f32(et_nf4_dynamic_map, map, 256, "bitsandbytes dynamic map");
    }
    free(in);
    free(map);
    in = load("nf4_codebook", "in", &ni);
    float *cb = load("nf4_codebook", "out", &no);
    if (cb) check_bits_f32(et_nf4_codebook, cb, 16, "nf4 codebook");
    free(in);
    free(cb);
}

static void test_nf4_vs_numpy(void) {
    size_t ni, no, ni2, no2;
    float *x = load("nf4_quantize", "in", &ni);
    uint8_t *want = load("nf4_quantize", "out", &no);
    uint8_t *qin = load("nf4_dequantize", "in", &ni2);
    float *ywant = load("nf4_dequantize", "out", &no2);
    if (x && want && qin && ywant) {
        const int64_t n = (int64_t)(ni / 4), ne0 = 256, nrows = n / ne0, nb = n / ET_QKNF4;
        CHECK(no == et_nf4_nbytes(n), "nf4 golden size %zu, want %zu", no, et_nf4_nbytes(n));
        uint8_t *q = malloc(et_nf4_nbytes(n));
        et_ref_quantize_nf4(x, q, n);
        check_bytes(q, want, no < et_nf4_nbytes(n) ? no : et_nf4_nbytes(n), sizeof(et_block_nf4),
                    "nf4 bytes vs numpy bitsandbytes");
        float *y = malloc((size_t)n * 4);
        et_ref_dequantize_nf4_rows(qin, nrows, ne0, 0, nrows, y);
        check_bits_f32(y, ywant, (size_t)n, "nf4 dequantize vs numpy bitsandbytes");
        /* a row range gives the same values as the whole */
        float *part = malloc(5 * ne0 * 4);
        et_ref_dequantize_nf4_rows(qin, nrows, ne0, 211, 5, part);
        check_bits_f32(part, y + 211 * ne0, 5 * ne0, "nf4 rows 211..215");
        free(part);
        /* error: |e| <= absmax * 0.1519 (half the widest codebook gap) + |absmax - absmax'| */
        int64_t bad = 0;
        for (int64_t b = 0; b < nb; b++) {
            float amax = 0;
            for (int j = 0; j < ET_QKNF4; j++) amax = fmaxf(amax, fabsf(x[b * ET_QKNF4 + j]));
            const float amq = et_nf4_block_absmax(q, nb, b);
            for (int j = 0; j < ET_QKNF4; j++) {
                double e = fabs((double)y[b * ET_QKNF4 + j] - x[b * ET_QKNF4 + j]);
                if (!(e <= amax * 0.15191 * (1 + 1e-6) + fabs((double)amq - amax) + 1e-30)) bad++;
            }
        }
        CHECK(bad == 0, "nf4: %lld elements over the bound", (long long)bad);
        free(q);
        free(y);
    }
    free(x);
    free(want);
    free(qin);
    free(ywant);
}

static void test_nf4_edge(void) {
    enum { N = 64 * 600 };                              /* 600 blocks: 3 groups, last partial */
    static float x[N], y[N];
    static uint8_t q[N];                                 /* > et_nf4_nbytes(N) */
    CHECK(et_nf4_nbytes(N) <= sizeof q, "buffer");
    memset(x, 0, sizeof x);
    et_ref_quantize_nf4(x, q, N);
    et_ref_dequantize_nf4_rows(q, N / 256, 256, 0, N / 256, y);
    int zeros = 1;
    for (int i = 0; i < N; i++) zeros &= y[i] == 0.0f;
    CHECK(zeros, "nf4: zero tensor not zero back");
    for (int i = 0; i < N; i++) x[i] = i % 7 == 0 ? NAN : i % 11 == 0 ? INFINITY : 0.5f;
    et_ref_quantize_nf4(x, q, N);                       /* NaN/inf in: no crash, no UB */
    et_ref_dequantize_nf4_rows(q, N / 256, 256, 0, N / 256, y);
    const float vals[] = { 0.75f, 1e30f, FLT_MAX, 1e-40f };
    for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
        for (int i = 0; i < N; i++) x[i] = (i % 3 ? 1.0f : -1.0f) * vals[v] * (i % 64 == 0 ? 1.0f : 0.5f);
        for (int i = 64 * 7; i < 64 * 8; i++) x[i] = 0;         /* and one zero block */
        et_ref_quantize_nf4(x, q, N);
        et_ref_dequantize_nf4_rows(q, N / 256, 256, 0, N / 256, y);
        CHECK(all_finite(y, N), "nf4: %g tensor gave NaN/inf", (double)vals[v]);
        int64_t bad = 0;
        for (int i = 0; i < N; i++) {
            /* constant magnitudes sit on codebook points (±1, ±0.5 -> 0.5626 is 12.5% off) */
            if (!(fabs((double)y[i] - x[i]) <= fabs((double)vals[v]) * 0.14 + 1e-30)) bad++;
        }
        CHECK(bad == 0, "nf4: %g tensor: %lld elements over the bound", (double)vals[v], (long long)bad);
    }
}

int main(void) {
    RUN(test_f16_bf16_vs_gguf);
    RUN(test_f16_bf16_roundtrip);
    RUN(test_quantize_vs_gguf);
    RUN(test_q8_k_vs_numpy);
    RUN(test_dequantize_vs_gguf);
    RUN(test_roundtrip_error_bounds);
    RUN(test_rmse_ordering);
    RUN(test_edge_rows);
    RUN(test_q8_k);
    RUN(test_dtype_table);
    RUN(test_nf4_tables);
    RUN(test_nf4_vs_numpy);
    RUN(test_nf4_edge);
    return DONE();
}
