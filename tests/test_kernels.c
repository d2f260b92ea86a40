/* Every linear-layer kernel on every path this CPU can run, against the scalar references.
 *
 * For each path (ref, avx2, avx512, avx512vnni, avx512bf16 — whichever the CPU has) and each
 * weight type, W is made by the reference quantizer from random data, and y = x·Wᵀ from
 * et_kern_matmul is compared with et_ref_matmul (the same reference-dequantized W, double
 * accumulation).  Shapes are odd on purpose: N not a multiple of the 32-row strip, T not a
 * multiple of any token tile, row strides larger than the rows, T = 1 (the matvec paths).
 *
 * Tolerances, per output element, from what each kernel family rounds:
 *   int8   (quantized types on SIMD paths): x is quantized to int8 groups of 32 with step
 *          d_g = max|x_g|/127, so |x - x̂| ≤ d_g/2 and the error is at most
 *          sum_g d_g/2 · sum_{k∈g} |w_k|, plus f32 rounding 1e-5 · sum|w x|.
 *   bf16   (BF16/NF4 on avx512bf16): x (and NF4's decoded W) rounded to bf16, relative 2^-9
 *          each: 2 · 2^-9 · sum|w x|, plus the f32 term.
 *   f32    (everything else, dX, the GEMM): 2e-5 · sum|w x| (f32 sums of K ≤ 600 terms in a
 *          different order: K·2^-24 ≈ 4e-5 worst case, far less in practice).
 *   ref    the reference itself: 1e-6 · sum|w x|.
 * A wrong block, scale, nibble order or tail shows up as an O(1) relative error.
 */
#include <omp.h>
#include <stdint.h>
#include "harness.h"
#include "kernels.h"
#include "kern_priv.h"
#include "quant.h"
#include "ref/ref.h"
#include "ref/quant_ref.h"

static const et_type TYPES[] = { ET_F32, ET_F16, ET_BF16, ET_Q8_0, ET_Q4_0, ET_Q4_1,
                                 ET_Q5_0, ET_Q5_1, ET_IQ4_NL, ET_Q4_K, ET_Q6_K, ET_NF4 };
#define NTYPES (int)(sizeof TYPES / sizeof TYPES[0])

/* W (N×K) of type t from f32 data; returns the bytes, sets *ldw. */
static void *make_w(et_type t, const float *wf, int64_t N, int64_t K, size_t *ldw) {
    size_t row = et_type_row_size(t, K);
    uint8_t *w = calloc(1, et_type_nbytes(t, K, N) + 64);
    *ldw = row;
    if (t == ET_NF4) { et_ref_quantize_nf4(wf, w, N * K); return w; }
    for (int64_t n = 0; n < N; n++) {
        const float *src = wf + n * K;
        void *dst = w + n * row;
        switch (t) {
        case ET_F32:    memcpy(dst, src, (size_t)K * 4); break;
        case ET_F16:    et_ref_f32_to_f16(src, dst, K); break;
        case ET_BF16:   et_ref_f32_to_bf16(src, dst, K); break;
        case ET_Q8_0:   et_ref_quantize_row_q8_0(src, dst, K); break;
        case ET_Q4_0:   et_ref_quantize_row_q4_0(src, dst, K); break;
        case ET_Q4_1:   et_ref_quantize_row_q4_1(src, dst, K); break;
        case ET_Q5_0:   et_ref_quantize_row_q5_0(src, dst, K); break;
        case ET_Q5_1:   et_ref_quantize_row_q5_1(src, dst, K); break;
        case ET_IQ4_NL: et_ref_quantize_row_iq4_nl(src, dst, K); break;
        case ET_Q4_K:   et_ref_quantize_row_q4_k(src, dst, K); break;
        case ET_Q6_K:   et_ref_quantize_row_q6_k(src, dst, K); break;
        default: break;
        }
    }
    return w;
}

