/* Every non-matmul Vulkan op against a plain C reference computed here in double, for each
 * variant the device runs (shared-memory or subgroup reductions) and under
 * EDGETUNE_VK_LIMITS=mobile, with guard zones and NaN/Inf checks (tests/test_vulkan.h).
 *
 * Forward references are the ops' definitions written out in double.  Backward references are
 * central finite differences of those double forwards (step 1e-4: truncation and rounding
 * error ~1e-8, far below the tolerance), so a backward shader is checked against its forward's
 * definition, not against a second copy of the same formula.
 * Tolerances (normalized error): 2e-6 for elementwise and AdamW (a few float ops per element),
 * 1e-5 for reductions over rows (float sums of up to ~100 terms, exp/log), 2e-5 for attention
 * and cross-entropy (two levels of reductions, exp of recomputed scores).
 */
#include "test_vulkan.h"

#define TOL_EW 2e-6
#define TOL_RED 1e-5
#define TOL_ATT 2e-5

static void fill(float *x, int64_t n, uint64_t seed, float scale) { et_t_fill(x, n, seed, scale); }
/* vkt_nerr over the elements whose reference is not NaN. */
static double nerr_subset(const float *got, const double *want, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(want[i])) continue;
        double d = (double)got[i] - want[i];
        num += d * d;
        den += want[i] * want[i];
    }
    return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1.0);
}
static double *dcopy(const float *x, int64_t n) {
    double *d = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* Central-difference gradient of f at x (n doubles) into g, in double; with fd_stride > 1
 * only every fd_stride-th element is differenced (the others get NaN and are skipped by
 * nerr_subset), to keep large cases fast. */
typedef double (*scalar_fn)(const double *x, void *ud);
static int64_t fd_stride = 1;
static void fd_grad(scalar_fn f, double *x, int64_t n, void *ud, double *g) {
    const double h = 1e-4;
    for (int64_t i = 0; i < n; i++) {
        if (i % fd_stride) { g[i] = NAN; continue; }
        double s = x[i];
        x[i] = s + h; double fp = f(x, ud);
        x[i] = s - h; double fm = f(x, ud);
        x[i] = s;
        g[i] = (fp - fm) / (2 * h);
    }
}

/* ---- elementwise -------------------------------------------------------------------- */
static double d_sig(double x) { return 1.0 / (1.0 + exp(-x)); }
static double d_silu(double x) { return x * d_sig(x); }
static double d_gelu(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
static double d_deriv(double (*f)(double), double x) { return (f(x + 1e-5) - f(x - 1e-5)) / 2e-5; }

static void test_eltwise(void) {
    const int64_t n = 1000, nb = 40;
    float a[1000], b[1000];
    fill(a, n, 1, 4.0f);
    fill(b, n, 2, 2.0f);
    float aabs[1000];
    for (int64_t i = 0; i < n; i++) aabs[i] = a[i] * a[i] * 0.01f;   /* norms 0..0.4 vs max 0.37 */
    for (int op = 0; op < ET_VK_EW_COUNT; op++) {
        et_vk_buf *ba = vkt_buf(op == ET_VK_EW_CLIP_SCALE ? aabs : a, n);
        et_vk_buf *bb = vkt_buf(b, n), *bo = vkt_buf(NULL, n);
        int rc = et_vk_begin(vkt_ctx);
        rc = rc ? rc : et_vk_op_ew(vkt_ctx, (et_vk_ew)op, ba, bb, bo, n, nb, 0.37f);
        CHECK(rc == 0, "eltwise %d: %s", op, et_vk_error(vkt_ctx));
        if (!rc && !vkt_submit("eltwise")) {
            double want[1000];
            for (int64_t i = 0; i < n; i++) {
                double x = a[i], y = b[i], bc = b[i % nb];
                switch (op) {
                case ET_VK_EW_ADD: want[i] = x + bc; break;
                case ET_VK_EW_MUL: want[i] = x * bc; break;
                case ET_VK_EW_SCALE: want[i] = x * (double)0.37f; break;
                case ET_VK_EW_SILU: want[i] = d_silu(x); break;
                case ET_VK_EW_GELU: want[i] = d_gelu(x); break;
                case ET_VK_EW_SILU_BACK: want[i] = y * d_deriv(d_silu, x); break;
                case ET_VK_EW_GELU_BACK: want[i] = y * d_deriv(d_gelu, x); break;
                case ET_VK_EW_SWIGLU: want[i] = d_silu(x) * y; break;
                case ET_VK_EW_GEGLU: want[i] = d_gelu(x) * y; break;
                case ET_VK_EW_FILL: want[i] = (double)0.37f; break;
                default:   /* CLIP_SCALE of a sum of squares, max norm 0.37: both branches */
                    want[i] = fmin(1.0, (double)0.37f / (sqrt((double)aabs[i]) + 1e-6));
                    break;
                }
            }
            float *got = vkt_get(bo, n, "eltwise out");
            /* the *_BACK references use a numerical derivative (error ~1e-9 relative) */
            double e = vkt_nerr(got, want, n);
            CHECK(e <= TOL_EW, "[%s] eltwise op %d: normalized error %.3g", vkt_pass, op, e);
            free(got);
        }
        et_vk_buf_free(vkt_ctx, ba); et_vk_buf_free(vkt_ctx, bb); et_vk_buf_free(vkt_ctx, bo);
    }
}

static void test_glu_back(void) {
    const int64_t n = 777;
    float a[777], b[777], dy[777], da0[777], db0[777];
    fill(a, n, 3, 4.0f); fill(b, n, 4, 1.0f); fill(dy, n, 5, 1.0f);
    fill(da0, n, 6, 1.0f); fill(db0, n, 7, 1.0f);
    for (int gelu = 0; gelu < 2; gelu++) {
        et_vk_buf *ba = vkt_buf(a, n), *bb = vkt_buf(b, n), *bdy = vkt_buf(dy, n);
        et_vk_buf *bda = vkt_buf(da0, n), *bdb = vkt_buf(db0, n);
        int rc = et_vk_begin(vkt_ctx);
        rc = rc ? rc : et_vk_op_glu_back(vkt_ctx, gelu, ba, bb, bdy, bda, bdb, n, true);
        CHECK(rc == 0, "glu_back: %s", et_vk_error(vkt_ctx));
        if (!rc && !vkt_submit("glu_back")) {
            double wa[777], wb[777];
            double (*f)(double) = gelu ? d_gelu : d_silu;
            for (int64_t i = 0; i < n; i++) {
                wa[i] = da0[i] + (double)dy[i] * b[i] * d_deriv(f, a[i]);
                wb[i] = db0[i] + (double)dy[i] * f(a[i]);
            }
            float *ga = vkt_get(bda, n, "da"), *gb = vkt_get(bdb, n, "db");
            double ea = vkt_nerr(ga, wa, n), eb = vkt_nerr(gb, wb, n);
            CHECK(ea <= TOL_EW && eb <= TOL_EW, "[%s] glu_back gelu=%d: errors %.3g %.3g",
                  vkt_pass, gelu, ea, eb);
            free(ga); free(gb);
        }
        et_vk_buf_free(vkt_ctx, ba); et_vk_buf_free(vkt_ctx, bb); et_vk_buf_free(vkt_ctx, bdy);
        et_vk_buf_free(vkt_ctx, bda); et_vk_buf_free(vkt_ctx, bdb);
    }
}

/* ---- rmsnorm ------------------------------------------------------------------------ */
typedef struct { int64_t rows, n; const double *w, *dy, *x; double eps; int wrt; } rms_ud;
static void rms_fwd(const double *x, const double *w, double *y, int64_t rows, int64_t n,
                    double eps) {
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += x[r * n + i] * x[r * n + i];
        double rs = 1.0 / sqrt(ss / n + eps);
        for (int64_t i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * rs * w[i];
    }
}
static double rms_loss(const double *v, void *p) {   /* v = x (wrt 0) or w (wrt 1) */
    rms_ud *u = p;
    double *y = malloc((size_t)(u->rows * u->n) * 8), L = 0;
    rms_fwd(u->wrt ? u->x : v, u->wrt ? v : u->w, y, u->rows, u->n, u->eps);
    for (int64_t i = 0; i < u->rows * u->n; i++) L += y[i] * u->dy[i];
    free(y);
    return L;
}

static void test_rmsnorm(void) {
    enum { R = 5, N = 96 };
    const float eps = 1e-5f;
    float x[R * N], w[N], dy[R * N];
    fill(x, R * N, 8, 2.0f); fill(w, N, 9, 1.0f); fill(dy, R * N, 10, 1.0f);
    et_vk_buf *bx = vkt_buf(x, R * N), *bw = vkt_buf(w, N), *by = vkt_buf(NULL, R * N);
    et_vk_buf *bdy = vkt_buf(dy, R * N), *bdx = vkt_buf(NULL, R * N), *bdw = vkt_buf(NULL, N);
    et_vk_buf *brs = vkt_buf(NULL, R);
    int rc = et_vk_begin(vkt_ctx);
    rc = rc ? rc : et_vk_op_rmsnorm(vkt_ctx, bx, bw, by, R, N, eps);
    rc = rc ? rc : et_vk_op_rmsnorm_back(vkt_ctx, bx, bw, bdy, bdx, bdw, brs, R, N, eps, false);
    CHECK(rc == 0, "rmsnorm: %s", et_vk_error(vkt_ctx));
    if (!rc && !vkt_submit("rmsnorm")) {
        double *dx = dcopy(x, R * N), *dw = dcopy(w, N), *ddy = dcopy(dy, R * N);
        double y[R * N], gx[R * N], gw[N];
        rms_fwd(dx, dw, y, R, N, eps);
        rms_ud u = { R, N, dw, ddy, dx, eps, 0 };
        fd_grad(rms_loss, dx, R * N, &u, gx);
        u.wrt = 1;
        fd_grad(rms_loss, dw, N, &u, gw);
        float *oy = vkt_get(by, R * N, "y"), *odx = vkt_get(bdx, R * N, "dx");
        float *odw = vkt_get(bdw, N, "dw");
        double e1 = vkt_nerr(oy, y, R * N), e2 = vkt_nerr(odx, gx, R * N), e3 = vkt_nerr(odw, gw, N);
        CHECK(e1 <= TOL_RED, "[%s] rmsnorm y: %.3g", vkt_pass, e1);
        CHECK(e2 <= TOL_RED, "[%s] rmsnorm dx: %.3g", vkt_pass, e2);
        CHECK(e3 <= TOL_RED, "[%s] rmsnorm dw: %.3g", vkt_pass, e3);
        free(oy); free(odx); free(odw); free(dx); free(dw); free(ddy);
    }
    et_vk_buf *bs[] = { bx, bw, by, bdy, bdx, bdw, brs };
    for (int i = 0; i < 7; i++) et_vk_buf_free(vkt_ctx, bs[i]);
}

/* ---- rope --------------------------------------------------------------------------- */
static void rope_ref(const float *x, const int32_t *pos, double *y, int64_t T, int64_t H,
                     int64_t D, double base, int neox, double sign) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < D / 2; i++) {
                int64_t row = (t * H + h) * D;
                int64_t i0 = neox ? row + i : row + 2 * i, i1 = neox ? row + i + D / 2 : row + 2 * i + 1;
                double th = pos[t] * pow(base, -2.0 * i / D);
                double c = cos(th), s = sign * sin(th);
                y[i0] = x[i0] * c - x[i1] * s;
                y[i1] = x[i0] * s + x[i1] * c;
            }
}

