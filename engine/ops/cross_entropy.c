/* Fused language-model head + cross-entropy, evaluated only at the P selected positions and
 * chunked over the vocabulary: logits of C vocabulary rows at a time (P×C floats of scratch)
 * feed an online log-sum-exp, so no P×V matrix is ever stored.
 *
 *   loss = mean over counted positions p of  logsumexp_v(h_p·W_v) − h_p·W_{target_p}
 *
 * A negative target marks a padding position: not counted.  The CROSS_ENTROPY node holds the
 * result followed by each position's log-sum-exp ([1 + P] for the mean, [P + P] per position);
 * et_cross_entropy(_none) return a view of the result, so the loss is still a scalar.
 * CROSS_ENTROPY_BACK reads those log-sum-exps (src[4], the forward node) instead of making
 * another pass over W for them — a third of its work — and per chunk forms g = softmax −
 * onehot scaled by dloss / count, giving dh += g·W_chunk (params[1] = 0) or dW_chunk = gᵀ·h
 * (params[1] = 1, for models whose head is trained: full fine-tuning and tied embeddings).
 * Backends that recompute the log-sum-exp may ignore src[4].
 *
 * Fused input gradient (params[2] = 1, set by the backward rule when h needs a gradient):
 * the forward node then also holds a marker and u [P, D] after the log-sum-exps, and when
 * the executed range includes backward nodes (et_exec.backward) the forward makes the one
 * pass over W give both:  with a running max m_p and sum s_p, u_p accumulates
 * Σ_v exp(z_pv − m_p)·W_v (rescaled by exp(m_old − m_new) whenever m_p grows), and at the end
 * u_p = u_p / s_p − W_{target_p} = ∂nll_p/∂h_p.  The backward then is dh_p = gs_p·u_p — no
 * second logits product and no second pass over W: two GEMMs over the vocabulary per step
 * instead of three.  A forward run alone (evaluation over a training graph's forward nodes)
 * skips u and writes marker 0; the backward then takes the two-pass path above.  The Vulkan
 * backend runs CROSS_ENTROPY and its BACK node together and ignores marker and u.
 */
#include <math.h>
#include <omp.h>
#include <string.h>
#include "kernels.h"
#include "cost.h"
#include "ops.h"

#define ET__CE_MAX_FLOATS (1 << 20)   /* P×C logits per chunk: 4 MiB */

static int64_t et__ce_chunk(int64_t P, int64_t V) {
    int64_t c = ET__CE_MAX_FLOATS / (P > 0 ? P : 1);
    if (c < 64) c = 64;
    return c < V ? c : V;
}

/* The CROSS_ENTROPY node: [1 + P] (mean) or [P + P] (per position); see the file comment. */
static et_tensor *et__ce_node(et_ctx *ctx, et_tensor *h, et_tensor *w, et_tensor *targets, bool per_pos) {
    if (!h || !w || !targets) return NULL;
    const char *op = per_pos ? "cross_entropy_none" : "cross_entropy";
    if (!et__check_f32(ctx, op, h) || !et__check(ctx, et_is_contiguous(h) && h->ne[2] == 1 && h->ne[3] == 1,
                                                  op, h, NULL, "h must be a contiguous [D, P] matrix"))
        return NULL;
    if (!et__check(ctx, w->ne[0] == h->ne[0] && w->ne[2] == 1 && w->ne[3] == 1, op, h, w,
                   "W must be [D, V] with D = h.ne[0]"))
        return NULL;
    if (!et__check(ctx, w->type != ET_NF4 && w->type != ET_I32 && w->nb[0] == et_type_get(w->type)->type_size,
                   op, w, NULL, "W must be a dense float or (non-NF4) quantized matrix"))
        return NULL;
    if (!et__check(ctx, targets->type == ET_I32 && et_nelements(targets) == h->ne[1] && et_is_contiguous(targets),
                   op, targets, h, "targets must be i32 with one entry per position"))
        return NULL;
    int64_t P = h->ne[1];
    et_tensor *t = et__new_node(ctx, ET_OP_CROSS_ENTROPY, ET_F32, 1, (int64_t[]){(per_pos ? P : 1) + P});
    if (!t) return NULL;
    t->src[0] = h; t->src[1] = w; t->src[2] = targets;
    t->params[0] = per_pos;
    return t;
}