/* The reference-dequantized W, to compute sum|w x| for the bounds. */
static float *deq_w(et_type t, const void *w, size_t ldw, int64_t N, int64_t K) {
    float *wd = malloc((size_t)(N * K) * 4);
    if (t == ET_NF4) { et_ref_dequantize_nf4_rows(w, N, K, 0, N, wd); return wd; }
    for (int64_t n = 0; n < N; n++) {
        const void *r = (const uint8_t *)w + n * ldw;
        float *o = wd + n * K;
        switch (t) {
        case ET_F32:    memcpy(o, r, (size_t)K * 4); break;
        case ET_F16:    et_ref_f16_to_f32(r, o, K); break;
        case ET_BF16:   et_ref_bf16_to_f32(r, o, K); break;
        case ET_Q8_0:   et_ref_dequantize_row_q8_0(r, o, K); break;
        case ET_Q4_0:   et_ref_dequantize_row_q4_0(r, o, K); break;
        case ET_Q4_1:   et_ref_dequantize_row_q4_1(r, o, K); break;
        case ET_Q5_0:   et_ref_dequantize_row_q5_0(r, o, K); break;
        case ET_Q5_1:   et_ref_dequantize_row_q5_1(r, o, K); break;
        case ET_IQ4_NL: et_ref_dequantize_row_iq4_nl(r, o, K); break;
        case ET_Q4_K:   et_ref_dequantize_row_q4_k(r, o, K); break;
        case ET_Q6_K:   et_ref_dequantize_row_q6_k(r, o, K); break;
        default: break;
        }
    }
    return wd;
}

typedef enum { TOL_REF, TOL_F32, TOL_BF16, TOL_INT8, TOL_I16 } tol_kind;

/* The paths whose BF16/NF4 products and quantized dX are bf16 (vdpbf16ps, or AMX tiles). */
static bool bf16_dot_path(et_isa isa) { return isa == ET_ISA_AVX512BF16 || isa == ET_ISA_AMX; }

/* The x86 paths with VNNI, whose NF4 matvec is int16 codes against x in int16 per 64-block. */
static bool nf4_i16_path(et_isa isa) {
    return isa == ET_ISA_AVX512VNNI || isa == ET_ISA_AVX512BF16 || isa == ET_ISA_AMX;
}

static tol_kind fwd_tol(et_isa isa, et_type t, int64_t T) {
    if (isa == ET_ISA_REF) return TOL_REF;
    if (t == ET_NF4 && T == 1 && nf4_i16_path(isa)) return TOL_I16;
    if (t == ET_F32 || t == ET_F16) return TOL_F32;
    if (t == ET_BF16 || t == ET_NF4) return bf16_dot_path(isa) ? TOL_BF16 : TOL_F32;
    return TOL_INT8;
}

static double bound(tol_kind tk, const float *x, const float *wr, int64_t K, int qg) {
    double swx = 0, qerr = 0;
    for (int64_t k = 0; k < K; k++) swx += fabs((double)x[k] * wr[k]);
    if (tk == TOL_INT8)
        for (int64_t g = 0; g < K / qg; g++) {
            double amax = 0, sw = 0;
            for (int j = 0; j < qg; j++) {
                amax = fmax(amax, fabs(x[g * qg + j]));
                sw += fabs(wr[g * qg + j]);
            }
            qerr += amax / 127.0 / 2.0 * sw * 1.0001;
        }
    if (tk == TOL_I16)   /* per 64-block: x̂'s step max|x|/2^14 and the codes' 2^-14 · absmax
                          * (= max|w| of the block: NF4 maps it to the code ±1), half each */
        for (int64_t g = 0; g < K / 64; g++) {
            double ax = 0, aw = 0, sx = 0, sw = 0;
            for (int j = 0; j < 64; j++) {
                ax = fmax(ax, fabs(x[g * 64 + j]));
                aw = fmax(aw, fabs(wr[g * 64 + j]));
                sx += fabs(x[g * 64 + j]);
                sw += fabs(wr[g * 64 + j]);
            }
            qerr += (ax * sw + aw * sx) / 32768.0 * 1.0001;
        }
    double rel = tk == TOL_REF ? 1e-6 : tk == TOL_BF16 ? 2.0 / 512 + 1e-5 : tk == TOL_F32 ? 2e-5 : 1e-5;
    if (tk == TOL_I16) rel = 2e-5;   /* the float sums of the block dots */
    return qerr + rel * swx + 1e-30;
}

static et_isa g_isa;
static int g_small;   /* ET_KERNELS_SMALL=1 (under qemu): skip the largest shapes */