static void test_rope(void) {
    enum { T = 7, H = 3, D = 32 };
    float x[T * H * D];
    int32_t pos[T] = { 0, 1, 2, 5, 17, 100, 3 };
    fill(x, T * H * D, 11, 1.0f);
    for (int neox = 0; neox < 2; neox++)
        for (int back = 0; back < 2; back++) {
            et_vk_buf *bx = vkt_buf(x, T * H * D), *bp = vkt_ibuf(pos, T);
            int rc = et_vk_begin(vkt_ctx);   /* in place: y aliases x */
            rc = rc ? rc : et_vk_op_rope(vkt_ctx, bx, bp, bx, T, H, D, 10000.0f, neox, back, T);
            CHECK(rc == 0, "rope: %s", et_vk_error(vkt_ctx));
            if (!rc && !vkt_submit("rope")) {
                double y[T * H * D];
                rope_ref(x, pos, y, T, H, D, 10000.0, neox, back ? -1.0 : 1.0);
                float *g = vkt_get(bx, T * H * D, "rope y");
                /* angles up to 100 rad: float sin/cos of a float angle, ~1e-6 relative */
                double e = vkt_nerr(g, y, T * H * D);
                CHECK(e <= 1e-5, "[%s] rope neox=%d back=%d: %.3g", vkt_pass, neox, back, e);
                free(g);
            }
            et_vk_buf_free(vkt_ctx, bx); et_vk_buf_free(vkt_ctx, bp);
        }
}

