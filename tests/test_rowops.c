/* The tile primitives attention and cross-entropy are built from, and the tiled attention
 * itself at sizes the gradient check (tests/test_grad.c, tiny shapes, one tile) never reaches.
 *
 *   row exp      et_kern_row_exp / _expsum against expf on a dense sweep of [-87, 88]:
 *                ≤ 2 ulp (Cephes' polynomial is < 1 ulp on the reduced range; the scaling by
 *                2^n is exact); -inf and arguments below -87.34 give exactly 0, NaN stays
 *                NaN; on the ref path the functions are expf itself, bit for bit.
 *   sgemm_st     the single-thread GEMM against the scalar reference on every ISA path this
 *                CPU runs, all four transpose combinations, beta 0 and 1, ragged sizes:
 *                |error| ≤ 1e-5 · K · max|a|·max|b| (f32 sums of K products in any order).
 *   attention    forward and the three gradients against a plain double-precision loop,
 *                with several query tiles (T > 32 rows), several key tiles (S > 64 keys),
 *                grouped heads, a KV prefix (n_past) and a sliding window: relative error
 *                ≤ 1e-4 of the largest magnitude (f32 softmax and sums of ≤ 160 terms).
 */
#include "harness.h"
#include "graph.h"
#include "kernels.h"
#include "ref/ref.h"

static int ulp_diff(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4);
    memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    int64_t d = (int64_t)ia - ib;
    return (int)(d < 0 ? -d : d);
}