static void check_forward(et_type t, int64_t T, int64_t K, int64_t N, bool acc, uint64_t seed) {
    size_t ldw;
    const size_t ldx = (size_t)K + 3, ldy = (size_t)N + 5;
    float *wf = malloc((size_t)(N * K) * 4), *x = malloc(T * ldx * 4);
    float *y = malloc(T * ldy * 4), *yr = malloc(T * ldy * 4);
    et_t_fill(wf, N * K, seed, 0.5f);
    et_t_fill(x, (long)(T * ldx), seed + 1, 2.0f);
    for (int64_t i = 0; i < (int64_t)(T * ldy); i++) y[i] = yr[i] = (float)(i % 7) - 3.0f;
    void *w = make_w(t, wf, N, K, &ldw);
    float *wd = deq_w(t, w, ldw, N, K);
    et_ref_matmul(t, w, ldw, x, ldx, yr, ldy, T, K, N, acc);
    void *work = malloc(et_kern_matmul_work(t, T, K, N) + 1);
    et_kern_matmul(t, w, ldw, x, ldx, y, ldy, T, K, N, acc, work);
    tol_kind tk = fwd_tol(g_isa, t, T);
    const int ag = et_kern_matmul_act_group(t, T), qg = ag > 0 ? ag : 32;   /* x's int8 groups */
    int bad = 0;
    for (int64_t i = 0; i < T && bad < 3; i++) {
        for (int64_t n = 0; n < N && bad < 3; n++) {
            double b = bound(tk, x + i * ldx, wd + n * K, K, qg) + (acc ? 1e-6 * 4 : 0);
            double e = fabs((double)y[i * ldy + n] - yr[i * ldy + n]);
            if (!(e <= b)) {
                bad++;
                CHECK(0, "%s %s T=%ld K=%ld N=%ld acc=%d y[%ld,%ld]=%.7g want %.7g (err %.3g > bound %.3g)",
                      et_isa_name(g_isa), et_type_get(t)->name, (long)T, (long)K, (long)N, acc,
                      (long)i, (long)n, y[i * ldy + n], yr[i * ldy + n], e, b);
            }
        }
        /* the padding between rows of y is never written */
        for (size_t j = (size_t)N; j < ldy && bad < 3; j++)
            if (y[i * ldy + j] != (float)((i * ldy + j) % 7) - 3.0f) {
                bad++;
                CHECK(0, "%s %s wrote y padding at [%ld,%zu]", et_isa_name(g_isa),
                      et_type_get(t)->name, (long)i, j);
            }
    }
    free(wf); free(x); free(y); free(yr); free(w); free(wd); free(work);
}

static void check_dx(et_type t, int64_t T, int64_t K, int64_t N, bool acc, uint64_t seed) {
    size_t ldw;
    const size_t lddy = (size_t)N + 2, lddx = (size_t)K + 7;
    float *wf = malloc((size_t)(N * K) * 4), *dy = malloc(T * lddy * 4);
    float *dx = malloc(T * lddx * 4), *dxr = malloc(T * lddx * 4);
    et_t_fill(wf, N * K, seed, 0.5f);
    et_t_fill(dy, (long)(T * lddy), seed + 1, 1.0f);
    for (int64_t i = 0; i < (int64_t)(T * lddx); i++) dx[i] = dxr[i] = (float)(i % 5) - 2.0f;
    void *w = make_w(t, wf, N, K, &ldw);
    float *wd = deq_w(t, w, ldw, N, K);
    et_ref_matmul_dx(t, w, ldw, dy, lddy, dxr, lddx, T, K, N, acc);
    void *work = malloc(et_kern_matmul_dx_work(t, T, K, N) + 1);
    et_kern_matmul_dx(t, w, ldw, dy, lddy, dx, lddx, T, K, N, acc, work);
    /* Every type but f32 on AVX512-BF16: bf16 products, f32 sums.  Held to an emulation (dY
     * and W rounded to bf16 as the kernel rounds them, products summed in double) within the
     * f32 bound: against the exact reference, bf16 rounding's own 2^-8 would hide a wrong
     * rounding or a misplaced element of similar size. */
    const bool b16 = !strcmp(et_kern_matmul_dx_family(t), "bf16");
    CHECK(b16 == (bf16_dot_path(g_isa) && t != ET_F32), "%s %s: dX family %s", et_isa_name(g_isa),
          et_type_get(t)->name, et_kern_matmul_dx_family(t));
    if (b16)
        for (int64_t i = 0; i < T; i++)
            for (int64_t k = 0; k < K; k++) {
                double s = acc ? (double)((float)((i * lddx + k) % 5) - 2.0f) : 0.0;
                for (int64_t n = 0; n < N; n++)
                    s += (double)et_bf16_to_fp32(et_fp32_to_bf16(dy[i * lddy + n])) *
                         et_bf16_to_fp32(et_fp32_to_bf16(wd[n * K + k]));
                dxr[i * lddx + k] = (float)s;
            }
    int bad = 0;
    for (int64_t i = 0; i < T && bad < 3; i++)
        for (int64_t k = 0; k < K && bad < 3; k++) {
            double s = 0;
            for (int64_t n = 0; n < N; n++) s += fabs((double)dy[i * lddy + n] * wd[n * K + k]);
            double b = (g_isa == ET_ISA_REF ? 1e-6 : 2e-5) * s + 1e-6;
            double e = fabs((double)dx[i * lddx + k] - dxr[i * lddx + k]);
            if (!(e <= b)) {
                bad++;
                CHECK(0, "dx %s %s T=%ld K=%ld N=%ld dx[%ld,%ld]=%.7g want %.7g (err %.3g > %.3g)",
                      et_isa_name(g_isa), et_type_get(t)->name, (long)T, (long)K, (long)N,
                      (long)i, (long)k, dx[i * lddx + k], dxr[i * lddx + k], e, b);
            }
        }
    free(wf); free(dy); free(dx); free(dxr); free(w); free(wd); free(work);
}