/* ---- softmax ------------------------------------------------------------------------ */
typedef struct { int64_t rows, n; double scale; const double *dy; } sm_ud;
static void sm_fwd(const double *x, double *y, int64_t rows, int64_t n, double scale) {
    for (int64_t r = 0; r < rows; r++) {
        double m = -INFINITY, s = 0;
        for (int64_t i = 0; i < n; i++) m = fmax(m, scale * x[r * n + i]);
        for (int64_t i = 0; i < n; i++) s += exp(scale * x[r * n + i] - m);
        for (int64_t i = 0; i < n; i++) y[r * n + i] = exp(scale * x[r * n + i] - m) / s;
    }
}
static double sm_loss(const double *x, void *p) {
    sm_ud *u = p;
    double *y = malloc((size_t)(u->rows * u->n) * 8), L = 0;
    sm_fwd(x, y, u->rows, u->n, u->scale);
    for (int64_t i = 0; i < u->rows * u->n; i++) L += y[i] * u->dy[i];
    free(y);
    return L;
}

static void test_softmax(void) {
    enum { R = 6, N = 133 };
    float x[R * N], dy[R * N];
    fill(x, R * N, 12, 20.0f);    /* wide range: exp would overflow without the max shift */
    fill(dy, R * N, 13, 1.0f);
    et_vk_buf *bx = vkt_buf(x, R * N), *by = vkt_buf(NULL, R * N), *bdy = vkt_buf(dy, R * N);
    et_vk_buf *bdx = vkt_buf(NULL, R * N);
    int rc = et_vk_begin(vkt_ctx);
    rc = rc ? rc : et_vk_op_softmax(vkt_ctx, bx, by, R, N, 0.5f);
    rc = rc ? rc : et_vk_op_softmax_back(vkt_ctx, by, bdy, bdx, R, N, false);
    CHECK(rc == 0, "softmax: %s", et_vk_error(vkt_ctx));
    if (!rc && !vkt_submit("softmax")) {
        double *dx = dcopy(x, R * N), *ddy = dcopy(dy, R * N), y[R * N], g[R * N];
        sm_fwd(dx, y, R, N, 0.5);
        sm_ud u = { R, N, 0.5, ddy };
        fd_grad(sm_loss, dx, R * N, &u, g);
        for (int64_t i = 0; i < R * N; i++) g[i] /= 0.5;   /* the op's dx is w.r.t. scale·x */
        float *oy = vkt_get(by, R * N, "y"), *odx = vkt_get(bdx, R * N, "dx");
        double e1 = vkt_nerr(oy, y, R * N), e2 = vkt_nerr(odx, g, R * N);
        CHECK(e1 <= TOL_RED, "[%s] softmax y: %.3g", vkt_pass, e1);
        CHECK(e2 <= TOL_RED, "[%s] softmax dx: %.3g", vkt_pass, e2);
        free(oy); free(odx); free(dx); free(ddy);
    }
    et_vk_buf_free(vkt_ctx, bx); et_vk_buf_free(vkt_ctx, by);
    et_vk_buf_free(vkt_ctx, bdy); et_vk_buf_free(vkt_ctx, bdx);
}