static void test_row_exp_accuracy(void) {
    enum { N = 200003 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = -87.0f + 175.0f * (float)i / (N - 1);
    memcpy(y, x, sizeof x);
    et_kern_row_exp(y, N, 1.0f, 0.0f, 1.0f);
    int worst = 0;
    for (int i = 0; i < N; i++) {
        int d = ulp_diff(y[i], expf(x[i]));
        if (d > worst) worst = d;
    }
    printf("  vector exp: worst %d ulp over %d points in [-87, 88]\n", worst, N);
    CHECK(worst <= 2, "exp is %d ulp from expf", worst);
    /* sums over the softmax range (arguments ≤ 0, as after subtracting a row's max) */
    const int n0 = N / 2;   /* x[0..n0) spans [-87, 0.5) */
    memcpy(y, x, sizeof x);
    float sum = et_kern_row_exp(y, n0, 1.0f, 0.5f, 1.0f), sum2 = et_kern_row_expsum(x, n0, 0.5f);
    double ref_sum = 0;
    for (int i = 0; i < n0; i++) ref_sum += exp((double)x[i] - 0.5);
    CHECK_CLOSE(sum, ref_sum, 1e-5, 0, "sum of exponentials (row_exp)");
    CHECK_CLOSE(sum2, ref_sum, 1e-5, 0, "sum of exponentials (row_expsum)");
    /* affine argument and output factor: c·exp(a·x − b) */
    float z[13], w[13];
    for (int i = 0; i < 13; i++) z[i] = w[i] = 0.37f * (float)i - 2.0f;
    float s2 = et_kern_row_exp(z, 13, 0.5f, 1.25f, 3.0f);
    double want = 0;
    for (int i = 0; i < 13; i++) {
        float e = expf(0.5f * w[i] - 1.25f);
        want += e;
        CHECK(ulp_diff(z[i], 3.0f * e) <= 3, "c·exp(a·x−b) at %d: %g vs %g", i, z[i], 3.0f * e);
    }
    CHECK_CLOSE(s2, want, 1e-6, 0, "affine sum (before the factor c)");
    double want2 = 0;
    for (int i = 0; i < 13; i++) want2 += exp((double)w[i] - 0.5);
    CHECK_CLOSE(et_kern_row_expsum(w, 13, 0.5f), want2, 1e-6, 0, "expsum with a ragged tail");
}

static void test_row_exp_edges(void) {
    float v[11] = { -INFINITY, -1000.0f, -87.5f, -87.2f, 0.0f, 1e-30f, 88.0f, NAN, 1.0f, -1.0f, -0.0f };
    float in[11];
    memcpy(in, v, sizeof v);
    et_kern_row_exp(v, 11, 1.0f, 0.0f, 1.0f);
    CHECK(v[0] == 0.0f && v[1] == 0.0f && v[2] == 0.0f, "exp(-inf), exp(-1000), exp(-87.5) = %g %g %g", v[0], v[1], v[2]);
    CHECK(v[3] > 0 && ulp_diff(v[3], expf(in[3])) <= 2, "exp(-87.2) = %g (expf %g)", v[3], expf(in[3]));
    CHECK(v[4] == 1.0f && v[5] == 1.0f && v[10] == 1.0f, "exp(0) = %g", v[4]);
    CHECK(isnan(v[7]), "exp(NaN) = %g", v[7]);
    CHECK(ulp_diff(v[6], expf(88.0f)) <= 2, "exp(88) = %g (expf %g)", v[6], expf(88.0f));
    /* a masked softmax row: the -inf entries vanish, the sum counts only the others */
    float row[9] = { 0.5f, -INFINITY, 0.25f, -INFINITY, -INFINITY, 1.0f, 0.0f, -INFINITY, 2.0f };
    float mx = et_kern_row_max(row, 9);
    CHECK(mx == 2.0f, "row max %g", mx);
    float s = et_kern_row_expsum(row, 9, mx);
    double want = expf(-1.5f) + expf(-1.75f) + expf(-1.0f) + expf(-2.0f) + 1.0;
    CHECK_CLOSE(s, want, 1e-6, 0, "masked row sum");
    float m2[3] = { -3.0f, -1.0f, -2.0f };
    CHECK(et_kern_row_max(m2, 3) == -1.0f, "max of a short row");
    CHECK(et_kern_row_max(m2, 0) == -INFINITY, "max of an empty row");
}

static void test_row_exp_ref_path_is_expf(void) {
    et_isa was = et_kern_isa();
    CHECK(et_kern_set_isa(ET_ISA_REF), "ref path");
    float x[37], y[37];
    for (int i = 0; i < 37; i++) x[i] = y[i] = 0.731f * (float)i - 13.0f;
    et_kern_row_exp(y, 37, 1.0f, 0.5f, 1.0f);
    int bad = 0;
    for (int i = 0; i < 37; i++) bad += y[i] != expf(x[i] - 0.5f);
    CHECK(bad == 0, "%d of 37 values differ from expf on the ref path", bad);
    et_kern_set_isa(was);
}

/* SiLU rows (forward, SwiGLU, backward) against the same formulas in double, over [-30, 30]
 * plus the edges (±100: the exponential saturates to 0 / inf, and silu must give −0 / x
 * rather than NaN; NaN in, NaN out), every tail length, and written in place (z = x). */
static void test_row_silu(void) {
    enum { N = 203 };
    float x[N], y[N], z[N], zi[N];
    for (int i = 0; i < N; i++) {
        x[i] = -30.0f + 60.0f * (float)i / (N - 1);
        y[i] = 0.5f + (float)(i % 7) * 0.25f;
    }
    x[0] = -100.0f; x[1] = 100.0f; x[2] = NAN; x[3] = 0.0f; x[4] = -0.0f;
    for (int kind = 0; kind < 3; kind++) {
        const float *yy = kind == ET_KERN_SILU ? NULL : y;
        double worst = 0;
        for (int n = 1; n <= N; n += (n < 20 ? 1 : 37)) {
            et_kern_row_silu((et_kern_act)kind, x, yy, z, n);
            memcpy(zi, x, sizeof zi);
            et_kern_row_silu((et_kern_act)kind, zi, yy, zi, n);   /* in place */
            for (int i = 0; i < n; i++) {
                double s = 1.0 / (1.0 + exp(-(double)x[i])), xv = x[i], yv = yy ? y[i] : 1.0;
                double want = kind == ET_KERN_SILU ? xv * s : kind == ET_KERN_SWIGLU ? xv * s * yv
                                                                                      : yv * s * (1 + xv * (1 - s));
                if (isnan(x[i])) {
                    CHECK(isnan(z[i]), "kind %d: NaN in gave %g", kind, z[i]);
                    continue;
                }
                /* relative to the terms' size: y·s·(1 + x(1 − s)) cancels near x = −1.28 */
                double mag = fabs(yv) * s * (1 + fabs(xv)), e = fabs(z[i] - want) / (mag + 1e-30);
                if (mag > 1e-30) worst = fmax(worst, e);
                CHECK(isfinite(z[i]) && (e <= 1e-6 || fabs(z[i] - want) <= 1e-30), "kind %d x=%g: %g want %g", kind,
                      x[i], z[i], want);
                CHECK(zi[i] == z[i] || (isnan(zi[i]) && isnan(z[i])), "kind %d: in place differs at %d", kind, i);
            }
        }
        printf("  silu kind %d: worst error %.2g of the terms' size\n", kind, worst);
    }
}

static void test_sgemm_st_all_paths(void) {
    const int64_t shapes[][3] = { {1, 1, 1}, {7, 33, 5}, {32, 64, 16}, {40, 97, 130}, {3, 300, 64}, {65, 31, 257} };
    float *a = malloc(400 * 400 * 4), *b = malloc(400 * 400 * 4), *c = malloc(400 * 400 * 4), *r = malloc(400 * 400 * 4);
    et_t_fill(a, 400 * 400, 1, 1.0f);
    et_t_fill(b, 400 * 400, 2, 1.0f);
    et_isa was = et_kern_isa();
    int paths = 0;
    for (int isa = 0; isa < ET_ISA_COUNT; isa++) {
        if (!et_kern_isa_available((et_isa)isa) || !et_kern_set_isa((et_isa)isa)) continue;
        paths++;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int tr = 0; tr < 4; tr++)
                for (int beta = 0; beta <= 1; beta++) {
                    int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                    bool ta = tr & 1, tb = tr & 2;
                    int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
                    et_t_fill(c, 400 * 400, 3, 1.0f);
                    memcpy(r, c, 400 * 400 * 4);
                    et_sgemm_st(ta, tb, M, N, K, 0.75f, a, lda, b, ldb, (float)beta, c, ldc);
                    et_ref_sgemm(ta, tb, M, N, K, 0.75f, a, lda, b, ldb, (float)beta, r, ldc);
                    double worst = 0;
                    for (int64_t i = 0; i < M; i++)
                        for (int64_t j = 0; j < N; j++) worst = fmax(worst, fabs(c[i * ldc + j] - r[i * ldc + j]));
                    CHECK(worst <= 1e-5 * (double)K, "%s %lldx%lldx%lld ta=%d tb=%d beta=%d: error %g",
                          et_isa_name((et_isa)isa), (long long)M, (long long)N, (long long)K, ta, tb, beta, worst);
                }
    }
    printf("  sgemm_st checked on %d path(s)\n", paths);
    et_kern_set_isa(was);
    free(a); free(b); free(c); free(r);
}

