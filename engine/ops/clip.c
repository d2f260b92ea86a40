/* Global gradient-norm clipping inside the static graph: SUMSQ reduces each gradient to
 * Σg² (in double), the scalars are added, and CLIP_SCALE turns the total into
 * min(1, max_norm / sqrt(total)), which every ADAMW node multiplies its gradient by.  The
 * planner thus keeps all gradients until the norm is known, as clipping requires. */
#include <math.h>
#include "cost.h"
#include "ops.h"

et_tensor *et_sumsq(et_ctx *ctx, et_tensor *a) {
    if (!a) return NULL;
    if (!et__check_f32(ctx, "sumsq", a) || !et__check(ctx, et_is_contiguous(a), "sumsq", a, NULL, "must be contiguous"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_SUMSQ, ET_F32, 1, (int64_t[]){1});
    if (!t) return NULL;
    t->src[0] = a;
    return t;
}

void et__fwd_sumsq(et_tensor *t, et_exec *ex) {
    const float *x = t->src[0]->data;
    int64_t n = et_nelements(t->src[0]);
    double s = 0;
    #pragma omp parallel for reduction(+ : s) schedule(static)
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    *(float *)t->data = (float)s;
}

et_tensor *et_clip_scale(et_ctx *ctx, et_tensor *total_sumsq, float max_norm) {
    if (!total_sumsq) return NULL;
    if (!et__check(ctx, total_sumsq->type == ET_F32 && et_nelements(total_sumsq) == 1, "clip_scale", total_sumsq,
                   NULL, "needs an f32 scalar"))
        return NULL;
    if (!(max_norm > 0)) return et_ctx_fail(ctx, "clip_scale: max_norm = %g must be > 0", max_norm);
    et_tensor *t = et__new_node(ctx, ET_OP_CLIP_SCALE, ET_F32, 1, (int64_t[]){1});
    if (!t) return NULL;
    t->src[0] = total_sumsq;
    et_param_set_f32(t, 0, max_norm);
    return t;
}

void et__fwd_clip_scale(et_tensor *t, et_exec *ex) {
    double norm = sqrt((double)*(const float *)t->src[0]->data), mx = et_param_f32(t, 0);
    /* torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), clamped to 1 */
    double c = mx / (norm + 1e-6);
    *(float *)t->data = (float)(c < 1.0 ? c : 1.0);
}

/* ---- costs (see cost.h): Σx² is a multiply-add per element; the clip scale a sqrt, an
 * add and a divide ---- */
void et__cost_sumsq(const et_tensor *t, double *flops, double *bytes) {
    *flops = 2.0 * et__cost_n(t->src[0]);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
void et__cost_clip_scale(const et_tensor *t, double *flops, double *bytes) {
    *flops = 3.0;
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
