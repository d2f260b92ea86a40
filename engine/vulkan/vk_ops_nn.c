/* Op helpers for everything but the matrix products: elementwise and activations, RMS norm,
 * rope, softmax, causal GQA attention, get_rows, cross-entropy and AdamW, forward and backward.
 * Each validates its sizes against the buffers (a wrong size is an error naming the op and the
 * argument, never an out-of-bounds dispatch), picks the variant and records the dispatches.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "vk_internal.h"
#include "vk_ops.h"

#define ET__MAX_N ((int64_t)1 << 31)

static int et__need(et_vk_ctx *ctx, const char *op, const char *arg, const et_vk_buf *b,
                    int64_t nfloats) {
    if (!b) return et__vk_fail(ctx, "%s: buffer '%s' is NULL", op, arg);
    if (b->nchunks != 1 || b->has_tail)
        return et__vk_fail(ctx, "%s: buffer '%s' spans %u chunks; it must fit one binding "
                           "(%llu bytes)", op, arg, b->nchunks,
                           (unsigned long long)ctx->lim.max_binding_bytes);
    if (nfloats <= 0 || nfloats >= ET__MAX_N || (uint64_t)nfloats * 4 > et_vk_buf_size(b))
        return et__vk_fail(ctx, "%s: buffer '%s' holds %llu bytes, needs %lld floats", op, arg,
                           (unsigned long long)et_vk_buf_size(b), (long long)nfloats);
    return 0;
}

/* Grids: `groups` workgroups laid out in x (≤ 32768) then y. */
static void et__grid(uint64_t groups, uint32_t *gx, uint32_t *gy) {
    if (groups == 0) groups = 1;
    *gx = groups < 32768 ? (uint32_t)groups : 32768;
    *gy = (uint32_t)((groups + *gx - 1) / *gx);
}
/* Elementwise: grid-stride loops, so cap the grid at 65535 workgroups. */
static void et__grid_ew(et_vk_ctx *ctx, int64_t n, uint32_t *gx) {
    uint64_t g = ((uint64_t)n + ctx->tune.wg - 1) / ctx->tune.wg;
    *gx = g < 65535 ? (uint32_t)(g ? g : 1) : 65535;
}

int et_vk_op_ew(et_vk_ctx *ctx, et_vk_ew op, const et_vk_buf *a, const et_vk_buf *b,
                et_vk_buf *out, int64_t n, int64_t nb, float s) {
    if ((unsigned)op >= ET_VK_EW_COUNT) return et__vk_fail(ctx, "eltwise: op %d unknown", (int)op);
    bool binary = op != ET_VK_EW_SCALE && op != ET_VK_EW_SILU && op != ET_VK_EW_GELU &&
                  op != ET_VK_EW_FILL && op != ET_VK_EW_CLIP_SCALE;
    if (op == ET_VK_EW_FILL) a = out;
    bool bcast = op == ET_VK_EW_ADD || op == ET_VK_EW_MUL;
    if (!bcast) nb = n;
    if (et__need(ctx, "eltwise", "a", a, n) || et__need(ctx, "eltwise", "out", out, n) ||
        (binary && et__need(ctx, "eltwise", "b", b, nb)))
        return -1;
    if (nb <= 0 || n % nb)
        return et__vk_fail(ctx, "eltwise: n=%lld is not a multiple of nb=%lld", (long long)n,
                           (long long)nb);
    struct { uint32_t n, nb; float s; } p = { (uint32_t)n, (uint32_t)nb, s };
    uint32_t spec[2] = { ctx->tune.wg, (uint32_t)op }, gx;
    et_vk_bind bd[3] = { { a, 0, false }, { binary ? b : a, 0, false }, { out, 0, true } };
    et__grid_ew(ctx, n, &gx);
    return et_vk_dispatch(ctx, "eltwise", spec, 2, bd, 3, &p, sizeof p, gx, 1, 1, "eltwise");
}