/* All paths × all types, forward: matvec (T=1), a small and a larger token count. */
static void test_matmul_all_paths(void) {
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        if (!et_kern_set_isa((et_isa)p)) continue;
        g_isa = (et_isa)p;
        for (int i = 0; i < NTYPES; i++) {
            CHECK(et_kern_matmul_supports(TYPES[i]), "%s unsupported", et_type_get(TYPES[i])->name);
            check_forward(TYPES[i], 1, 512, 67, false, 11 + i);
            check_forward(TYPES[i], 1, 256, 40, true, 12 + i);
            check_forward(TYPES[i], 7, 512, 33, true, 13 + i);
            if (!g_small) check_forward(TYPES[i], 37, 768, 67, false, 14 + i);
        }
    }
    et_kern_set_isa(et_kern_isa_best());
}

static void test_matmul_dx_all_paths(void) {
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        if (!et_kern_set_isa((et_isa)p)) continue;
        g_isa = (et_isa)p;
        for (int i = 0; i < NTYPES; i++) {
            check_dx(TYPES[i], 5, 512, 45, false, 21 + i);
            if (!g_small) check_dx(TYPES[i], 19, 768, 150, true, 22 + i);
            else check_dx(TYPES[i], 3, 256, 40, true, 22 + i);
        }
    }
    et_kern_set_isa(et_kern_isa_best());
}

