/* Vulkan matrix products against a plain C reference computed here, for every weight type
 * (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K, IQ4_NL, NF4: every type the CPU
 * compressor writes, Q6_K and IQ4_NL being its fallbacks for rows of less than 256), every shader variant the device runs (shared-memory or
 * subgroup reductions, fp32 or fp16 arithmetic), matvec (T <= 4) and tiled matmul, the
 * forward y = x·Wᵀ and dX = dY·W, with and without accumulation — under the device's own limits,
 * under EDGETUNE_VK_LIMITS=mobile, and with 16 KiB bindings so every weight is split into many
 * row chunks.
 *
 * Reference: the weight is quantized by kernels/ref and dequantized by kernels/ref; the product
 * of those dequantized floats is taken in double.  So the only error measured is the shader's
 * arithmetic (its dequantization must be exact up to float rounding):
 *   fp32 variants: normalized error <= 2e-6 (K=256 float sums: ~sqrt(K)·2^-24 ≈ 1e-6 worst).
 *   fp16 variants: <= 2e-3 (x and w rounded to fp16, 2^-11 relative each, products in fp16).
 * fp16 overflow: x, w in [6, 8], K = 2048: the sum (~1e5) overflows fp16 (max 65504), each
 * product (<= 64) does not; the fp16 variants accumulate in fp32 and must stay within 2e-3.
 */
#include "test_vulkan.h"
#include "dtype.h"
#include "ref/quant_ref.h"

static const et_type kTypes[] = { ET_F32, ET_F16, ET_BF16, ET_Q8_0, ET_Q4_0, ET_Q4_1, ET_Q5_0, ET_Q5_1,
                                  ET_Q4_K, ET_Q6_K, ET_IQ4_NL, ET_NF4 };

/* Quantize w (N×K) to `t`; returns the bytes and the dequantized floats in *deq. */
static void *make_weight(et_type t, const float *w, int64_t K, int64_t N, float **deq) {
    size_t nbytes = et_type_nbytes(t, K, N);
    void *q = calloc(1, nbytes);
    *deq = malloc((size_t)(K * N) * sizeof(float));
    if (t == ET_NF4) {
        et_ref_quantize_nf4(w, q, K * N);
        et_ref_dequantize_nf4_rows(q, N, K, 0, N, *deq);
    } else {
        et_type_get(t)->from_f32(w, q, K * N);
        et_type_get(t)->to_f32(q, *deq, K * N);
    }
    return q;
}

/* Did the last submit run a shader whose name starts with `want`? */
static int ran(const char *want) {
    const et_vk_timing *tm;
    int n = et_vk_timings(vkt_ctx, &tm);
    for (int i = 0; i < n; i++)
        if (!strcmp(tm[i].label, want)) return 1;
    return n == 0;   /* no timestamps on this queue: cannot tell, do not fail on it */
}

typedef struct { bool sg, h; const char *suffix; } variant;