int et_vk_op_glu_back(et_vk_ctx *ctx, bool gelu, const et_vk_buf *a, const et_vk_buf *b,
                      const et_vk_buf *dy, et_vk_buf *da, et_vk_buf *db, int64_t n,
                      bool accumulate) {
    const char *op = "glu_back";
    if (et__need(ctx, op, "a", a, n) || et__need(ctx, op, "b", b, n) ||
        et__need(ctx, op, "dy", dy, n) || et__need(ctx, op, "da", da, n) ||
        et__need(ctx, op, "db", db, n))
        return -1;
    struct { uint32_t n, acc; } p = { (uint32_t)n, accumulate };
    uint32_t spec[2] = { ctx->tune.wg, gelu }, gx;
    et_vk_bind bd[5] = { { a, 0, false }, { b, 0, false }, { dy, 0, false }, { da, 0, true },
                         { db, 0, true } };
    et__grid_ew(ctx, n, &gx);
    return et_vk_dispatch(ctx, "glu_back", spec, 2, bd, 5, &p, sizeof p, gx, 1, 1, "glu_back");
}

typedef struct { uint32_t rows, n; float eps; uint32_t acc; } et__rms_push;

int et_vk_op_rmsnorm(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *w, et_vk_buf *y,
                     int64_t rows, int64_t n, float eps) {
    const char *op = "rmsnorm";
    if (rows <= 0 || n <= 0 || !(eps >= 0))
        return et__vk_fail(ctx, "rmsnorm: rows=%lld n=%lld eps=%g", (long long)rows,
                           (long long)n, eps);
    if (et__need(ctx, op, "x", x, rows * n) || et__need(ctx, op, "w", w, n) ||
        et__need(ctx, op, "y", y, rows * n))
        return -1;
    char name[64];
    et__vk_variant(ctx, "rmsnorm", name, sizeof name);
    et__rms_push p = { (uint32_t)rows, (uint32_t)n, eps, 0 };
    uint32_t spec[2] = { ctx->tune.wg, 0 }, gx, gy;
    /* bindings 3 and 4 are only touched by the BACK variant: y stands in for them */
    et_vk_bind bd[5] = { { x, 0, false }, { w, 0, false }, { y, 0, true }, { y, 0, true },
                         { y, 0, true } };
    et__grid((uint64_t)rows, &gx, &gy);
    return et_vk_dispatch(ctx, name, spec, 2, bd, 5, &p, sizeof p, gx, gy, 1, name);
}

int et_vk_op_rmsnorm_back(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *w,
                          const et_vk_buf *dy, et_vk_buf *dx, et_vk_buf *dw, et_vk_buf *rstd,
                          int64_t rows, int64_t n, float eps, bool accumulate) {
    const char *op = "rmsnorm_back";
    if (rows <= 0 || n <= 0 || !(eps >= 0))
        return et__vk_fail(ctx, "rmsnorm_back: rows=%lld n=%lld eps=%g", (long long)rows,
                           (long long)n, eps);
    if (et__need(ctx, op, "x", x, rows * n) || et__need(ctx, op, "w", w, n) ||
        et__need(ctx, op, "dy", dy, rows * n) || et__need(ctx, op, "dx", dx, rows * n) ||
        et__need(ctx, op, "rstd", rstd, rows) || (dw && et__need(ctx, op, "dw", dw, n)))
        return -1;
    char name[64];
    et__vk_variant(ctx, "rmsnorm", name, sizeof name);
    et__rms_push p = { (uint32_t)rows, (uint32_t)n, eps, accumulate };
    uint32_t spec[2] = { ctx->tune.wg, 1 }, gx, gy;
    et_vk_bind bd[5] = { { x, 0, false }, { w, 0, false }, { dy, 0, false }, { dx, 0, true },
                         { rstd, 0, true } };
    et__grid((uint64_t)rows, &gx, &gy);
    int rc = et_vk_dispatch(ctx, name, spec, 2, bd, 5, &p, sizeof p, gx, gy, 1, "rmsnorm_back");
    if (rc || !dw) return rc;
    struct { uint32_t rows, n, acc; } q = { (uint32_t)rows, (uint32_t)n, accumulate };
    uint32_t spec2[1] = { ctx->tune.wg };
    et_vk_bind bd2[4] = { { x, 0, false }, { dy, 0, false }, { rstd, 0, false }, { dw, 0, true } };
    et__grid(((uint64_t)n + ctx->tune.wg - 1) / ctx->tune.wg, &gx, &gy);
    return et_vk_dispatch(ctx, "rmsnorm_dw", spec2, 1, bd2, 4, &q, sizeof q, gx, gy, 1,
                          "rmsnorm_dw");
}