et_tensor *et_cross_entropy(et_ctx *ctx, et_tensor *h, et_tensor *w, et_tensor *targets) {
    et_tensor *t = et__ce_node(ctx, h, w, targets, false);
    et_tensor *loss = t ? et_view(ctx, t, 1, (int64_t[]){1}, (size_t[]){4}, 0) : NULL;
    if (loss) {
        loss->flags |= ET_FLAG_LOSS;
        et_set_name(loss, "cross_entropy(%s)", w->name);
    }
    return loss;
}

et_tensor *et_cross_entropy_none(et_ctx *ctx, et_tensor *h, et_tensor *w, et_tensor *targets) {
    et_tensor *t = et__ce_node(ctx, h, w, targets, true);
    et_tensor *nll = t ? et_view(ctx, t, 1, (int64_t[]){h->ne[1]}, (size_t[]){4}, 0) : NULL;
    if (nll) et_set_name(nll, "nll(%s)", w->name);
    return nll;
}

static size_t et__ce_work(const et_tensor *h, const et_tensor *w, int nthreads) {
    int64_t P = h->ne[1], V = w->ne[1], C = et__ce_chunk(P, V);
    /* the kernels' scratch serves both the logits product and dh += g·W_chunk (backward, or
     * the fused forward); the fused forward's final W_target rows need D floats per thread */
    size_t mm = et_kern_matmul_work(w->type, P, w->ne[0], C), dx = et_kern_matmul_dx_work(w->type, P, w->ne[0], C);
    size_t rows = (size_t)(nthreads > 0 ? nthreads : 1) * (size_t)h->ne[0] * 4;
    return (size_t)P * (size_t)C * 4 + (size_t)P * 3 * sizeof(double) + (mm > dx ? mm : dx) + rows + 320;
}

size_t et__work_cross_entropy(const et_tensor *t, int nthreads) { return et__ce_work(t->src[0], t->src[1], nthreads); }
size_t et__work_cross_entropy_back(const et_tensor *t, int nthreads) {
    return et__ce_work(t->src[0], t->src[1], nthreads);
}

/* Where a CROSS_ENTROPY node keeps the fused gradient (params[2] = 1): after the result and
 * the log-sum-exps, a marker (1: u below is this step's) and u [P, D], 64-byte aligned. */
static int64_t et__ce_head(const et_tensor *t) { return (t->params[0] == 1 ? t->src[0]->ne[1] : 1) + t->src[0]->ne[1]; }
static int64_t et__ce_u_off(const et_tensor *t) { return ((et__ce_head(t) + 1 + 15) / 16) * 16; }

static void et__ce_carve(et_exec *ex, const et_tensor *h, const et_tensor *w, float **logits, double **m,
                         double **s, double **zt, float **rows, void **kwork) {
    int64_t P = h->ne[1], C = et__ce_chunk(P, w->ne[1]);
    char *base = ex->work;
    *m = (double *)base; *s = *m + P; *zt = *s + P;
    *logits = (float *)(base + (size_t)P * 3 * sizeof(double));
    size_t used = (size_t)P * 3 * sizeof(double) + (size_t)P * (size_t)C * 4;
    *rows = (float *)(base + ((used + 63) / 64) * 64);
    used = ((used + 63) / 64) * 64 + (size_t)(ex->nthreads > 0 ? ex->nthreads : 1) * (size_t)h->ne[0] * 4;
    *kwork = base + ((used + 63) / 64) * 64;
}