static void run_type(et_type t, variant v, int64_t K, int64_t N, float lo, float hi,
                     uint64_t seed, double tol) {
    const int64_t Ts[] = { 1, 3, 12 };
    float *w = malloc((size_t)(K * N) * 4);
    et_t_fill(w, K * N, seed, 1.0f);
    for (int64_t i = 0; i < K * N; i++) w[i] = lo + (hi - lo) * 0.5f * (w[i] + 1.0f);
    float *deq;
    void *q = make_weight(t, w, K, N, &deq);
    et_vk_weight W;
    int rc = et_vk_weight_upload(vkt_ctx, t, q, K, N, &W);
    CHECK(rc == 0, "[%s] upload %s: %s", vkt_pass, et_type_get(t)->name, et_vk_error(vkt_ctx));
    if (rc) goto out;
    for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
        int64_t T = Ts[ti];
        float *x = malloc((size_t)(T * K) * 4), *dy = malloc((size_t)(T * N) * 4);
        float *y0 = malloc((size_t)(T * N) * 4), *dx0 = malloc((size_t)(T * K) * 4);
        et_t_fill(x, T * K, seed + 7 * T, 1.0f);
        for (int64_t i = 0; i < T * K; i++) x[i] = lo + (hi - lo) * 0.5f * (x[i] + 1.0f);
        et_t_fill(dy, T * N, seed + 11 * T, 1.0f);
        et_t_fill(y0, T * N, seed + 13 * T, 1.0f);
        et_t_fill(dx0, T * K, seed + 17 * T, 1.0f);
        for (int acc = 0; acc < 2; acc++) {
            et_vk_buf *bx = vkt_buf(x, T * K), *by = vkt_buf(y0, T * N);
            et_vk_buf *bdy = vkt_buf(dy, T * N), *bdx = vkt_buf(dx0, T * K);
            CHECK(bx && by && bdy && bdx, "alloc: %s", et_vk_error(vkt_ctx));
            if (!bx || !by || !bdy || !bdx) break;
            rc = et_vk_begin(vkt_ctx);
            rc = rc ? rc : et_vk_op_matmul(vkt_ctx, &W, bx, by, T, acc);
            rc = rc ? rc : et_vk_op_matmul_dx(vkt_ctx, &W, bdy, bdx, T, acc);
            CHECK(rc == 0, "[%s] record: %s", vkt_pass, et_vk_error(vkt_ctx));
            if (rc == 0 && vkt_submit("matmul") == 0) {
                char want[64];
                /* matmul has no reductions, hence no subgroup variant */
                snprintf(want, sizeof want, "%s_%s%s", T <= 4 ? "matvec" : "matmul",
                         et_type_get(t)->name, T <= 4 || v.h ? v.suffix : "");
                CHECK(ran(want), "[%s] expected variant %s to run", vkt_pass, want);
                double *ry = malloc((size_t)(T * N) * 8), *rdx = malloc((size_t)(T * K) * 8);
                for (int64_t tt = 0; tt < T; tt++) {
                    for (int64_t n = 0; n < N; n++) {
                        double s = acc ? y0[tt * N + n] : 0.0;
                        for (int64_t k = 0; k < K; k++)
                            s += (double)x[tt * K + k] * deq[n * K + k];
                        ry[tt * N + n] = s;
                    }
                    for (int64_t k = 0; k < K; k++) {
                        double s = acc ? dx0[tt * K + k] : 0.0;
                        for (int64_t n = 0; n < N; n++)
                            s += (double)dy[tt * N + n] * deq[n * K + k];
                        rdx[tt * K + k] = s;
                    }
                }
                float *gy = vkt_get(by, T * N, "y"), *gdx = vkt_get(bdx, T * K, "dx");
                float *gx = vkt_get(bx, T * K, "x");
                double ey = vkt_nerr(gy, ry, T * N), edx = vkt_nerr(gdx, rdx, T * K);
                CHECK(ey <= tol, "[%s] %s%s T=%lld acc=%d y: normalized error %.3g > %.3g",
                      vkt_pass, et_type_get(t)->name, v.suffix, (long long)T, acc, ey, tol);
                CHECK(edx <= tol, "[%s] %s%s T=%lld acc=%d dx: normalized error %.3g > %.3g",
                      vkt_pass, et_type_get(t)->name, v.suffix, (long long)T, acc, edx, tol);
                CHECK(!memcmp(gx, x, (size_t)(T * K) * 4), "[%s] input x modified", vkt_pass);
                free(gy); free(gdx); free(gx); free(ry); free(rdx);
            }
            et_vk_buf_free(vkt_ctx, bx); et_vk_buf_free(vkt_ctx, by);
            et_vk_buf_free(vkt_ctx, bdy); et_vk_buf_free(vkt_ctx, bdx);
        }
        free(x); free(dy); free(y0); free(dx0);
    }
    et_vk_weight_free(vkt_ctx, &W);
out:
    free(w); free(q); free(deq);
}