int et_vk_op_rope(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *pos, et_vk_buf *y,
                  int64_t T, int64_t H, int64_t D, float freq_base, bool neox, bool backward,
                  int64_t npos) {
    const char *op = "rope";
    if (npos <= 0) npos = T;
    if (T <= 0 || H <= 0 || D <= 0 || D % 2 || !(freq_base > 0) || npos > T || T % npos)
        return et__vk_fail(ctx, "rope: T=%lld H=%lld D=%lld (even) freq_base=%g", (long long)T,
                           (long long)H, (long long)D, freq_base);
    if (et__need(ctx, op, "x", x, T * H * D) || et__need(ctx, op, "pos", pos, npos) ||
        et__need(ctx, op, "y", y, T * H * D))
        return -1;
    struct { uint32_t T, H, D; float base, sign; uint32_t npos; } p = {
        (uint32_t)T, (uint32_t)H, (uint32_t)D, freq_base, backward ? -1.0f : 1.0f,
        (uint32_t)npos };
    uint32_t spec[2] = { ctx->tune.wg, neox }, gx, gy;
    et_vk_bind bd[3] = { { x, 0, false }, { pos, 0, false }, { y, 0, true } };
    et__grid(((uint64_t)(T * H * D / 2) + ctx->tune.wg - 1) / ctx->tune.wg, &gx, &gy);
    return et_vk_dispatch(ctx, "rope", spec, 2, bd, 3, &p, sizeof p, gx, gy, 1, "rope");
}

typedef struct { uint32_t rows, n; float scale; uint32_t acc; } et__sm_push;

int et_vk_op_softmax(et_vk_ctx *ctx, const et_vk_buf *x, et_vk_buf *y, int64_t rows, int64_t n,
                     float scale) {
    if (et__need(ctx, "softmax", "x", x, rows * n) || et__need(ctx, "softmax", "y", y, rows * n))
        return -1;
    char name[64];
    et__vk_variant(ctx, "softmax", name, sizeof name);
    et__sm_push p = { (uint32_t)rows, (uint32_t)n, scale, 0 };
    uint32_t spec[2] = { ctx->tune.wg, 0 }, gx, gy;
    et_vk_bind bd[3] = { { x, 0, false }, { y, 0, true }, { y, 0, true } };
    et__grid((uint64_t)rows, &gx, &gy);
    return et_vk_dispatch(ctx, name, spec, 2, bd, 3, &p, sizeof p, gx, gy, 1, name);
}

int et_vk_op_softmax_back(et_vk_ctx *ctx, const et_vk_buf *y, const et_vk_buf *dy,
                          et_vk_buf *dx, int64_t rows, int64_t n, bool accumulate) {
    const char *op = "softmax_back";
    if (et__need(ctx, op, "y", y, rows * n) || et__need(ctx, op, "dy", dy, rows * n) ||
        et__need(ctx, op, "dx", dx, rows * n))
        return -1;
    char name[64];
    et__vk_variant(ctx, "softmax", name, sizeof name);
    et__sm_push p = { (uint32_t)rows, (uint32_t)n, 1.0f, accumulate };
    uint32_t spec[2] = { ctx->tune.wg, 1 }, gx, gy;
    et_vk_bind bd[3] = { { y, 0, false }, { dy, 0, false }, { dx, 0, true } };
    et__grid((uint64_t)rows, &gx, &gy);
    return et_vk_dispatch(ctx, name, spec, 2, bd, 3, &p, sizeof p, gx, gy, 1, "softmax_back");
}

static int et__attn_check(et_vk_ctx *ctx, const char *op, const et_vk_attn *a) {
    if (a->T <= 0 || a->S <= 0 || a->Hq <= 0 || a->Hkv <= 0 || a->D <= 0 || a->Hq % a->Hkv ||
        a->D > 4 * (int64_t)ctx->tune.wg || a->n_past < 0 || a->window < 0 ||
        a->n_past + a->T > a->S || !(a->scale > 0))
        return et__vk_fail(ctx, "%s: T=%lld S=%lld Hq=%lld Hkv=%lld D=%lld n_past=%lld "
                           "window=%lld scale=%g (Hq a multiple of Hkv, D at most %u, "
                           "n_past + T <= S)", op, (long long)a->T, (long long)a->S,
                           (long long)a->Hq, (long long)a->Hkv, (long long)a->D,
                           (long long)a->n_past, (long long)a->window, a->scale,
                           4 * ctx->tune.wg);
    return 0;
}

typedef struct {
    uint32_t T, Hq, Hkv, D; float scale; uint32_t want_dv, S, n_past, window, B;
} et__attn_push;

static int64_t et__nb(const et_vk_attn *a) { return a->B > 0 ? a->B : 1; }