/* Logits of vocabulary rows c0 .. c0+nc of W for every position: logits[P, nc] = h·W_chunkᵀ.
 * Returns the chunk's first row of W. */
static const char *et__ce_chunk_logits(const et_tensor *h, const et_tensor *w, int64_t c0, int64_t nc,
                                       float *logits, void *kwork) {
    const char *wc = (const char *)w->data + (size_t)c0 * w->nb[1];
    et_kern_matmul(w->type, wc, w->nb[1], h->data, (size_t)h->ne[0], logits, (size_t)nc, h->ne[1], h->ne[0], nc,
                   false, kwork);
    return wc;
}

/* Pass over the vocabulary: per position running max m and sum s (so lse = m + log s),
 * and the target's logit zt.  With u (the fused form, see the file comment) the same pass
 * also leaves u [P, D] = ∂nll_p/∂h_p for counted positions, 0 for padding; rows is then D
 * floats of scratch per thread.  Returns the number of counted positions, or -1 on a bad id. */
static int64_t et__ce_lse(const et_tensor *h, const et_tensor *w, const int32_t *tgt, double *m, double *s,
                          double *zt, float *logits, float *u, float *rows, void *kwork, et_exec *ex) {
    int64_t D = h->ne[0], P = h->ne[1], V = w->ne[1], C = et__ce_chunk(P, V);
    int64_t counted = 0;
    for (int64_t p = 0; p < P; p++) {
        m[p] = -INFINITY; s[p] = 0; zt[p] = 0;
        if (tgt[p] >= V) {
            et_exec_fail(ex, "target %d at position %lld is outside the vocabulary [0, %lld)", tgt[p],
                         (long long)p, (long long)V);
            return -1;
        }
        counted += tgt[p] >= 0;
    }
    if (u) memset(u, 0, (size_t)P * (size_t)D * 4);
    for (int64_t c0 = 0; c0 < V; c0 += C) {
        int64_t nc = V - c0 < C ? V - c0 : C;
        const char *wc = et__ce_chunk_logits(h, w, c0, nc, logits, kwork);
        #pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < P; p++) {
            float *z = logits + p * nc;
            if (tgt[p] >= c0 && tgt[p] < c0 + nc) zt[p] = z[tgt[p] - c0];
            float mx = et_kern_row_max(z, nc);
            double mnew = mx > m[p] ? mx : m[p];
            double r = exp(m[p] - mnew);   /* 0 on the first chunk (m = −inf) */
            /* float exponentials (vectorized), summed in float per chunk then in double */
            double e;
            if (!u) {
                e = et_kern_row_expsum(z, nc, (float)mnew);
            } else {
                if (r != 1.0 && s[p] > 0) {   /* u_p so far was weighted by exp(· − m_old) */
                    float rf = (float)r, *up = u + p * D;
                    for (int64_t k = 0; k < D; k++) up[k] *= rf;
                }
                /* z = exp(z − mnew) in place: the weights of this chunk's rows of W in u_p */
                e = et_kern_row_exp(z, nc, 1.0f, (float)mnew, 1.0f);
                if (tgt[p] < 0) memset(z, 0, (size_t)nc * 4);
            }
            s[p] = s[p] * r + e;
            m[p] = mnew;
        }
        if (u) et_kern_matmul_dx(w->type, wc, w->nb[1], logits, (size_t)nc, u, (size_t)D, P, D, nc, true, kwork);
    }
    if (!u) return counted;
    const et_type_traits *tr = et_type_get(w->type);
    #pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < P; p++) {   /* u_p / s_p − W_target */
        float *up = u + p * D;
        if (tgt[p] < 0) { memset(up, 0, (size_t)D * 4); continue; }
        float *wt = rows + (size_t)omp_get_thread_num() * (size_t)D;
        tr->to_f32((const char *)w->data + (size_t)tgt[p] * w->nb[1], wt, D);
        float inv = (float)(1.0 / s[p]);
        for (int64_t k = 0; k < D; k++) up[k] = up[k] * inv - wt[k];
    }
    return counted;
}

