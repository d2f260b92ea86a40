/* Causal attention with grouped-query heads, softmax fused, and its backward.
 *
 * q [hd, nh, T, B], k/v [hd, nkv, S, B]; query head h reads kv head h / (nh / nkv).  Query t
 * is at absolute position n_past + t and sees keys s in [lo, n_past + t], lo = 0 or, with a
 * sliding window w, n_past + t − w + 1.  Forward keeps one row of S scores per thread; no
 * T×S matrix exists.  Backward (ATTN_BACK) recomputes each probability row from q and k —
 * the flash-attention trade: a second QKᵀ instead of T×S×heads bytes per layer — and writes
 * dq | dk | dv packed in one tensor that three views split.  It runs one task per
 * (batch, kv head), so the dk/dv sums of a group's query heads have a single writer and a
 * fixed order: results are deterministic for any thread count.
 */
#include <math.h>
#include <omp.h>
#include <string.h>
#include "cost.h"
#include "ops.h"

et_tensor *et_attention(et_ctx *ctx, et_tensor *q, et_tensor *k, et_tensor *v, float scale,
                        int n_past, int window) {
    if (!q || !k || !v) return NULL;
    const char *op = "attention";
    if (!et__check_f32(ctx, op, q) || !et__check_f32(ctx, op, k) || !et__check_f32(ctx, op, v)) return NULL;
    if (!et__check(ctx, q->nb[0] == 4 && k->nb[0] == 4 && v->nb[0] == 4, op, q, k, "rows must be dense"))
        return NULL;
    if (!et__check(ctx, et_same_shape(k, v), op, k, v, "k and v must have the same shape")) return NULL;
    if (!et__check(ctx, q->ne[0] == k->ne[0] && q->ne[3] == k->ne[3], op, q, k,
                   "head dim (ne[0]) and batch (ne[3]) must match"))
        return NULL;
    if (!et__check(ctx, q->ne[1] % k->ne[1] == 0, op, q, k, "query heads must be a multiple of kv heads"))
        return NULL;
    if (n_past < 0 || window < 0 || !isfinite(scale) || scale <= 0)
        return et_ctx_fail(ctx, "attention '%s': n_past=%d window=%d scale=%g (need >= 0, >= 0, > 0)",
                           q->name, n_past, window, scale);
    if (!et__check(ctx, n_past + q->ne[2] <= k->ne[2], op, q, k, "n_past + T exceeds the keys (S)"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_ATTN, ET_F32, ET_MAX_DIMS, q->ne);
    if (!t) return NULL;
    t->src[0] = q; t->src[1] = k; t->src[2] = v;
    et_param_set_f32(t, 0, scale);
    t->params[1] = n_past;
    t->params[2] = window;
    return t;
}

#define ET__AT(x, i1, i2, i3) ((float *)((char *)(x)->data + (i1) * (x)->nb[1] + (i2) * (x)->nb[2] + (i3) * (x)->nb[3]))

size_t et__work_attention(const et_tensor *t, int nthreads) {
    return (size_t)nthreads * (size_t)(t->src[1]->ne[2] + 16) * sizeof(float);
}

static inline void et__key_range(const et_tensor *t, int64_t tq, int64_t *lo, int64_t *hi) {
    int64_t qpos = t->params[1] + tq, w = t->params[2];
    *hi = qpos + 1;
    *lo = (w > 0 && qpos - w + 1 > 0) ? qpos - w + 1 : 0;
}

/* simd reduction: lets the compiler vectorize without -ffast-math (the sum order changes with
 * the vector width, identically on every run) */
static inline float et__dot(const float *a, const float *b, int64_t n) {
    float s = 0;
    #pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* p[lo..hi) = softmax(scale · q·k_s); returns nothing, p normalized */
static void et__probs(const et_tensor *k, const float *qv, int64_t g, int64_t b, int64_t lo, int64_t hi,
                      float scale, float *p) {
    int64_t hd = k->ne[0];
    float mx = -INFINITY;
    for (int64_t s = lo; s < hi; s++) {
        p[s] = scale * et__dot(qv, ET__AT(k, g, s, b), hd);
        if (p[s] > mx) mx = p[s];
    }
    double sum = 0;
    for (int64_t s = lo; s < hi; s++) { p[s] = expf(p[s] - mx); sum += p[s]; }
    float inv = (float)(1.0 / sum);
    for (int64_t s = lo; s < hi; s++) p[s] *= inv;
}

void et__fwd_attention(et_tensor *t, et_exec *ex) {
    const et_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t hd = q->ne[0], nh = q->ne[1], T = q->ne[2], B = q->ne[3], S = k->ne[2];
    int64_t grp = nh / k->ne[1];
    float scale = et_param_f32(t, 0);
    #pragma omp parallel
    {
        float *p = (float *)ex->work + (size_t)omp_get_thread_num() * (size_t)(S + 16);
        #pragma omp for collapse(3) schedule(static)
        for (int64_t b = 0; b < B; b++)
            for (int64_t h = 0; h < nh; h++)
                for (int64_t tq = 0; tq < T; tq++) {
                    int64_t lo, hi, g = h / grp;
                    et__key_range(t, tq, &lo, &hi);
                    et__probs(k, ET__AT(q, h, tq, b), g, b, lo, hi, scale, p);
                    float *o = ET__AT(t, h, tq, b);
                    memset(o, 0, (size_t)hd * 4);
                    for (int64_t s = lo; s < hi; s++) {
                        const float *vs = ET__AT(v, g, s, b);
                        float ps = p[s];
                        for (int64_t i = 0; i < hd; i++) o[i] += ps * vs[i];
                    }
                }
    }
}

bool et__bwd_attention(et_ctx *ctx, et_tensor *t) {
    et_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2];
    int64_t nq = et_nelements(q), nk = et_nelements(k);
    et_tensor *pk = et__new_node(ctx, ET_OP_ATTN_BACK, ET_F32, 1, (int64_t[]){nq + 2 * nk});
    if (!pk) return false;
    pk->src[0] = q; pk->src[1] = k; pk->src[2] = v; pk->src[3] = t; pk->src[4] = t->grad;
    memcpy(pk->params, t->params, sizeof pk->params);
    et_set_name(pk, "d(%s) packed", t->name);
    et_tensor *parts[3] = {q, k, v};
    size_t offs[3] = {0, (size_t)nq * 4, (size_t)(nq + nk) * 4};
    for (int i = 0; i < 3; i++) {
        if (!et__needs_grad(parts[i])) continue;
        const int64_t *ne = parts[i]->ne;
        size_t nb[4] = {4, 4 * (size_t)ne[0], 4 * (size_t)(ne[0] * ne[1]), 4 * (size_t)(ne[0] * ne[1] * ne[2])};
        et__acc_grad(ctx, parts[i], et_view(ctx, pk, 4, ne, nb, offs[i]));
    }
    return true;
}

size_t et__work_attention_back(const et_tensor *t, int nthreads) {
    return (size_t)nthreads * (size_t)(t->src[1]->ne[2] + 16) * sizeof(float);
}

void et__fwd_attention_back(et_tensor *t, et_exec *ex) {
    const et_tensor *q = t->src[0], *k = t->src[1], *v = t->src[2], *o = t->src[3], *dO = t->src[4];
    int64_t hd = q->ne[0], nh = q->ne[1], T = q->ne[2], B = q->ne[3], nkv = k->ne[1], S = k->ne[2];
    int64_t grp = nh / nkv;
    float scale = et_param_f32(t, 0);
    float *dq = t->data, *dk = dq + et_nelements(q), *dv = dk + et_nelements(k);
    #pragma omp parallel
    {
        float *p = (float *)ex->work + (size_t)omp_get_thread_num() * (size_t)(S + 16);
        #pragma omp for collapse(2) schedule(dynamic, 1)
        for (int64_t b = 0; b < B; b++)
            for (int64_t g = 0; g < nkv; g++) {
                for (int64_t s = 0; s < S; s++) {
                    memset(dk + ((b * S + s) * nkv + g) * hd, 0, (size_t)hd * 4);
                    memset(dv + ((b * S + s) * nkv + g) * hd, 0, (size_t)hd * 4);
                }
                for (int64_t h = g * grp; h < (g + 1) * grp; h++)
                    for (int64_t tq = 0; tq < T; tq++) {
                        int64_t lo, hi;
                        et__key_range(t, tq, &lo, &hi);
                        const float *qv = ET__AT(q, h, tq, b), *dov = ET__AT(dO, h, tq, b);
                        et__probs(k, qv, g, b, lo, hi, scale, p);
                        float D = et__dot(dov, ET__AT(o, h, tq, b), hd);
                        float *dqv = dq + ((b * T + tq) * nh + h) * hd;
                        memset(dqv, 0, (size_t)hd * 4);
                        for (int64_t s = lo; s < hi; s++) {
                            const float *ks = ET__AT(k, g, s, b), *vs = ET__AT(v, g, s, b);
                            float ds = p[s] * (et__dot(dov, vs, hd) - D) * scale;
                            float *dks = dk + ((b * S + s) * nkv + g) * hd;
                            float *dvs = dv + ((b * S + s) * nkv + g) * hd;
                            for (int64_t i = 0; i < hd; i++) {
                                dqv[i] += ds * ks[i];
                                dks[i] += ds * qv[i];
                                dvs[i] += p[s] * dov[i];
                            }
                        }
                    }
            }
    }
}

/* ---- costs (see cost.h) ----
 * Only the (query, key) pairs the causal mask (and the window) lets a query visit count.
 * Forward per pair: q·k (2·hd) and p·v (2·hd), plus exp, max, sum and scale (4).  Backward
 * per pair: q·k again, dO·v, and the three accumulations into dq, dk, dv (5 × 2·hd), plus 6
 * for the probability and ds; per query row dO·o (2·hd).  Bytes: every source once, the
 * result once. */
static double et__attn_pairs(const et_tensor *t, const et_tensor *q) {
    double pairs = 0;
    for (int64_t tq = 0; tq < q->ne[2]; tq++) {
        int64_t lo, hi;
        et__key_range(t, tq, &lo, &hi);
        pairs += (double)(hi - lo);
    }
    return pairs * (double)q->ne[1] * (double)q->ne[3];
}

void et__cost_attention(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *q = t->src[0];
    double hd = (double)q->ne[0];
    *flops = (4.0 * hd + 4.0) * et__attn_pairs(t, q);
    *bytes = et__cost_nbytes(q) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t->src[2]) + et__cost_nbytes(t);
}

void et__cost_attention_back(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *q = t->src[0];
    double hd = (double)q->ne[0], rows = (double)et_nrows(q);
    *flops = (10.0 * hd + 6.0) * et__attn_pairs(t, q) + 2.0 * hd * rows;
    *bytes = 0;
    for (int i = 0; i < 5; i++) *bytes += et__cost_nbytes(t->src[i]);
    *bytes += et__cost_nbytes(t);
}