static et__attn_push et__attn_pc(const et_vk_attn *a) {
    return (et__attn_push){ (uint32_t)a->T, (uint32_t)a->Hq, (uint32_t)a->Hkv, (uint32_t)a->D,
                            a->scale, 0, (uint32_t)a->S, (uint32_t)a->n_past,
                            (uint32_t)a->window, (uint32_t)et__nb(a) };
}

int et_vk_op_attention(et_vk_ctx *ctx, const et_vk_attn *a, const et_vk_buf *q,
                       const et_vk_buf *k, const et_vk_buf *v, et_vk_buf *o, et_vk_buf *lse) {
    const char *op = "attention";
    const int64_t nb = et__nb(a);
    if (et__attn_check(ctx, op, a) || et__need(ctx, op, "q", q, nb * a->T * a->Hq * a->D) ||
        et__need(ctx, op, "k", k, nb * a->S * a->Hkv * a->D) ||
        et__need(ctx, op, "v", v, nb * a->S * a->Hkv * a->D) ||
        et__need(ctx, op, "o", o, nb * a->T * a->Hq * a->D) ||
        et__need(ctx, op, "lse", lse, nb * a->T * a->Hq))
        return -1;
    char name[64];
    et__vk_variant(ctx, "attention", name, sizeof name);
    et__attn_push p = et__attn_pc(a);
    uint32_t spec[1] = { ctx->tune.wg }, gx, gy;
    et_vk_bind bd[5] = { { q, 0, false }, { k, 0, false }, { v, 0, false }, { o, 0, true },
                         { lse, 0, true } };
    et__grid((uint64_t)(nb * a->T * a->Hq), &gx, &gy);
    return et_vk_dispatch(ctx, name, spec, 1, bd, 5, &p, sizeof p, gx, gy, 1, name);
}

int et_vk_op_attention_back(et_vk_ctx *ctx, const et_vk_attn *a, const et_vk_buf *q,
                            const et_vk_buf *k, const et_vk_buf *v, const et_vk_buf *o,
                            const et_vk_buf *lse, const et_vk_buf *dout, et_vk_buf *dq,
                            et_vk_buf *dk, et_vk_buf *dv, et_vk_buf *delta) {
    const char *op = "attention_back";
    const int64_t nb = et__nb(a);
    int64_t nq = nb * a->T * a->Hq * a->D, nk = nb * a->S * a->Hkv * a->D;
    if (et__attn_check(ctx, op, a) || et__need(ctx, op, "q", q, nq) ||
        et__need(ctx, op, "k", k, nk) || et__need(ctx, op, "v", v, nk) ||
        et__need(ctx, op, "o", o, nq) || et__need(ctx, op, "lse", lse, nb * a->T * a->Hq) ||
        et__need(ctx, op, "do", dout, nq) || et__need(ctx, op, "dq", dq, nq) ||
        et__need(ctx, op, "delta", delta, nb * a->T * a->Hq) || et__need(ctx, op, "dk", dk, nk) ||
        et__need(ctx, op, "dv", dv, nk))
        return -1;
    char name[64];
    et__vk_variant(ctx, "attention_back", name, sizeof name);
    et__attn_push p = et__attn_pc(a);
    uint32_t spec[2] = { ctx->tune.wg, 0 }, gx, gy;
    et_vk_bind bd[8] = { { q, 0, false }, { k, 0, false }, { v, 0, false }, { o, 0, false },
                         { lse, 0, false }, { dout, 0, false }, { delta, 0, true },
                         { dq, 0, true } };
    et__grid((uint64_t)(nb * a->T * a->Hq), &gx, &gy);
    int rc = et_vk_dispatch(ctx, name, spec, 2, bd, 8, &p, sizeof p, gx, gy, 1, "attention_dq");
    if (rc) return rc;
    /* The KV pass: once for dk, once for dv (see attention_back.comp: 8 bindings max). */
    spec[1] = 1;
    bd[6].write = false;
    et__grid((uint64_t)(nb * a->S * a->Hkv), &gx, &gy);
    for (uint32_t want_dv = 0; want_dv < 2 && !rc; want_dv++) {
        p.want_dv = want_dv;
        bd[7] = (et_vk_bind){ want_dv ? dv : dk, 0, true };
        rc = et_vk_dispatch(ctx, name, spec, 2, bd, 8, &p, sizeof p, gx, gy, 1,
                            want_dv ? "attention_dv" : "attention_dk");
    }
    return rc;
}