/* ---- attention against a plain double loop ---- */

typedef struct { int64_t hd, nh, nkv, T, B, n_past, window; } acase;

static void naive_attention(const acase *c, const float *q, const float *k, const float *v, const float *dO,
                            float scale, double *o, double *dq, double *dk, double *dv) {
    int64_t S = c->n_past + c->T, grp = c->nh / c->nkv, hd = c->hd;
    double *p = malloc((size_t)S * sizeof *p), *dp = malloc((size_t)S * sizeof *dp);
    memset(dk, 0, sizeof(double) * (size_t)(hd * c->nkv * S * c->B));
    memset(dv, 0, sizeof(double) * (size_t)(hd * c->nkv * S * c->B));
#define QI(h, t, b) ((((b) * c->T + (t)) * c->nh + (h)) * hd)
#define KI(g, s, b) ((((b) * S + (s)) * c->nkv + (g)) * hd)
    for (int64_t b = 0; b < c->B; b++)
        for (int64_t h = 0; h < c->nh; h++)
            for (int64_t t = 0; t < c->T; t++) {
                int64_t g = h / grp, qpos = c->n_past + t, hi = qpos + 1;
                int64_t lo = c->window > 0 && qpos - c->window + 1 > 0 ? qpos - c->window + 1 : 0;
                double mx = -INFINITY, sum = 0;
                for (int64_t s = lo; s < hi; s++) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; i++) d += (double)q[QI(h, t, b) + i] * k[KI(g, s, b) + i];
                    p[s] = d * scale;
                    mx = fmax(mx, p[s]);
                }
                for (int64_t s = lo; s < hi; s++) { p[s] = exp(p[s] - mx); sum += p[s]; }
                for (int64_t s = lo; s < hi; s++) p[s] /= sum;
                double D = 0;
                for (int64_t i = 0; i < hd; i++) {
                    double acc = 0;
                    for (int64_t s = lo; s < hi; s++) acc += p[s] * v[KI(g, s, b) + i];
                    o[QI(h, t, b) + i] = acc;
                    D += acc * dO[QI(h, t, b) + i];
                }
                for (int64_t i = 0; i < hd; i++) dq[QI(h, t, b) + i] = 0;
                for (int64_t s = lo; s < hi; s++) {
                    double d = 0;
                    for (int64_t i = 0; i < hd; i++) d += (double)dO[QI(h, t, b) + i] * v[KI(g, s, b) + i];
                    dp[s] = p[s] * (d - D) * scale;
                    for (int64_t i = 0; i < hd; i++) {
                        dq[QI(h, t, b) + i] += dp[s] * k[KI(g, s, b) + i];
                        dk[KI(g, s, b) + i] += dp[s] * q[QI(h, t, b) + i];
                        dv[KI(g, s, b) + i] += p[s] * dO[QI(h, t, b) + i];
                    }
                }
            }