/* Odd K for the scalar types (the bf16 kernel pads K to even, the f32 one takes any K). */
static void test_matmul_odd_k(void) {
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        if (!et_kern_set_isa((et_isa)p)) continue;
        g_isa = (et_isa)p;
        check_forward(ET_F32, 9, 37, 45, false, 31);
        check_forward(ET_F16, 3, 101, 31, false, 32);
        check_forward(ET_BF16, 10, 77, 64, true, 33);
        check_dx(ET_BF16, 4, 37, 45, false, 34);
        check_dx(ET_BF16, 3, 130, 2061, true, 55);   /* bf16 dX: 3 row chunks, odd N, a part range */
        check_dx(ET_F16, 2, 300, 1033, false, 63);   /* a whole and a part 256-column range */
        check_dx(ET_NF4, 2, 192, 517, false, 56);
        check_dx(ET_NF4, 28, 64, 32, false, 57);      /* a tiny Llama's k, up and down shapes */
        check_dx(ET_NF4, 28, 64, 128, false, 58);
        check_dx(ET_NF4, 28, 128, 64, false, 59);
        /* the AMX tiles' edges: 32-token blocks, a 16-token block, a vector tail of 2; a
         * last strip of 8 rows; K a multiple of 32 (tiles) and not (the vector kernel) */
        check_forward(ET_BF16, 50, 512, 40, true, 67);
        check_forward(ET_NF4, 50, 512, 40, false, 68);
        check_forward(ET_BF16, 16, 96, 32, false, 69);
        check_forward(ET_BF16, 33, 80, 33, true, 70);
        check_dx(ET_BF16, 50, 96, 256, true, 71);
        check_dx(ET_NF4, 50, 128, 512, false, 72);
        /* the f32 strip's K in chunks of 2048: two whole and a part one, summed in order */
        check_forward(ET_F32, 9, 4160, 40, true, 73);
        check_forward(ET_F16, 12, 4160, 33, false, 74);
        check_forward(ET_F32, 1, 37, 45, true, 35);      /* matvec with a masked tail */
        /* few outputs (rowdot where the path has it): LoRA's rank 8, 13 (8 + 5 rows), 16;
         * odd token counts (an unpaired last token), chunks of 16 tokens, masked K tails */
        check_forward(ET_F32, 37, 520, 8, false, 60);
        check_forward(ET_F32, 19, 1376, 13, true, 61);
        check_forward(ET_F32, 4, 9, 16, false, 62);
        check_forward(ET_F32, 33, 64, 1, true, 63);
        check_dx(ET_F32, 37, 8, 1376, true, 64);
        check_dx(ET_F32, 17, 13, 517, false, 65);
        check_dx(ET_F32, 2, 16, 9, false, 66);
        check_forward(ET_Q4_0, 1, 96, 40, false, 38);    /* an odd number of blocks */
        check_forward(ET_Q8_0, 1, 96, 40, true, 39);
        check_forward(ET_Q4_1, 1, 96, 40, false, 40);
        check_forward(ET_IQ4_NL, 1, 96, 40, true, 41);
        check_forward(ET_Q5_0, 1, 96, 40, false, 42);     /* Q5 matvec's odd last block */
        check_forward(ET_Q5_1, 1, 96, 40, true, 43);
        /* matvec rows of 13 blocks (two 4-block steps, then a 5-block padded tail) and 1 */
        for (int v = 0; v < 5; v++) {
            static const et_type q4x[5] = { ET_Q4_0, ET_Q4_1, ET_IQ4_NL, ET_Q5_0, ET_Q5_1 };
            check_forward(q4x[v], 1, 13 * 32, 37, v & 1, 44 + v);
            check_forward(q4x[v], 1, 32, 9, false, 49 + v);
        }
        check_forward(ET_F16, 1, 101, 31, false, 36);
        check_forward(ET_BF16, 1, 77, 64, false, 37);
        /* F16 at 64 and more tokens (three bf16 products on AMX, f32 strips elsewhere):
         * odd K (a padded last pair), a part last strip, accumulate and not */
        check_forward(ET_F16, 64, 301, 45, true, 80);
        check_forward(ET_F16, 100, 512, 70, false, 81);
        /* f32-family dX with fewer 256-column ranges than threads: token groups per range
         * (f32 straight from W; Q4_0 decoded, where the path takes f32 dX) */
        check_dx(ET_F32, 37, 200, 300, true, 77);
        check_dx(ET_Q4_0, 21, 256, 100, false, 78);
        check_dx(ET_F32, 9, 1056, 70, false, 79);    /* ranges of 512: two, and a part one */
        /* NF4 matvec rows of 3 blocks: double-quant groups (256 blocks) change mid-row */
        check_forward(ET_NF4, 1, 192, 300, true, 75);
        check_forward(ET_NF4, 1, 64 * 300, 3, false, 76);   /* rows longer than a group */
    }
    et_kern_set_isa(et_kern_isa_best());
}

/* A non-finite activation makes the outputs it reaches non-finite on every path, never a
 * finite number: NF4's int16 matvec quantizes x per 64-block and must not round a NaN or an
 * inf into some int16 (a NaN in block 0, an inf in block 1, one block of finite values). */
static void test_matvec_nonfinite(void) {
    const int64_t K = 192, N = 6;
    size_t ldw;
    float wf[192 * 6], x[192], y[6];
    et_t_fill(wf, N * K, 81, 1.0f);
    void *w = make_w(ET_NF4, wf, N, K, &ldw);
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        if (!et_kern_set_isa((et_isa)p)) continue;
        void *work = malloc(et_kern_matmul_work(ET_NF4, 1, K, N) + 1);   /* the path's size */
        for (int c = 0; c < 2; c++) {
            et_t_fill(x, K, 82, 1.0f);
            x[c == 0 ? 5 : 64 + 17] = c == 0 ? NAN : INFINITY;
            et_kern_matmul(ET_NF4, w, ldw, x, (size_t)K, y, (size_t)N, 1, K, N, false, work);
            for (int64_t n = 0; n < N; n++)
                CHECK(!isfinite(y[n]) && (c == 1 || isnan(y[n])), "%s: %s in x, y[%lld] = %g",
                      et_isa_name((et_isa)p), c == 0 ? "NaN" : "inf", (long long)n, y[n]);
        }
        free(work);
    }
    et_kern_set_isa(et_kern_isa_best());
    free(w);
}