int et_vk_op_get_rows(et_vk_ctx *ctx, const et_vk_weight *table, const et_vk_buf *ids,
                      et_vk_buf *out, int64_t n) {
    const char *op = "get_rows";
    if (!table || !table->buf) return et__vk_fail(ctx, "get_rows: no table");
    if (et__need(ctx, op, "ids", ids, n) || et__need(ctx, op, "out", out, n * table->K))
        return -1;
    char name[64];
    const char *tn = et__vk_wname(table->type);
    snprintf(name, sizeof name, "get_rows_%s", tn ? tn : "?");
    const et_vk_buf *wb = table->buf;
    uint32_t nrc = wb->nchunks - (wb->has_tail ? 1 : 0), gx, gy;
    uint32_t spec[1] = { ctx->tune.wg };
    et__grid((uint64_t)n, &gx, &gy);
    for (uint32_t c = 0; c < nrc; c++) {
        struct { uint32_t n, K, N, nrows, row_base, first; } p = {
            (uint32_t)n, (uint32_t)table->K, (uint32_t)table->N,
            (uint32_t)(wb->chunks[c].bytes / wb->row_bytes), (uint32_t)(c * wb->chunk_rows),
            c == 0 };
        et_vk_bind bd[4] = { { wb, c, false }, { ids, 0, false }, { out, 0, true },
                             { wb, wb->nchunks - 1, false } };
        int rc = et_vk_dispatch(ctx, name, spec, 1, bd, table->type == ET_NF4 ? 4 : 3, &p,
                                sizeof p, gx, gy, 1, name);
        if (rc) return rc;
    }
    return 0;
}

int et_vk_op_get_rows_dense(et_vk_ctx *ctx, const et_vk_buf *table, const et_vk_buf *ids,
                            et_vk_buf *out, int64_t n, int64_t K, int64_t N) {
    if (K <= 0 || K % 4 || N <= 0)
        return et__vk_fail(ctx, "get_rows: K=%lld (a multiple of 4) N=%lld", (long long)K,
                           (long long)N);
    if (et__need(ctx, "get_rows", "table", table, K * N)) return -1;
    /* describe the one-chunk buffer as N rows of K floats: the f32 weight path reads it */
    et__vk_chunk ch = table->chunks[0];
    ch.bytes = (uint64_t)(K * N) * 4;
    et_vk_buf rows = { .nchunks = 1, .borrowed = true, .nrows = (uint64_t)N,
                       .row_bytes = (uint64_t)K * 4, .chunk_rows = (uint64_t)N, .chunks = &ch };
    et_vk_weight w = { .type = ET_F32, .K = K, .N = N, .buf = &rows };
    return et_vk_op_get_rows(ctx, &w, ids, out, n);
}

int et_vk_op_get_rows_back(et_vk_ctx *ctx, const et_vk_buf *dy, const et_vk_buf *ids,
                           et_vk_buf *dtable, int64_t n, int64_t N, int64_t D) {
    const char *op = "get_rows_back";
    if (et__need(ctx, op, "dy", dy, n * D) || et__need(ctx, op, "ids", ids, n) ||
        et__need(ctx, op, "dtable", dtable, N * D))
        return -1;
    struct { uint32_t n, N, D; } p = { (uint32_t)n, (uint32_t)N, (uint32_t)D };
    uint32_t spec[1] = { ctx->tune.wg }, gx, gy;
    et_vk_bind bd[3] = { { dy, 0, false }, { ids, 0, false }, { dtable, 0, true } };
    et__grid(((uint64_t)D + ctx->tune.wg - 1) / ctx->tune.wg, &gx, &gy);
    return et_vk_dispatch(ctx, "get_rows_back", spec, 1, bd, 3, &p, sizeof p, gx, gy, 1, op);
}

typedef struct { uint32_t T, V, acc, per_pos, v0, first, Vtot; } et__ce_push;

