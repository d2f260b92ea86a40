/* AdamW state and graph wiring (see optim.h). */
#include <math.h>
#include <stdlib.h>
#include "optim.h"

et_adamw_cfg et_adamw_defaults(void) {
    return (et_adamw_cfg){ .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f };
}

bool et_optim_adamw_init(et_optim *o, et_graph *g, const et_adamw_cfg *cfg) {
    return et_optim_adamw_init_ex(o, g, cfg, NULL);
}

bool et_optim_adamw_init_ex(et_optim *o, et_graph *g, const et_adamw_cfg *cfg, const et_optim_opts *opts) {
    et_ctx *ctx = g->ctx;
    *o = (et_optim){ .cfg = *cfg };
    float clip = opts ? opts->clip : 0;
    int32_t accum = opts && opts->grad_accum > 1 ? opts->grad_accum : 1;
    if (!(cfg->lr >= 0) || !(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) ||
        !(cfg->eps > 0) || !(cfg->weight_decay >= 0) || !(clip >= 0)) {
        et_ctx_fail(ctx, "adamw: lr=%g beta1=%g beta2=%g eps=%g weight_decay=%g clip=%g out of range", cfg->lr,
                    cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay, clip);
        return false;
    }
    int32_t n_all = et_ctx_n_tensors(ctx), n = 0;
    for (int32_t id = 0; id < n_all; id++) {
        et_tensor *p = et_ctx_tensor(ctx, id);
        if ((p->flags & ET_FLAG_PARAM) && p->grad) n++;
    }
    if (n == 0) { et_ctx_fail(ctx, "adamw: no parameter has a gradient (run et_graph_backward first)"); return false; }
    o->params = calloc((size_t)n, sizeof *o->params);
    o->m = calloc((size_t)n, sizeof *o->m);
    o->v = calloc((size_t)n, sizeof *o->v);
    o->acc = accum > 1 ? calloc((size_t)n, sizeof *o->acc) : NULL;
    o->hp = et_new_1d(ctx, ET_F32, ET_HP_COUNT, ET_FLAG_INPUT, "adamw.hparams");
    if (!o->params || !o->m || !o->v || !o->hp || (accum > 1 && !o->acc)) {
        et_ctx_fail(ctx, "adamw: out of memory");
        return false;
    }
    for (int32_t id = 0; id < n_all; id++) {
        et_tensor *p = et_ctx_tensor(ctx, id);
        if (!(p->flags & ET_FLAG_PARAM) || !p->grad) continue;
        int k = o->n_params++;
        o->params[k] = p;
        o->m[k] = et_new(ctx, ET_F32, ET_MAX_DIMS, p->ne, 0, "adamw.m");
        o->v[k] = et_new(ctx, ET_F32, ET_MAX_DIMS, p->ne, 0, "adamw.v");
        if (o->acc) o->acc[k] = et_new(ctx, ET_F32, ET_MAX_DIMS, p->ne, 0, "grad_acc");
        if (et_ctx_failed(ctx)) return false;
        et_set_name(o->m[k], "%s.adam_m", p->name);
        et_set_name(o->v[k], "%s.adam_v", p->name);
        if (o->acc) et_set_name(o->acc[k], "%s.grad_acc", p->name);
    }
    et_tensor *scale = NULL;
    if (clip > 0) {
        et_tensor *total = NULL;
        for (int32_t k = 0; k < o->n_params; k++) {
            et_tensor *s = et_sumsq(ctx, o->acc ? o->acc[k] : o->params[k]->grad);
            total = total ? et_add(ctx, total, s) : s;
        }
        /* the accumulators hold a sum of accum gradients: compare its norm with clip·accum */
        scale = et_clip_scale(ctx, total, clip * (float)accum);
    }
    for (int32_t k = 0; k < o->n_params; k++) {
        et_tensor *gr = o->acc ? o->acc[k] : o->params[k]->grad;
        et_tensor *u = scale ? et_adamw_clipped(ctx, o->params[k], gr, o->m[k], o->v[k], o->hp, scale)
                             : et_adamw(ctx, o->params[k], gr, o->m[k], o->v[k], o->hp);
        if (!u || !et_graph_add(g, u)) return false;
    }
    return true;
}

void et_optim_next_step(et_optim *o, float lr, float grad_scale) {
    o->step++;
    float *hp = o->hp->data;
    hp[ET_HP_LR] = lr;
    hp[ET_HP_BETA1] = o->cfg.beta1;
    hp[ET_HP_BETA2] = o->cfg.beta2;
    hp[ET_HP_EPS] = o->cfg.eps;
    hp[ET_HP_WD] = o->cfg.weight_decay;
    hp[ET_HP_BC1] = (float)(1.0 - pow(o->cfg.beta1, (double)o->step));
    hp[ET_HP_BC2] = (float)(1.0 - pow(o->cfg.beta2, (double)o->step));
    hp[ET_HP_GSCALE] = grad_scale;
}

void et_optim_free(et_optim *o) {
    free(o->params);
    free(o->m);
    free(o->v);
    free(o->acc);
    o->params = o->m = o->v = o->acc = NULL;
}

size_t et_optim_state_bytes(const et_optim *o) {
    size_t n = 0;
    for (int32_t i = 0; i < o->n_params; i++) n += 2 * et_nbytes(o->params[i]);
    return n;
}