#undef QI
#undef KI
    free(p);
    free(dp);
}

static double max_rel(const float *got, const double *want, int64_t n) {
    double big = 0, err = 0;
    for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(want[i]));
    for (int64_t i = 0; i < n; i++) err = fmax(err, fabs(got[i] - want[i]));
    return big > 0 ? err / big : err;
}

static void check_attention(const acase *c) {
    int64_t S = c->n_past + c->T;
    et_ctx *ctx = et_ctx_new(1 << 12);
    et_tensor *q = et_new(ctx, ET_F32, 4, (int64_t[]){c->hd, c->nh, c->T, c->B}, ET_FLAG_PARAM, "q");
    et_tensor *k = et_new(ctx, ET_F32, 4, (int64_t[]){c->hd, c->nkv, S, c->B}, ET_FLAG_PARAM, "k");
    et_tensor *v = et_new(ctx, ET_F32, 4, (int64_t[]){c->hd, c->nkv, S, c->B}, ET_FLAG_PARAM, "v");
    et_tensor *R = et_new(ctx, ET_F32, 4, q->ne, 0, "R");
    et_t_fill(q->data, (long)et_nelements(q), 11, 1.0f);
    et_t_fill(k->data, (long)et_nelements(k), 12, 1.0f);
    et_t_fill(v->data, (long)et_nelements(v), 13, 1.0f);
    et_t_fill(R->data, (long)et_nelements(R), 14, 1.0f);
    const float scale = 1.0f / sqrtf((float)c->hd) * 1.7f;   /* peaky enough to test the max shift */
    et_tensor *o = et_attention(ctx, q, k, v, scale, (int)c->n_past, (int)c->window);
    et_tensor *loss = et_sum(ctx, et_mul(ctx, o, R));   /* dL/dO = R */
    o->flags |= ET_FLAG_OUTPUT;
    et_graph *g = et_graph_new(ctx, 64);
    et_plan plan = {0};
    bool ok = loss && g && et_graph_add(g, loss) && et_graph_backward(g, loss, NULL) && et_graph_plan(g, &plan) &&
              et_graph_alloc(g, &plan) && et_graph_compute(g, &plan, 0);
    CHECK(ok, "graph: %s", et_ctx_error(ctx));
    if (ok) {
        int64_t nq = et_nelements(q), nk = et_nelements(k);
        double *wo = malloc(sizeof(double) * (size_t)nq), *wdq = malloc(sizeof(double) * (size_t)nq);
        double *wdk = malloc(sizeof(double) * (size_t)nk), *wdv = malloc(sizeof(double) * (size_t)nk);
        naive_attention(c, q->data, k->data, v->data, R->data, scale, wo, wdq, wdk, wdv);
        double eo = max_rel(o->data, wo, nq), eq = max_rel(q->grad->data, wdq, nq);
        double ek = max_rel(k->grad->data, wdk, nk), ev = max_rel(v->grad->data, wdv, nk);
        printf("  hd %lld heads %lld/%lld T %lld B %lld past %lld window %lld: o %.2g dq %.2g dk %.2g dv %.2g\n",
               (long long)c->hd, (long long)c->nh, (long long)c->nkv, (long long)c->T, (long long)c->B,
               (long long)c->n_past, (long long)c->window, eo, eq, ek, ev);
        CHECK(eo < 1e-4 && eq < 1e-4 && ek < 1e-4 && ev < 1e-4, "relative errors o %g dq %g dk %g dv %g", eo, eq, ek, ev);
        free(wo); free(wdq); free(wdk); free(wdv);
    }
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

static void test_attention_tiles(void) {
    const acase cases[] = {
        { 16, 4, 2, 100, 2, 0, 0 },     /* several query and key tiles, grouped heads */
        { 64, 8, 8, 70, 1, 0, 0 },      /* one head per group: 32-query tiles */
        { 32, 4, 1, 45, 2, 37, 0 },     /* a KV prefix: keys the queries all see */
        { 16, 6, 2, 130, 1, 5, 23 },    /* sliding window across tile boundaries */
        { 256, 4, 1, 3, 1, 90, 64 },    /* Gemma-like head size, decoding-like T */
        { 8, 2, 2, 1, 3, 150, 0 },      /* one query (decoding) over a long cache */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_attention(&cases[i]);
}

int main(void) {
    RUN(test_row_exp_accuracy);
    RUN(test_row_exp_edges);
    RUN(test_row_exp_ref_path_is_expf);
    RUN(test_row_silu);
    RUN(test_sgemm_st_all_paths);
    RUN(test_attention_tiles);
    return DONE();
}