int et_vk_op_cross_entropy(et_vk_ctx *ctx, const et_vk_buf *logits, const et_vk_buf *targets,
                           et_vk_buf *loss, et_vk_buf *rowloss, et_vk_buf *lse, int64_t T,
                           int64_t V) {
    const char *op = "cross_entropy";
    if (et__need(ctx, op, "logits", logits, T * V) || et__need(ctx, op, "targets", targets, T) ||
        et__need(ctx, op, "loss", loss, 1) || et__need(ctx, op, "rowloss", rowloss, T) ||
        et__need(ctx, op, "lse", lse, T))
        return -1;
    char name[64];
    et__vk_variant(ctx, "cross_entropy", name, sizeof name);
    et__ce_push p = { (uint32_t)T, (uint32_t)V, 0, 0, 0, 0, (uint32_t)V };
    uint32_t spec[2] = { ctx->tune.wg, 0 }, gx, gy;
    /* binding 5 (dlogits) is only touched by the backward mode: loss stands in */
    et_vk_bind bd[6] = { { logits, 0, false }, { targets, 0, false }, { lse, 0, true },
                         { rowloss, 0, true }, { loss, 0, true }, { loss, 0, true } };
    et__grid((uint64_t)T, &gx, &gy);
    int rc = et_vk_dispatch(ctx, name, spec, 2, bd, 6, &p, sizeof p, gx, gy, 1, op);
    if (rc) return rc;
    spec[1] = 1;
    bd[2].write = bd[3].write = false;
    return et_vk_dispatch(ctx, name, spec, 2, bd, 6, &p, sizeof p, 1, 1, 1, "cross_entropy_sum");
}

int et_vk_op_cross_entropy_chunk(et_vk_ctx *ctx, const et_vk_buf *logits, const et_vk_buf *targets,
                                 et_vk_buf *m, et_vk_buf *s, et_vk_buf *zt, int64_t T, int64_t C,
                                 int64_t v0, bool first) {
    const char *op = "cross_entropy_chunk";
    if (et__need(ctx, op, "logits", logits, T * C) || et__need(ctx, op, "targets", targets, T) ||
        et__need(ctx, op, "m", m, T) || et__need(ctx, op, "s", s, T) || et__need(ctx, op, "zt", zt, T))
        return -1;
    char name[64];
    et__vk_variant(ctx, "cross_entropy", name, sizeof name);
    et__ce_push p = { (uint32_t)T, (uint32_t)C, 0, 0, (uint32_t)v0, first, 0 };
    uint32_t spec[2] = { ctx->tune.wg, 3 }, gx, gy;
    et_vk_bind bd[6] = { { logits, 0, false }, { targets, 0, false }, { m, 0, true },
                         { s, 0, true }, { zt, 0, true }, { zt, 0, true } };
    et__grid((uint64_t)T, &gx, &gy);
    return et_vk_dispatch(ctx, name, spec, 2, bd, 6, &p, sizeof p, gx, gy, 1, op);
}

int et_vk_op_cross_entropy_finish(et_vk_ctx *ctx, const et_vk_buf *targets, et_vk_buf *m_lse,
                                  const et_vk_buf *s, const et_vk_buf *zt, et_vk_buf *rowloss,
                                  et_vk_buf *loss, int64_t T, int64_t V) {
    const char *op = "cross_entropy_finish";
    if (et__need(ctx, op, "targets", targets, T) || et__need(ctx, op, "m", m_lse, T) ||
        et__need(ctx, op, "s", s, T) || et__need(ctx, op, "zt", zt, T) ||
        et__need(ctx, op, "rowloss", rowloss, T) || (loss && et__need(ctx, op, "loss", loss, 1)))
        return -1;
    char name[64];
    et__vk_variant(ctx, "cross_entropy", name, sizeof name);
    et__ce_push p = { (uint32_t)T, (uint32_t)V, 0, 0, 0, 0, (uint32_t)V };
    uint32_t spec[2] = { ctx->tune.wg, 4 }, gx, gy;
    et_vk_bind bd[6] = { { zt, 0, false }, { targets, 0, false }, { m_lse, 0, true },
                         { s, 0, false }, { zt, 0, false }, { rowloss, 0, true } };
    et__grid((uint64_t)T, &gx, &gy);
    int rc = et_vk_dispatch(ctx, name, spec, 2, bd, 6, &p, sizeof p, gx, gy, 1, op);
    if (rc || !loss) return rc;
    /* the mean over selected rows (MODE 1 reads binding 3 and writes binding 4) */
    spec[1] = 1;
    et_vk_bind br[6] = { { zt, 0, false }, { targets, 0, false }, { m_lse, 0, false },
                         { rowloss, 0, false }, { loss, 0, true }, { loss, 0, true } };
    return et_vk_dispatch(ctx, name, spec, 2, br, 6, &p, sizeof p, 1, 1, 1, "cross_entropy_sum");
}

