/* DROPOUT: y = x · mask / (1 − p), the mask drawn from a counter-based hash of (seed, site,
 * element index), so it needs no storage and backward regenerates the identical mask: the
 * op is its own adjoint, dx = dropout(dy) with the same seed and site.  The seed is an i32
 * input leaf the trainer bumps every step; `site` tells the dropout layers of one step apart. */
#include "cost.h"
#include "ops.h"

et_tensor *et_dropout(et_ctx *ctx, et_tensor *x, et_tensor *seed, float p, int site) {
    if (!x || !seed) return NULL;
    if (!et__check_f32(ctx, "dropout", x) || !et__check(ctx, et_is_contiguous(x), "dropout", x, NULL,
                                                         "x must be contiguous"))
        return NULL;
    if (!et__check(ctx, seed->type == ET_I32 && et_nelements(seed) >= 1, "dropout", seed, NULL, "seed must be i32"))
        return NULL;
    if (!(p >= 0.0f && p < 1.0f)) return et_ctx_fail(ctx, "dropout '%s': p = %g must be in [0, 1)", x->name, p);
    et_tensor *t = et__new_node(ctx, ET_OP_DROPOUT, ET_F32, ET_MAX_DIMS, x->ne);
    if (!t) return NULL;
    t->src[0] = x;
    t->src[1] = seed;
    et_param_set_f32(t, 0, p);
    t->params[1] = site;
    return t;
}

static inline uint32_t et__hash3(uint32_t a, uint32_t b, uint64_t i) {
    uint64_t z = ((uint64_t)a << 32 | b) ^ (i * 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

void et__fwd_dropout(et_tensor *t, et_exec *ex) {
    const float *x = t->src[0]->data;
    float *y = t->data;
    float p = et_param_f32(t, 0), keep = 1.0f / (1.0f - p);
    uint32_t seed = (uint32_t)*(const int32_t *)t->src[1]->data, site = (uint32_t)t->params[1];
    uint32_t thresh = (uint32_t)((double)p * 4294967296.0);
    int64_t n = et_nelements(t);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = et__hash3(seed, site, (uint64_t)i) < thresh ? 0.0f : x[i] * keep;
}

bool et__bwd_dropout(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_dropout(ctx, t->grad, t->src[1], et_param_f32(t, 0), t->params[1]));
    return true;
}

/* ---- cost (see cost.h): one multiply per element (the hash is integer work, not counted) ---- */
void et__cost_dropout(const et_tensor *t, double *flops, double *bytes) {
    *flops = et__cost_n(t);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t);
}