/* ---- attention ---------------------------------------------------------------------- */
typedef struct {
    int64_t T, S, Hq, Hkv, D, n_past, window;
    double scale; double *q, *k, *v; const double *dout;
} at_ud;
static void at_fwd(const at_ud *u, double *o, double *lse) {
    int64_t T = u->T, Hq = u->Hq, Hkv = u->Hkv, D = u->D, grp = Hq / Hkv;
    double *sc = malloc((size_t)u->S * 8);
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < Hq; h++) {
            int64_t g = h / grp, hi = u->n_past + t;
            int64_t lo = u->window > 0 && hi + 1 > u->window ? hi + 1 - u->window : 0;
            double m = -INFINITY, s = 0;
            for (int64_t j = lo; j <= hi; j++) {
                double d = 0;
                for (int64_t i = 0; i < D; i++) d += u->q[(t * Hq + h) * D + i] * u->k[(j * Hkv + g) * D + i];
                sc[j] = u->scale * d;
                m = fmax(m, sc[j]);
            }
            for (int64_t j = lo; j <= hi; j++) s += exp(sc[j] - m);
            for (int64_t i = 0; i < D; i++) {
                double a = 0;
                for (int64_t j = lo; j <= hi; j++) a += exp(sc[j] - m) / s * u->v[(j * Hkv + g) * D + i];
                o[(t * Hq + h) * D + i] = a;
            }
            if (lse) lse[t * Hq + h] = m + log(s);
        }
    free(sc);
}
static double at_loss(const double *x, void *p) {
    (void)x;   /* x aliases one of u->q/k/v, perturbed in place */
    at_ud *u = p;
    int64_t n = u->T * u->Hq * u->D;
    double *o = malloc((size_t)n * 8), L = 0;
    at_fwd(u, o, NULL);
    for (int64_t i = 0; i < n; i++) L += o[i] * u->dout[i];
    free(o);
    return L;
}

/* One attention configuration: forward against the double reference, backward against its
 * finite differences. */