int et_vk_op_cross_entropy_back_chunk(et_vk_ctx *ctx, const et_vk_buf *logits,
                                      const et_vk_buf *targets, const et_vk_buf *lse,
                                      const et_vk_buf *dloss, et_vk_buf *dlogits, int64_t T,
                                      int64_t C, int64_t v0, bool per_position, bool accumulate) {
    const char *op = "cross_entropy_back";
    if (et__need(ctx, op, "logits", logits, T * C) || et__need(ctx, op, "targets", targets, T) ||
        et__need(ctx, op, "lse", lse, T) ||
        et__need(ctx, op, "dloss", dloss, per_position ? T : 1) ||
        et__need(ctx, op, "dlogits", dlogits, T * C))
        return -1;
    char name[64];
    et__vk_variant(ctx, "cross_entropy", name, sizeof name);
    et__ce_push p = { (uint32_t)T, (uint32_t)C, accumulate, per_position, (uint32_t)v0, 0, 0 };
    uint32_t spec[2] = { ctx->tune.wg, 2 }, gx, gy;
    /* rowloss is unused by the backward mode: lse stands in (read-only) */
    et_vk_bind bd[6] = { { logits, 0, false }, { targets, 0, false }, { lse, 0, false },
                         { lse, 0, false }, { dloss, 0, false }, { dlogits, 0, true } };
    et__grid((uint64_t)T, &gx, &gy);
    return et_vk_dispatch(ctx, name, spec, 2, bd, 6, &p, sizeof p, gx, gy, 1, op);
}

int et_vk_op_cross_entropy_back(et_vk_ctx *ctx, const et_vk_buf *logits,
                                const et_vk_buf *targets, const et_vk_buf *lse,
                                const et_vk_buf *dloss, et_vk_buf *dlogits, int64_t T,
                                int64_t V, bool per_position, bool accumulate) {
    return et_vk_op_cross_entropy_back_chunk(ctx, logits, targets, lse, dloss, dlogits, T, V, 0,
                                             per_position, accumulate);
}

int et_vk_op_adamw(et_vk_ctx *ctx, et_vk_buf *p, const et_vk_buf *g, et_vk_buf *m,
                   et_vk_buf *v, const et_vk_buf *hp, const et_vk_buf *clip, int64_t n) {
    const char *op = "adamw";
    if (et__need(ctx, op, "p", p, n) || et__need(ctx, op, "g", g, n) ||
        et__need(ctx, op, "m", m, n) || et__need(ctx, op, "v", v, n) ||
        et__need(ctx, op, "hp", hp, 8) || (clip && et__need(ctx, op, "clip", clip, 1)))
        return -1;
    struct { uint32_t n, has_clip; } pc = { (uint32_t)n, clip != NULL };
    uint32_t spec[1] = { ctx->tune.wg }, gx;
    et_vk_bind bd[6] = { { p, 0, true }, { g, 0, false }, { m, 0, true }, { v, 0, true },
                         { hp, 0, false }, { clip ? clip : hp, 0, false } };
    et__grid_ew(ctx, n, &gx);
    return et_vk_dispatch(ctx, "adamw", spec, 1, bd, 6, &pc, sizeof pc, gx, 1, 1, op);
}

int et_vk_op_matmul_dw(et_vk_ctx *ctx, const et_vk_buf *dy, const et_vk_buf *x, et_vk_buf *dw,
                       int64_t T, int64_t K, int64_t N, bool accumulate) {
    const char *op = "matmul_dw";
    if (T <= 0 || K <= 0 || N <= 0)
        return et__vk_fail(ctx, "matmul_dw: T=%lld K=%lld N=%lld", (long long)T, (long long)K,
                           (long long)N);
    if (et__need(ctx, op, "dy", dy, T * N) || et__need(ctx, op, "x", x, T * K) ||
        et__need(ctx, op, "dw", dw, N * K))
        return -1;
    const et_vk_tuning *tu = &ctx->tune;
    char name[64];
    et__vk_variant(ctx, "matmul_dw", name, sizeof name);
    struct { uint32_t T, K, N, acc; } pc = { (uint32_t)T, (uint32_t)K, (uint32_t)N, accumulate };
    uint32_t spec[5] = { tu->mm_ts * tu->mm_ts, tu->mm_ts, tu->mm_rm, tu->mm_rn, tu->mm_bk };
    uint32_t bm = tu->mm_ts * tu->mm_rm, bn = tu->mm_ts * tu->mm_rn;
    et_vk_bind bd[3] = { { dy, 0, false }, { x, 0, false }, { dw, 0, true } };
    return et_vk_dispatch(ctx, name, spec, 5, bd, 3, &pc, sizeof pc, (uint32_t)((K + bn - 1) / bn),
                          (uint32_t)((N + bm - 1) / bm), 1, name);
}