/* Same thread count → bitwise the same result; here also across 1 and 2 threads, since each
 * output is summed by one thread in a fixed order. */
static void test_matmul_deterministic(void) {
    const int64_t T = 21, K = 512, N = 100;
    size_t ldw;
    float *wf = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(T * K) * 4);
    float *y1 = malloc((size_t)(T * N) * 4), *y2 = malloc((size_t)(T * N) * 4);
    et_t_fill(wf, N * K, 5, 1.0f);
    et_t_fill(x, T * K, 6, 1.0f);
    et_type ts[] = { ET_Q4_0, ET_Q4_K, ET_NF4, ET_F16, ET_F32 };
    int saved = omp_get_max_threads();
    for (int i = 0; i < 5; i++) {
        void *w = make_w(ts[i], wf, N, K, &ldw);
        omp_set_num_threads(1);
        void *work = malloc(et_kern_matmul_work(ts[i], T, K, N) + 1);
        et_kern_matmul(ts[i], w, ldw, x, (size_t)K, y1, (size_t)N, T, K, N, false, work);
        free(work);
        omp_set_num_threads(2);
        work = malloc(et_kern_matmul_work(ts[i], T, K, N) + 1);
        et_kern_matmul(ts[i], w, ldw, x, (size_t)K, y2, (size_t)N, T, K, N, false, work);
        CHECK(memcmp(y1, y2, (size_t)(T * N) * 4) == 0, "%s differs between 1 and 2 threads",
              et_type_get(ts[i])->name);
        free(work);
        /* dX too (y1 as dY): the f32 dX's column ranges are 512 wide on 1 thread here and 256
         * on 2, the sums over n the same */
        float *d1 = malloc((size_t)(T * K) * 4), *d2 = malloc((size_t)(T * K) * 4);
        for (int th = 1; th <= 2; th++) {
            omp_set_num_threads(th);
            work = malloc(et_kern_matmul_dx_work(ts[i], T, K, N) + 1);
            et_kern_matmul_dx(ts[i], w, ldw, y1, (size_t)N, th == 1 ? d1 : d2, (size_t)K, T, K, N,
                              false, work);
            free(work);
        }
        CHECK(memcmp(d1, d2, (size_t)(T * K) * 4) == 0, "%s dX differs between 1 and 2 threads",
              et_type_get(ts[i])->name);
        free(d1); free(d2);
        free(w);
    }
    omp_set_num_threads(saved);
    free(wf); free(x); free(y1); free(y2);
}

/* et_sgemm_own against et_ref_sgemm: all transposes, odd sizes, alpha/beta, beta = 0 with NaN
 * in C (must be ignored, as BLAS does).  Bound 2e-5 · sum|a b| + |beta c| rounding. */
static void check_sgemm_own(int64_t M, int64_t N, int64_t K);
static void test_sgemm_own(void) {
    check_sgemm_own(37, 45, 300);    /* K > one 256-deep slice */
    check_sgemm_own(100, 13, 300);   /* few columns, many rows: computed as Cᵀ, 32 rows a task */
    check_sgemm_own(64, 16, 40);
}

