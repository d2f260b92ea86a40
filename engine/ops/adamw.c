/* AdamW, in place on the parameter and its two moments, exactly as torch.optim.AdamW
 * (decoupled weight decay first, then bias-corrected moments):
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
 *   p ← p − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
 * The hyperparameters come from an f32 [8] leaf the trainer rewrites each step (schedule,
 * bias corrections, a gradient scale for clipping and accumulation), so the graph is static.
 * The node is a view of p: it owns no memory, and later nodes that read it see the update. */
#include <math.h>
#include "cost.h"
#include "ops.h"

et_tensor *et_adamw(et_ctx *ctx, et_tensor *p, et_tensor *g, et_tensor *m, et_tensor *v, et_tensor *hp) {
    if (!p || !g || !m || !v || !hp) return NULL;
    const char *op = "adamw";
    if (!et__check(ctx, p->type == ET_F32 && et_is_contiguous(p) && (p->flags & ET_FLAG_PERSIST), op, p,
                   NULL, "the parameter must be a contiguous f32 leaf"))
        return NULL;
    if (!et__check(ctx, et_same_shape(p, g) && et_is_contiguous(g) && g->type == ET_F32, op, p, g,
                   "the gradient must match the parameter"))
        return NULL;
    if (!et__check(ctx, et_same_shape(p, m) && et_same_shape(p, v) && m->type == ET_F32 && v->type == ET_F32 &&
                            (m->flags & ET_FLAG_PERSIST) && (v->flags & ET_FLAG_PERSIST),
                   op, m, v, "moments must be f32 leaves shaped like the parameter"))
        return NULL;
    if (!et__check(ctx, hp->type == ET_F32 && et_nelements(hp) >= ET_HP_COUNT, op, hp, NULL,
                   "hyperparameters must be an f32 leaf of 8"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_ADAMW, ET_F32, ET_MAX_DIMS, p->ne);
    if (!t) return NULL;
    t->src[0] = p; t->src[1] = g; t->src[2] = m; t->src[3] = v; t->src[4] = hp;
    t->src[5] = NULL;   /* optional clip scale: et_adamw_clipped */
    t->view_src = p;
    t->flags |= ET_FLAG_OUTPUT;
    et_set_name(t, "adamw(%s)", p->name);
    return t;
}

void et__fwd_adamw(et_tensor *t, et_exec *ex) {
    float *p = t->src[0]->data, *m = t->src[2]->data, *v = t->src[3]->data;
    const float *g = t->src[1]->data, *hp = t->src[4]->data;
    float lr = hp[ET_HP_LR], b1 = hp[ET_HP_BETA1], b2 = hp[ET_HP_BETA2], eps = hp[ET_HP_EPS];
    float decay = 1.0f - lr * hp[ET_HP_WD], step = lr / hp[ET_HP_BC1], sbc2 = sqrtf(hp[ET_HP_BC2]);
    float gs = hp[ET_HP_GSCALE] * (t->src[5] ? *(const float *)t->src[5]->data : 1.0f);
    int64_t n = et_nelements(t);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * gs;
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] = p[i] * decay - step * m[i] / (sqrtf(v[i]) / sbc2 + eps);
    }
}

et_tensor *et_adamw_clipped(et_ctx *ctx, et_tensor *p, et_tensor *g, et_tensor *m, et_tensor *v, et_tensor *hp,
                            et_tensor *clip) {
    if (!clip) return NULL;
    if (!et__check(ctx, clip->type == ET_F32 && et_nelements(clip) == 1, "adamw", clip, NULL,
                   "the clip scale must be an f32 scalar"))
        return NULL;
    et_tensor *t = et_adamw(ctx, p, g, m, v, hp);
    if (t) t->src[5] = clip;
    return t;
}

/* ---- cost (see cost.h): per element 15 operations (scaled gradient 1, m 3, v 4, the
 * update 7); reads p, g, m, v and writes p, m, v (the hyperparameter leaf is negligible but
 * counted) ---- */
void et__cost_adamw(const et_tensor *t, double *flops, double *bytes) {
    double n = et__cost_n(t->src[0]);
    *flops = 15.0 * n;
    *bytes = 2.0 * et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + 2.0 * et__cost_nbytes(t->src[2]) +
             2.0 * et__cost_nbytes(t->src[3]) + et__cost_nbytes(t->src[4]) + et__cost_nbytes(t->src[5]);
}