static void attention_case(int64_t T, int64_t S, int64_t n_past, int64_t window) {
    enum { HQ = 4, HKV = 2, D = 16 };
    const int64_t nq = T * HQ * D, nk = S * HKV * D;
    float *q = malloc(nq * 4), *k = malloc(nk * 4), *v = malloc(nk * 4), *dout = malloc(nq * 4);
    fill(q, nq, 14 + T, 1.0f); fill(k, nk, 15 + S, 1.0f); fill(v, nk, 16, 1.0f);
    fill(dout, nq, 17, 1.0f);
    const float scale = 0.25f;
    et_vk_attn a = { T, S, HQ, HKV, D, scale, n_past, window, 1 };
    et_vk_buf *bq = vkt_buf(q, nq), *bk = vkt_buf(k, nk), *bv = vkt_buf(v, nk);
    et_vk_buf *bo = vkt_buf(NULL, nq), *bl = vkt_buf(NULL, T * HQ), *bdo = vkt_buf(dout, nq);
    et_vk_buf *bdq = vkt_buf(NULL, nq), *bdk = vkt_buf(NULL, nk), *bdv = vkt_buf(NULL, nk);
    et_vk_buf *bdl = vkt_buf(NULL, T * HQ);
    int rc = et_vk_begin(vkt_ctx);
    rc = rc ? rc : et_vk_op_attention(vkt_ctx, &a, bq, bk, bv, bo, bl);
    rc = rc ? rc : et_vk_op_attention_back(vkt_ctx, &a, bq, bk, bv, bo, bl, bdo, bdq, bdk, bdv, bdl);
    CHECK(rc == 0, "attention: %s", et_vk_error(vkt_ctx));
    if (!rc && !vkt_submit("attention")) {
        at_ud u = { T, S, HQ, HKV, D, n_past, window, scale, dcopy(q, nq), dcopy(k, nk),
                    dcopy(v, nk), NULL };
        double *ddo = dcopy(dout, nq);
        u.dout = ddo;
        double *o = malloc(nq * 8), *lse = malloc(T * HQ * 8), *gq = malloc(nq * 8);
        double *gk = malloc(nk * 8), *gv = malloc(nk * 8);
        at_fwd(&u, o, lse);
        fd_stride = T > 16 ? 97 : 1;    /* the long case: ~50 differenced elements per input */
        fd_grad(at_loss, u.q, nq, &u, gq);
        fd_grad(at_loss, u.k, nk, &u, gk);
        fd_grad(at_loss, u.v, nk, &u, gv);
        fd_stride = 1;
        float *oo = vkt_get(bo, nq, "o"), *ol = vkt_get(bl, T * HQ, "lse");
        float *oq = vkt_get(bdq, nq, "dq"), *ok = vkt_get(bdk, nk, "dk"), *ov = vkt_get(bdv, nk, "dv");
        double e[5] = { vkt_nerr(oo, o, nq), vkt_nerr(ol, lse, T * HQ), nerr_subset(oq, gq, nq),
                        nerr_subset(ok, gk, nk), nerr_subset(ov, gv, nk) };
        const char *nm[5] = { "o", "lse", "dq", "dk", "dv" };
        for (int i = 0; i < 5; i++)
            CHECK(e[i] <= TOL_ATT, "[%s] attention T=%lld S=%lld n_past=%lld window=%lld %s: "
                  "normalized error %.3g", vkt_pass, (long long)T, (long long)S,
                  (long long)n_past, (long long)window, nm[i], e[i]);
        free(oo); free(ol); free(oq); free(ok); free(ov);
        free(u.q); free(u.k); free(u.v); free(ddo);
        free(o); free(lse); free(gq); free(gk); free(gv);
    }
    et_vk_buf *bs[] = { bq, bk, bv, bo, bl, bdo, bdq, bdk, bdv, bdl };
    for (int i = 0; i < 10; i++) et_vk_buf_free(vkt_ctx, bs[i]);
    free(q); free(k); free(v); free(dout);
}

static void test_attention(void) {
    attention_case(9, 9, 0, 0);      /* training: causal over the whole sequence */
    attention_case(4, 11, 7, 0);     /* decode/prefill after a KV cache of 7 */
    attention_case(9, 9, 0, 3);      /* sliding window */
    attention_case(3, 10, 5, 4);     /* both */
    /* more keys than one workgroup's chunk: 70 keys in chunks of WG = 32 */
    uint32_t wg = et_vk_tuning_get(vkt_ctx)->wg;
    et_vk_tuning_get(vkt_ctx)->wg = 32;
    attention_case(70, 70, 0, 0);
    et_vk_tuning_get(vkt_ctx)->wg = wg;
    /* bad shapes are refused with the values named */
    et_vk_attn bad = { 9, 9, 3, 2, 16, 0.25f, 0, 0, 1 };
    et_vk_buf *x = vkt_buf(NULL, 9 * 4 * 16);
    int rc = et_vk_begin(vkt_ctx);
    int rc2 = et_vk_op_attention(vkt_ctx, &bad, x, x, x, x, x);
    CHECK(rc2 != 0 && strstr(et_vk_error(vkt_ctx), "Hq=3"), "Hq=3/Hkv=2 accepted: %s",
          et_vk_error(vkt_ctx));
    bad = (et_vk_attn){ 4, 9, 4, 2, 16, 0.25f, 6, 0, 1 };
    rc2 = et_vk_op_attention(vkt_ctx, &bad, x, x, x, x, x);
    CHECK(rc2 != 0 && strstr(et_vk_error(vkt_ctx), "n_past=6"), "n_past + T > S accepted: %s",
          et_vk_error(vkt_ctx));
    if (!rc) et_vk_submit(vkt_ctx);
    et_vk_buf_free(vkt_ctx, x);
}