static void check_sgemm_own(int64_t M, int64_t N, int64_t K) {
    /* Room for either layout: op(A) is M×K with 3 spare columns whichever way it is stored. */
    const int64_t na = (M + 3) * (K + 3), nb = (N + 3) * (K + 3);
    float *A = malloc(na * 4), *B = malloc(nb * 4);
    float *C = malloc(M * (N + 2) * 4), *Cr = malloc(M * (N + 2) * 4);
    float *Aa = malloc(na * 4), *Ba = malloc(nb * 4), *S = malloc(M * (N + 2) * 4);
    et_t_fill(A, na, 1, 1.0f);
    et_t_fill(B, nb, 2, 1.0f);
    for (int64_t i = 0; i < na; i++) Aa[i] = fabsf(A[i]);
    for (int64_t i = 0; i < nb; i++) Ba[i] = fabsf(B[i]);
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        if (!et_kern_set_isa((et_isa)p)) continue;
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bz = 0; bz < 2; bz++) {
                    int64_t lda = ta ? M + 3 : K + 3, ldb = tb ? K + 3 : N + 3, ldc = N + 2;
                    float beta = bz ? 0.0f : 0.3f;
                    for (int64_t i = 0; i < M * ldc; i++) C[i] = Cr[i] = bz ? NAN : (float)(i % 3);
                    et_sgemm_own(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, beta, C, ldc);
                    et_ref_sgemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, beta, Cr, ldc);
                    et_ref_sgemm(ta, tb, M, N, K, 1.0f, Aa, lda, Ba, ldb, 0.0f, S, ldc);
                    int bad = 0;
                    for (int64_t i = 0; i < M && bad < 3; i++)
                        for (int64_t j = 0; j < N && bad < 3; j++) {
                            double e = fabs((double)C[i * ldc + j] - Cr[i * ldc + j]);
                            double b = 2e-5 * S[i * ldc + j] + 1e-6;
                            if (!(e <= b)) {
                                bad++;
                                CHECK(0, "%s %ldx%ldx%ld tA=%d tB=%d beta=%g C[%ld,%ld]=%g want %g",
                                      et_isa_name((et_isa)p), (long)M, (long)N, (long)K, ta, tb, beta, (long)i, (long)j,
                                      C[i * ldc + j], Cr[i * ldc + j]);
                            }
                        }
                }
    }
    et_kern_set_isa(et_kern_isa_best());
    free(A); free(B); free(C); free(Cr); free(Aa); free(Ba); free(S);
}

/* EDGETUNE_ISA names round-trip, and a path the CPU lacks is refused. */
static void test_dispatch(void) {
    for (int p = 0; p < ET_ISA_COUNT; p++)
        CHECK(et_isa_from_name(et_isa_name((et_isa)p)) == (et_isa)p, "name %d", p);
    CHECK(et_isa_from_name("sse9") == ET_ISA_COUNT, "unknown name accepted");
#if defined(__x86_64__)
    CHECK(!et_kern_set_isa(ET_ISA_NEON), "x86 accepted neon");
    CHECK(et_kern_isa_best() >= ET_ISA_AVX2, "baseline is AVX2");
#endif
    /* every SIMD path this CPU has really registers its kernels */
    for (int p = 1; p < ET_ISA_COUNT; p++) {
        if (!et_kern_set_isa((et_isa)p)) continue;
        CHECK(!strcmp(et_kern_matmul_family(ET_Q4_0), "int8"), "%s: q4_0 runs %s",
              et_isa_name((et_isa)p), et_kern_matmul_family(ET_Q4_0));
        CHECK(!strcmp(et_kern_matmul_family(ET_F16), p == ET_ISA_AMX ? "bf16x3" : "f32"),
              "%s: f16 runs %s", et_isa_name((et_isa)p), et_kern_matmul_family(ET_F16));
        CHECK(et_kern_peak_loop(ET_PEAK_F32_FMA, 10) > 0, "%s: no fma peak loop", et_isa_name((et_isa)p));
    }
    CHECK(et_kern_set_isa(ET_ISA_REF) && et_kern_isa() == ET_ISA_REF, "ref not selectable");
    CHECK(!strcmp(et_kern_matmul_family(ET_Q4_0), "ref"), "ref path runs %s",
          et_kern_matmul_family(ET_Q4_0));
    CHECK(!et_kern_matmul_supports(ET_I32) && !et_kern_matmul_supports(ET_Q8_K), "bad types");
    et_kern_set_isa(et_kern_isa_best());
}

/* The paths' vector f32 -> bf16 (activations and dY of the bf16 kernels) against
 * et_fp32_to_bf16 bit for bit: ties both ways, NaNs with payloads, infinities, denormals,
 * signed zeros, random values; every length 1..40 (masked tails). */