int et_vk_op_layout(et_vk_ctx *ctx, et_vk_layout mode, const et_vk_layout_args *a,
                    const et_vk_buf *src, et_vk_buf *out) {
    const char *op = "layout";
    int64_t n = 1, ns = 1, span_src = 1, span_out = 1;
    for (int k = 0; k < 4; k++) {
        if (a->ne[k] <= 0 || (mode != ET_VK_LAYOUT_SCATTER && a->sne[k] <= 0) || a->sst[k] < 0 ||
            a->dst[k] < 0)
            return et__vk_fail(ctx, "layout: dim %d: ne %lld sne %lld (must be > 0)", k,
                               (long long)a->ne[k], (long long)a->sne[k]);
        n *= a->ne[k];
        if (mode != ET_VK_LAYOUT_SCATTER) ns *= a->sne[k];
    }
    if (a->off < 0 || (unsigned)mode > ET_VK_LAYOUT_SUMSQ)
        return et__vk_fail(ctx, "layout: mode %d off %lld", (int)mode, (long long)a->off);
    /* the furthest element each side touches: bounds checked against the buffers */
    switch (mode) {
    case ET_VK_LAYOUT_GATHER:
        span_src = a->off + 1;
        for (int k = 0; k < 4; k++) span_src += (a->sne[k] - 1) * a->sst[k];
        span_out = n;
        break;
    case ET_VK_LAYOUT_SCATTER:
        span_out = a->off + 1;
        for (int k = 0; k < 4; k++) span_out += (a->ne[k] - 1) * a->dst[k];
        span_src = n;
        break;
    case ET_VK_LAYOUT_REPEAT_BACK:
        span_src = ns; span_out = n;
        break;
    case ET_VK_LAYOUT_SUM: case ET_VK_LAYOUT_SUMSQ:
        span_src = n; span_out = 1;
        break;
    }
    if (et__need(ctx, op, "src", src, span_src) || et__need(ctx, op, "out", out, span_out))
        return -1;
    struct { uint32_t ne[4], sne[4], sst[4], dst[4], off, n; } p;
    for (int k = 0; k < 4; k++) {
        p.ne[k] = (uint32_t)a->ne[k]; p.sne[k] = (uint32_t)(a->sne[k] > 0 ? a->sne[k] : 1);
        p.sst[k] = (uint32_t)a->sst[k]; p.dst[k] = (uint32_t)a->dst[k];
    }
    p.off = (uint32_t)a->off;
    p.n = (uint32_t)n;
    char name[64];
    et__vk_variant(ctx, "strided", name, sizeof name);
    uint32_t spec[2] = { ctx->tune.wg, (uint32_t)mode }, gx;
    et_vk_bind bd[2] = { { src, 0, false }, { out, 0, true } };
    et__grid_ew(ctx, n, &gx);
    bool red = mode == ET_VK_LAYOUT_SUM || mode == ET_VK_LAYOUT_SUMSQ;
    if (red) gx = 1;
    return et_vk_dispatch(ctx, name, spec, 2, bd, 2, &p, sizeof p, gx, 1, 1,
                          red ? "sum" : "layout");
}

int et_vk_op_dropout(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *seed, et_vk_buf *y,
                     int64_t n, float p, int site) {
    const char *op = "dropout";
    if (!(p >= 0.0f && p < 1.0f)) return et__vk_fail(ctx, "dropout: p = %g not in [0, 1)", p);
    if (et__need(ctx, op, "x", x, n) || et__need(ctx, op, "seed", seed, 1) ||
        et__need(ctx, op, "y", y, n))
        return -1;
    /* the same float and integer steps as the CPU: thresh from p in double, keep in float */
    struct { uint32_t n, site, thresh; float keep; } pc = {
        (uint32_t)n, (uint32_t)site, (uint32_t)((double)p * 4294967296.0), 1.0f / (1.0f - p) };
    uint32_t spec[1] = { ctx->tune.wg }, gx;
    et_vk_bind bd[3] = { { x, 0, false }, { seed, 0, false }, { y, 0, true } };
    et__grid_ew(ctx, n, &gx);
    return et_vk_dispatch(ctx, "dropout", spec, 1, bd, 3, &pc, sizeof pc, gx, 1, 1, op);
}