/* ---- get_rows ----------------------------------------------------------------------- */
static void test_get_rows(void) {
    enum { N = 50, K = 256, NI = 8 };
    int32_t ids[NI] = { 3, 0, 49, 3, 17, 60, -1, 22 };   /* 60 and -1 are out of range */
    float *tab = malloc(N * K * 4);
    fill(tab, N * K, 18, 1.0f);
    const et_type types[] = { ET_F32, ET_F16, ET_BF16, ET_Q8_0, ET_Q4_0, ET_Q4_1, ET_Q5_0,
                              ET_Q5_1, ET_Q4_K, ET_Q6_K, ET_IQ4_NL };
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        et_type t = types[ti];
        size_t nbytes = et_type_nbytes(t, K, N);
        void *qd = malloc(nbytes);
        float *deq = malloc(N * K * 4);
        et_type_get(t)->from_f32(tab, qd, N * K);
        et_type_get(t)->to_f32(qd, deq, N * K);
        et_vk_weight W;
        int rc = et_vk_weight_upload(vkt_ctx, t, qd, K, N, &W);
        et_vk_buf *bi = vkt_ibuf(ids, NI), *bo = vkt_buf(NULL, NI * K);
        rc = rc ? rc : et_vk_begin(vkt_ctx);
        rc = rc ? rc : et_vk_op_get_rows(vkt_ctx, &W, bi, bo, NI);
        CHECK(rc == 0, "get_rows: %s", et_vk_error(vkt_ctx));
        if (!rc && !vkt_submit("get_rows")) {
            float *o = malloc((NI * K + VKT_GUARD) * 4);
            et_vk_buf_download(vkt_ctx, bo, 0, o, (NI * K + VKT_GUARD) * 4);
            int bad = 0, nan_ok = 1;
            for (int i = 0; i < NI; i++)
                for (int k = 0; k < K; k++) {
                    if (ids[i] < 0 || ids[i] >= N) nan_ok &= isnan(o[i * K + k]);
                    else bad += o[i * K + k] != deq[ids[i] * K + k];   /* exact: same floats */
                }
            for (int g = 0; g < VKT_GUARD; g++) bad += o[NI * K + g] != VKT_SENTINEL;
            CHECK(bad == 0 && nan_ok, "[%s] get_rows %s: %d mismatches, bad ids NaN: %d",
                  vkt_pass, et_type_get(t)->name, bad, nan_ok);
            free(o);
        }
        et_vk_weight_free(vkt_ctx, &W);
        et_vk_buf_free(vkt_ctx, bi); et_vk_buf_free(vkt_ctx, bo);
        free(qd); free(deq);
    }
    /* backward: scatter-add with a repeated id (3) and skipped bad ids */
    float dy[NI * 4], dt0[N * 4];
    fill(dy, NI * 4, 19, 1.0f); fill(dt0, N * 4, 20, 1.0f);
    et_vk_buf *bdy = vkt_buf(dy, NI * 4), *bi = vkt_ibuf(ids, NI), *bdt = vkt_buf(dt0, N * 4);
    int rc = et_vk_begin(vkt_ctx);
    rc = rc ? rc : et_vk_op_get_rows_back(vkt_ctx, bdy, bi, bdt, NI, N, 4);
    CHECK(rc == 0, "get_rows_back: %s", et_vk_error(vkt_ctx));
    if (!rc && !vkt_submit("get_rows_back")) {
        double want[N * 4];
        for (int i = 0; i < N * 4; i++) want[i] = dt0[i];
        for (int i = 0; i < NI; i++)
            if (ids[i] >= 0 && ids[i] < N)
                for (int d = 0; d < 4; d++) want[ids[i] * 4 + d] += dy[i * 4 + d];
        float *g = vkt_get(bdt, N * 4, "dtable");
        double e = vkt_nerr(g, want, N * 4);
        CHECK(e <= TOL_EW, "[%s] get_rows_back: %.3g", vkt_pass, e);
        free(g);
    }
    et_vk_buf_free(vkt_ctx, bdy); et_vk_buf_free(vkt_ctx, bi); et_vk_buf_free(vkt_ctx, bdt);
    free(tab);
}