/* Every variant this context can run. */
static int variants(variant *v) {
    const et_vk_limits *l = et_vk_get_limits(vkt_ctx);
    int n = 0;
    v[n++] = (variant){ false, false, "" };
    if (l->subgroups) v[n++] = (variant){ true, false, "_sg" };
    if (l->fp16) v[n++] = (variant){ false, true, "_h" };
    return n;
}

static void set_variant(variant v) {
    et_vk_tuning *tu = et_vk_tuning_get(vkt_ctx);
    tu->subgroups = v.sg;
    tu->fp16 = v.h;
}

static void test_all_types_all_variants(void) {
    variant vs[3];
    int nv = variants(vs);
    for (int vi = 0; vi < nv; vi++) {
        set_variant(vs[vi]);
        for (size_t i = 0; i < sizeof kTypes / sizeof kTypes[0]; i++)
            run_type(kTypes[i], vs[vi], 256, 300, -1.0f, 1.0f, 100 + i,
                     vs[vi].h ? 2e-3 : 2e-6);
    }
    set_variant(vs[0]);
}

static void test_fp16_no_overflow(void) {
    variant vs[3];
    int nv = variants(vs);
    for (int vi = 0; vi < nv; vi++) {
        if (!vs[vi].h) continue;
        set_variant(vs[vi]);
        run_type(ET_F16, vs[vi], 2048, 40, 6.0f, 8.0f, 5, 2e-3);
        run_type(ET_Q8_0, vs[vi], 2048, 40, 6.0f, 8.0f, 6, 2e-3);
    }
    set_variant(vs[0]);
}

/* The weight really is split: under 16 KiB bindings an f32 256×300 weight has 19 chunks. */
static void test_tiled_layout(void) {
    const et_vk_limits *l = et_vk_get_limits(vkt_ctx);
    float *w = calloc(256 * 300, 4);
    et_vk_weight W;
    int rc = et_vk_weight_upload(vkt_ctx, ET_F32, w, 256, 300, &W);
    CHECK(rc == 0, "upload: %s", et_vk_error(vkt_ctx));
    if (!rc) {
        uint64_t per = (l->max_binding_bytes - 16) / 1024;
        uint64_t want = (300 + per - 1) / per;
        CHECK(et_vk_buf_nchunks(W.buf) == want, "[%s] %u chunks, want %llu", vkt_pass,
              et_vk_buf_nchunks(W.buf), (unsigned long long)want);
        et_vk_weight_free(vkt_ctx, &W);
    }
    /* bad input is refused with a message, not a crash */
    rc = et_vk_weight_upload(vkt_ctx, ET_Q4_K, w, 100, 3, &W);
    CHECK(rc != 0 && strstr(et_vk_error(vkt_ctx), "K=100"), "bad K accepted: %s",
          et_vk_error(vkt_ctx));
    rc = et_vk_weight_upload(vkt_ctx, ET_Q8_K, w, 256, 3, &W);   /* an activation format */
    CHECK(rc != 0 && strstr(et_vk_error(vkt_ctx), "q8_k"), "q8_k accepted: %s",
          et_vk_error(vkt_ctx));
    free(w);
}

int main(void) {
    if (vkt_opted_out()) return 0;
    const char *passes[] = { "", "mobile", "mobile:16384" };
    for (int p = 0; p < 3; p++) {
        vkt_pass = passes[p][0] ? passes[p] : "device";
        vkt_ctx = vkt_open(passes[p]);
        if (!vkt_ctx) {
            printf("FAIL vulkan_open[%s]: no Vulkan device (lavapipe is a test dependency; "
                   "EDGETUNE_NO_VULKAN_TESTS=1 opts out)\n", vkt_pass);
            return 1;
        }
        printf("# pass %s: %s\n", vkt_pass, et_vk_info(vkt_ctx)->name);
        if (p == 2) {
            RUN(test_tiled_layout);
        }
        RUN(test_all_types_all_variants);
        if (p == 0) RUN(test_fp16_no_overflow);
        et_vk_close(vkt_ctx);
    }
    return DONE();
}