static void test_to_bf16(void) {
    enum { N = 40 };
    static const uint32_t special[] = { 0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7fc00001u, 0xffa12345u, 0x7f800001u,
                                        0x7f800000u, 0xff800000u, 0x00000001u, 0x807fffffu, 0x00008000u, 0x80000000u,
                                        0x7f7fffffu, 0x7f7f8000u, 0x00018000u, 0x3f7f8000u };
    float x[N];
    uint64_t st = 99;
    for (int i = 0; i < N; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = i < (int)(sizeof special / 4) ? special[i] : (uint32_t)(st >> 32);
        memcpy(&x[i], &u, 4);
    }
    int paths = 0;
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        const et__isa_ops *io = et__kern_isa_ops_for((et_isa)p);
        if (!et_kern_isa_available((et_isa)p) || !io || !io->to_bf16) continue;
        paths++;
        for (int n = 1; n <= N; n++) {
            uint16_t y[N + 1];
            y[n] = 0xABCD;
            io->to_bf16(x + N - n, y, n);
            int bad = 0;
            for (int i = 0; i < n; i++) bad += y[i] != et_fp32_to_bf16(x[N - n + i]);
            CHECK(bad == 0 && y[n] == 0xABCD, "%s n=%d: %d values differ%s", et_isa_name((et_isa)p), n, bad,
                  y[n] != 0xABCD ? ", wrote past n" : "");
        }
    }
    printf("  to_bf16 checked on %d path(s)\n", paths);
    /* the two-row interleave of the bf16 dX strips: the same rounding, pairs in order */
    paths = 0;
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        const et__isa_ops *io = et__kern_isa_ops_for((et_isa)p);
        if (!et_kern_isa_available((et_isa)p) || !io || !io->bf16_pairs) continue;
        paths++;
        for (int n = 1; n <= N / 2; n++)
            for (int withb = 0; withb < 2; withb++) {
                uint16_t y[N + 1];
                y[2 * n] = 0xABCD;
                const float *a = x + N / 2 - n, *b = withb ? x + N - n : NULL;
                io->bf16_pairs(a, b, y, n);
                int bad = 0;
                for (int i = 0; i < n; i++)
                    bad += y[2 * i] != et_fp32_to_bf16(a[i]) || y[2 * i + 1] != (b ? et_fp32_to_bf16(b[i]) : 0);
                CHECK(bad == 0 && y[2 * n] == 0xABCD, "%s pairs n=%d b=%d: %d pairs differ%s", et_isa_name((et_isa)p), n,
                      withb, bad, y[2 * n] != 0xABCD ? ", wrote past 2n" : "");
            }
    }
    printf("  bf16_pairs checked on %d path(s)\n", paths);
    /* the high/low split of F16's three-product path: hi = bf16(x), lo = bf16(x - hi) */
    paths = 0;
    for (int p = 0; p < ET_ISA_COUNT; p++) {
        const et__isa_ops *io = et__kern_isa_ops_for((et_isa)p);
        if (!et_kern_isa_available((et_isa)p) || !io || !io->split_bf16) continue;
        paths++;
        for (int n = 1; n <= N; n++) {
            uint16_t hi[N + 1], lo[N + 1];
            hi[n] = lo[n] = 0xABCD;
            io->split_bf16(x + N - n, hi, lo, n);
            int bad = 0;
            for (int i = 0; i < n; i++) {
                const float v = x[N - n + i];
                const uint16_t h = et_fp32_to_bf16(v);
                const uint32_t hu = (uint32_t)h << 16;
                float hf;
                memcpy(&hf, &hu, 4);
                bad += hi[i] != h || lo[i] != et_fp32_to_bf16(v - hf);
            }
            CHECK(bad == 0 && hi[n] == 0xABCD && lo[n] == 0xABCD, "%s split n=%d: %d values differ%s",
                  et_isa_name((et_isa)p), n, bad, hi[n] != 0xABCD || lo[n] != 0xABCD ? ", wrote past n" : "");
        }
    }
    printf("  split_bf16 checked on %d path(s)\n", paths);
}

int main(void) {
    const char *sm = getenv("ET_KERNELS_SMALL");
    g_small = sm && *sm == '1';
    printf("# best path: %s\n", et_isa_name(et_kern_isa_best()));
    RUN(test_dispatch);
    RUN(test_to_bf16);
    RUN(test_sgemm_own);
    RUN(test_matmul_all_paths);
    RUN(test_matmul_odd_k);
    RUN(test_matmul_dx_all_paths);
    RUN(test_matmul_deterministic);
    RUN(test_matvec_nonfinite);
    return DONE();
}