/* ---- cross-entropy ------------------------------------------------------------------ */
typedef struct { int64_t T, V; const int32_t *tg; } ce_ud;
static double ce_loss(const double *lg, void *p) {
    ce_ud *u = p;
    double L = 0;
    int nsel = 0;
    for (int64_t t = 0; t < u->T; t++) {
        if (u->tg[t] < 0) continue;
        double m = -INFINITY, s = 0;
        for (int64_t v = 0; v < u->V; v++) m = fmax(m, lg[t * u->V + v]);
        for (int64_t v = 0; v < u->V; v++) s += exp(lg[t * u->V + v] - m);
        L += m + log(s) - lg[t * u->V + u->tg[t]];
        nsel++;
    }
    return nsel ? L / nsel : 0;
}

static void test_cross_entropy(void) {
    enum { T = 6, V = 300 };
    int32_t tg[T] = { 5, -1, 299, 0, -1, 123 };
    float lg[T * V], dloss = 1.5f;
    fill(lg, T * V, 21, 8.0f);
    et_vk_buf *bl = vkt_buf(lg, T * V), *bt = vkt_ibuf(tg, T), *bloss = vkt_buf(NULL, 1);
    et_vk_buf *brl = vkt_buf(NULL, T), *blse = vkt_buf(NULL, T), *bdl = vkt_buf(&dloss, 1);
    et_vk_buf *bg = vkt_buf(NULL, T * V);
    int rc = et_vk_begin(vkt_ctx);
    rc = rc ? rc : et_vk_op_cross_entropy(vkt_ctx, bl, bt, bloss, brl, blse, T, V);
    rc = rc ? rc : et_vk_op_cross_entropy_back(vkt_ctx, bl, bt, blse, bdl, bg, T, V, false, false);
    CHECK(rc == 0, "cross_entropy: %s", et_vk_error(vkt_ctx));
    if (!rc && !vkt_submit("cross_entropy")) {
        double *d = dcopy(lg, T * V), g[T * V];
        ce_ud u = { T, V, tg };
        double L = ce_loss(d, &u);
        fd_grad(ce_loss, d, T * V, &u, g);
        for (int i = 0; i < T * V; i++) g[i] *= dloss;
        float *ol = vkt_get(bloss, 1, "loss"), *og = vkt_get(bg, T * V, "dlogits");
        CHECK_CLOSE(ol[0], L, TOL_ATT, 0, "cross-entropy loss");
        double e = vkt_nerr(og, g, T * V);
        CHECK(e <= TOL_ATT, "[%s] cross_entropy dlogits: %.3g", vkt_pass, e);
        free(ol); free(og); free(d);
    }
    et_vk_buf *bs[] = { bl, bt, bloss, brl, blse, bdl, bg };
    for (int i = 0; i < 7; i++) et_vk_buf_free(vkt_ctx, bs[i]);
}

/* ---- AdamW -------------------------------------------------------------------------- */
static void test_adamw(void) {
    enum { N = 500 };
    float p[N], g[N], m[N], v[N];
    fill(p, N, 22, 1.0f); fill(g, N, 23, 0.1f); fill(m, N, 24, 0.01f);
    for (int i = 0; i < N; i++) v[i] = 0.001f * (1.5f + et_t_uniform(&(uint64_t){ i + 1u }));
    const int step = 3;
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f, gscale = 0.5f;
    float hp[8] = { lr, b1, b2, eps, wd, (float)(1 - pow(b1, step)), (float)(1 - pow(b2, step)),
                    gscale };
    float clip = 0.8f;
    for (int with_clip = 0; with_clip < 2; with_clip++) {
        et_vk_buf *bp = vkt_buf(p, N), *bg = vkt_buf(g, N), *bm = vkt_buf(m, N), *bv = vkt_buf(v, N);
        et_vk_buf *bh = vkt_buf(hp, 8), *bc = vkt_buf(&clip, 1);
        int rc = et_vk_begin(vkt_ctx);
        rc = rc ? rc : et_vk_op_adamw(vkt_ctx, bp, bg, bm, bv, bh, with_clip ? bc : NULL, N);
        CHECK(rc == 0, "adamw: %s", et_vk_error(vkt_ctx));
        if (!rc && !vkt_submit("adamw")) {
            /* engine/ops/adamw.c's update, in double */
            double wp[N], wm[N], wv[N], gs = (double)gscale * (with_clip ? clip : 1.0);
            for (int i = 0; i < N; i++) {
                double gi = g[i] * gs;
                wm[i] = (double)b1 * m[i] + (1 - (double)b1) * gi;
                wv[i] = (double)b2 * v[i] + (1 - (double)b2) * gi * gi;
                wp[i] = p[i] * (1 - (double)lr * wd) -
                        (double)lr / hp[5] * wm[i] / (sqrt(wv[i]) / sqrt((double)hp[6]) + eps);
            }
            float *op = vkt_get(bp, N, "p"), *om = vkt_get(bm, N, "m"), *ov = vkt_get(bv, N, "v");
            double e1 = vkt_nerr(op, wp, N), e2 = vkt_nerr(om, wm, N), e3 = vkt_nerr(ov, wv, N);
            CHECK(e1 <= TOL_EW && e2 <= TOL_EW && e3 <= TOL_EW,
                  "[%s] adamw clip=%d p/m/v errors %.3g %.3g %.3g", vkt_pass, with_clip, e1, e2, e3);
            free(op); free(om); free(ov);
        }
        et_vk_buf *bs[] = { bp, bg, bm, bv, bh, bc };
        for (int i = 0; i < 6; i++) et_vk_buf_free(vkt_ctx, bs[i]);
    }
}