void et__fwd_cross_entropy(et_tensor *t, et_exec *ex) {
    const et_tensor *h = t->src[0], *w = t->src[1];
    const int32_t *tgt = t->src[2]->data;
    float *logits, *rows; double *m, *s, *zt; void *kwork;
    et__ce_carve(ex, h, w, &logits, &m, &s, &zt, &rows, &kwork);
    bool fused = t->params[2] == 1 && ex->backward;
    float *marker = t->params[2] == 1 ? (float *)t->data + et__ce_head(t) : NULL;
    if (marker) *marker = 0.0f;
    int64_t counted = et__ce_lse(h, w, tgt, m, s, zt, logits, fused ? (float *)t->data + et__ce_u_off(t) : NULL, rows,
                                 kwork, ex);
    if (counted < 0) return;
    if (fused) *marker = 1.0f;
    const int64_t P = h->ne[1];
    float *lse = (float *)t->data + (t->params[0] == 1 ? P : 1);   /* for the backward */
    for (int64_t p = 0; p < P; p++) lse[p] = (float)(m[p] + log(s[p]));
    if (t->params[0] == 1) {   /* per position */
        for (int64_t p = 0; p < P; p++)
            ((float *)t->data)[p] = tgt[p] >= 0 ? (float)(m[p] + log(s[p]) - zt[p]) : 0.0f;
        return;
    }
    double loss = 0;
    for (int64_t p = 0; p < h->ne[1] && counted > 0; p++)
        if (tgt[p] >= 0) loss += m[p] + log(s[p]) - zt[p];
    *(float *)t->data = counted > 0 ? (float)(loss / (double)counted) : 0.0f;
}

bool et__bwd_cross_entropy(et_ctx *ctx, et_tensor *t) {
    for (int which = 0; which < 2; which++) {
        et_tensor *x = t->src[which];
        if (!et__needs_grad(x)) continue;
        if (which == 1 && !et__check(ctx, x->type == ET_F32, "cross_entropy", x, NULL,
                                     "a trained output matrix must be f32"))
            return false;
        if (which == 0 && t->params[2] != 1) {   /* the forward also keeps a marker and u [P, D] */
            t->params[2] = 1;
            t->ne[0] = et__ce_u_off(t) + x->ne[0] * x->ne[1];
            t->nb[1] = t->nb[2] = t->nb[3] = (size_t)t->ne[0] * 4;
        }
        et_tensor *d = et__new_node(ctx, ET_OP_CROSS_ENTROPY_BACK, ET_F32, ET_MAX_DIMS, x->ne);
        if (!d) return false;
        d->src[0] = t->src[0]; d->src[1] = t->src[1]; d->src[2] = t->src[2]; d->src[3] = t->grad;
        d->src[4] = t;   /* its saved log-sum-exps */
        d->params[0] = t->params[0];   /* reduction: mean (0) or per position (1) */
        d->params[1] = which;
        et__acc_grad(ctx, x, d);
    }
    return true;
}