/* ---- matmul_dw ---------------------------------------------------------------------- */
static void test_matmul_dw(void) {
    enum { T = 37, K = 72, N = 50 };
    float dy[T * N], x[T * K], dw0[N * K];
    fill(dy, T * N, 25, 1.0f); fill(x, T * K, 26, 1.0f); fill(dw0, N * K, 27, 1.0f);
    const et_vk_limits *l = et_vk_get_limits(vkt_ctx);
    et_vk_tuning *tu = et_vk_tuning_get(vkt_ctx);
    bool fp16_was = tu->fp16;
    for (int h = 0; h <= (l->fp16 ? 1 : 0); h++)
        for (int acc = 0; acc < 2; acc++) {
            tu->fp16 = h;
            et_vk_buf *bdy = vkt_buf(dy, T * N), *bx = vkt_buf(x, T * K), *bw = vkt_buf(dw0, N * K);
            int rc = et_vk_begin(vkt_ctx);
            rc = rc ? rc : et_vk_op_matmul_dw(vkt_ctx, bdy, bx, bw, T, K, N, acc);
            CHECK(rc == 0, "matmul_dw: %s", et_vk_error(vkt_ctx));
            if (!rc && !vkt_submit("matmul_dw")) {
                double want[N * K];
                for (int n = 0; n < N; n++)
                    for (int k = 0; k < K; k++) {
                        double s = acc ? dw0[n * K + k] : 0;
                        for (int t = 0; t < T; t++) s += (double)dy[t * N + n] * x[t * K + k];
                        want[n * K + k] = s;
                    }
                float *gw = vkt_get(bw, N * K, "dw");
                /* fp32: sums of 37 products; fp16 products: 2^-11 per operand */
                double e = vkt_nerr(gw, want, N * K), tol = h ? 2e-3 : TOL_RED;
                CHECK(e <= tol, "[%s] matmul_dw fp16=%d acc=%d: %.3g", vkt_pass, h, acc, e);
                free(gw);
            }
            et_vk_buf_free(vkt_ctx, bdy); et_vk_buf_free(vkt_ctx, bx); et_vk_buf_free(vkt_ctx, bw);
        }
    tu->fp16 = fp16_was;
}

static void run_all(void) {
    RUN(test_eltwise);
    RUN(test_glu_back);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_softmax);
    RUN(test_attention);
    RUN(test_get_rows);
    RUN(test_cross_entropy);
    RUN(test_adamw);
    RUN(test_matmul_dw);
}

int main(void) {
    if (vkt_opted_out()) return 0;
    const char *passes[] = { "", "mobile" };
    for (int p = 0; p < 2; p++) {
        vkt_ctx = vkt_open(passes[p]);
        if (!vkt_ctx) {
            printf("FAIL vulkan_open[%s]: no Vulkan device (lavapipe is a test dependency; "
                   "EDGETUNE_NO_VULKAN_TESTS=1 opts out)\n", passes[p]);
            return 1;
        }
        const et_vk_limits *l = et_vk_get_limits(vkt_ctx);
        /* each pass runs the shared-memory reductions; the device pass also the subgroup ones */
        for (int sg = 0; sg <= (l->subgroups ? 1 : 0); sg++) {
            et_vk_tuning_get(vkt_ctx)->subgroups = sg;
            vkt_pass = p ? "mobile" : sg ? "device,subgroups" : "device";
            printf("# pass %s\n", vkt_pass);
            run_all();
        }
        et_vk_close(vkt_ctx);
    }
    return DONE();
}