void et__fwd_cross_entropy_back(et_tensor *t, et_exec *ex) {
    const et_tensor *h = t->src[0], *w = t->src[1];
    const int32_t *tgt = t->src[2]->data;
    const float *dl = t->src[3]->data;   /* [1] for the mean, [P] per position */
    bool per_pos = t->params[0] == 1;
    int64_t D = h->ne[0], P = h->ne[1], V = w->ne[1], C = et__ce_chunk(P, V);
    bool dw = t->params[1] == 1;
    float *logits, *rows; double *m, *s, *zt; void *kwork;
    et__ce_carve(ex, h, w, &logits, &m, &s, &zt, &rows, &kwork);
    const et_tensor *f = t->src[4];
    const float *lse_saved = (const float *)f->data + (per_pos ? P : 1);
    int64_t counted = 0;
    for (int64_t p = 0; p < P; p++) counted += tgt[p] >= 0;   /* ids were checked by the forward */
    float gmean = per_pos || counted == 0 ? 0.0f : dl[0] / (float)counted;
    if (!dw && f->params[2] == 1 && ((const float *)f->data)[et__ce_head(f)] == 1.0f) {   /* fused: dh = gs·u */
        const float *u = (const float *)f->data + et__ce_u_off(f);
        float *dh = t->data;
        #pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < P; p++) {
            float gs = tgt[p] < 0 ? 0.0f : per_pos ? dl[p] : gmean;
            for (int64_t k = 0; k < D; k++) dh[p * D + k] = gs * u[p * D + k];
        }
        return;
    }
    memset(t->data, 0, et_nbytes(t));
    if (counted == 0) return;
    for (int64_t c0 = 0; c0 < V; c0 += C) {
        int64_t nc = V - c0 < C ? V - c0 : C;
        const char *wc = et__ce_chunk_logits(h, w, c0, nc, logits, kwork);
        #pragma omp parallel for schedule(static)
        for (int64_t p = 0; p < P; p++) {
            float *z = logits + p * nc;
            if (tgt[p] < 0) { memset(z, 0, (size_t)nc * 4); continue; }
            float lse = lse_saved[p];
            float gs = per_pos ? dl[p] : gmean;
            et_kern_row_exp(z, nc, 1.0f, lse, gs);
            if (tgt[p] >= c0 && tgt[p] < c0 + nc) z[tgt[p] - c0] -= gs;
        }
        if (!dw)   /* dh[P,D] += g[P,nc] · W_chunk[nc,D] */
            et_kern_matmul_dx(w->type, wc, w->nb[1], logits, (size_t)nc, t->data, (size_t)D, P, D, nc, true, kwork);
        else       /* dW_chunk[nc,D] = gᵀ[nc,P] · h[P,D] */
            et_sgemm_own(true, false, nc, D, P, 1.0f, logits, nc, h->data, D, 0.0f,
                     (float *)t->data + c0 * D, D);
    }
}

/* ---- costs (see cost.h) ----
 * Forward: the logits h·Wᵀ (2·D per logit) and the online log-sum-exp (subtract, exp, add:
 * 3 per logit); fused, also u += e·W_chunk (2·D per logit; counted as if the step's
 * backward runs, as it does wherever steps are profiled).  Fused backward: dh = gs·u.  Backward: the logits again, softmax − onehot (subtract, exp, multiply: 3)
 * and the gradient product (2·D per logit); W is streamed once. */
void et__cost_cross_entropy(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *h = t->src[0], *w = t->src[1];
    double logits = (double)h->ne[1] * (double)w->ne[1];
    *flops = (2.0 * (double)h->ne[0] + 3.0) * logits;
    if (t->params[2] == 1) *flops += 2.0 * (double)h->ne[0] * logits;   /* fused: u += e·W_chunk */
    *bytes = et__cost_nbytes(h) + et__cost_nbytes(w) + et__cost_nbytes(t->src[2]) + et__cost_nbytes(t);
}

void et__cost_cross_entropy_back(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *h = t->src[0], *w = t->src[1];
    double logits = (double)h->ne[1] * (double)w->ne[1];
    if (t->params[1] == 0 && t->src[4]->params[2] == 1) {   /* fused: dh = gs·u */
        *flops = (double)h->ne[0] * (double)h->ne[1];
        *bytes = 2.0 * et__cost_nbytes(t) + et__cost_nbytes(t->src[2]) + et__cost_nbytes(t->src[3]);
        return;
    }
    *flops = (4.0 * (double)h->ne[0] + 3.0) * logits;
    *bytes = et__cost_nbytes(h) + et__cost_nbytes(w) + et__cost_nbytes(t->src[2]) +
             et__cost_nbytes(t->src[3]) + et__cost_nbytes(t->src[4]) + et__cost_nbytes(t);
}
