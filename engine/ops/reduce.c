/* SUM (to a scalar, accumulated in double), REPEAT (broadcast to a shape) and REPEAT_BACK
 * (sum down to a shape): the adjoint pair that broadcasting ops use in backward. */
#include <string.h>
#include "cost.h"
#include "ops.h"

et_tensor *et_sum(et_ctx *ctx, et_tensor *a) {
    if (!a) return NULL;
    if (!et__check_f32(ctx, "sum", a) || !et__check(ctx, a->nb[0] == 4, "sum", a, NULL, "rows must be dense"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_SUM, ET_F32, 1, (int64_t[]){1});
    if (!t) return NULL;
    t->src[0] = a;
    return t;
}

et_tensor *et_mean(et_ctx *ctx, et_tensor *a) {
    if (!a) return NULL;
    return et_scale(ctx, et_sum(ctx, a), (float)(1.0 / (double)et_nelements(a)));
}

void et__fwd_sum(et_tensor *t, et_exec *ex) {
    const et_tensor *a = t->src[0];
    double s = 0;
    int64_t n0 = a->ne[0], nrows = et_nrows(a);
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = et__row(a, r);
        for (int64_t i = 0; i < n0; i++) s += x[i];
    }
    *(float *)t->data = (float)s;
}

bool et__bwd_sum(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_repeat(ctx, t->grad, t->src[0]));
    return true;
}

et_tensor *et_repeat(et_ctx *ctx, et_tensor *a, et_tensor *like) {
    if (!a || !like) return NULL;
    if (!et__check_f32(ctx, "repeat", a) || !et__check(ctx, et__can_broadcast(like, a), "repeat", a, like,
                                                        "each dimension must be 1 or the target's"))
        return NULL;
    if (!et__check(ctx, et_is_contiguous(a), "repeat", a, NULL, "source must be contiguous")) return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_REPEAT, ET_F32, ET_MAX_DIMS, like->ne);
    if (!t) return NULL;
    t->src[0] = a;      /* the target shape is the node's own: `like` is not kept alive */
    return t;
}

void et__fwd_repeat(et_tensor *t, et_exec *ex) {
    const et_tensor *a = t->src[0];
    const float *x = a->data;
    float *z = t->data;
    int64_t n = et_nelements(t);
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        int64_t i0 = i % t->ne[0], i1 = (i / t->ne[0]) % t->ne[1];
        int64_t i2 = (i / (t->ne[0] * t->ne[1])) % t->ne[2], i3 = i / (t->ne[0] * t->ne[1] * t->ne[2]);
        z[i] = x[(i0 % a->ne[0]) + a->ne[0] * ((i1 % a->ne[1]) + a->ne[1] * ((i2 % a->ne[2]) + a->ne[2] * (i3 % a->ne[3])))];
    }
}

bool et__bwd_repeat(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_repeat_back(ctx, t->grad, t->src[0]));
    return true;
}

et_tensor *et_repeat_back(et_ctx *ctx, et_tensor *a, et_tensor *like) {
    if (!a || !like) return NULL;
    if (!et__check_f32(ctx, "repeat_back", a) ||
        !et__check(ctx, et__can_broadcast(a, like), "repeat_back", a, like, "target dims must be 1 or equal"))
        return NULL;
    if (!et__check(ctx, et_is_contiguous(a), "repeat_back", a, NULL, "source must be contiguous")) return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_REPEAT_BACK, ET_F32, ET_MAX_DIMS, like->ne);
    if (!t) return NULL;
    t->src[0] = a;
    return t;
}

void et__fwd_repeat_back(et_tensor *t, et_exec *ex) {
    const et_tensor *a = t->src[0];
    const float *x = a->data;
    int64_t nt = et_nelements(t);
    /* each output element sums its preimage; parallel over outputs, so no races */
    #pragma omp parallel for schedule(static)
    for (int64_t o = 0; o < nt; o++) {
        int64_t o0 = o % t->ne[0], o1 = (o / t->ne[0]) % t->ne[1];
        int64_t o2 = (o / (t->ne[0] * t->ne[1])) % t->ne[2], o3 = o / (t->ne[0] * t->ne[1] * t->ne[2]);
        double s = 0;
        for (int64_t i3 = o3; i3 < a->ne[3]; i3 += t->ne[3])
            for (int64_t i2 = o2; i2 < a->ne[2]; i2 += t->ne[2])
                for (int64_t i1 = o1; i1 < a->ne[1]; i1 += t->ne[1])
                    for (int64_t i0 = o0; i0 < a->ne[0]; i0 += t->ne[0])
                        s += x[i0 + a->ne[0] * (i1 + a->ne[1] * (i2 + a->ne[2] * i3))];
        ((float *)t->data)[o] = (float)s;
    }
}

bool et__bwd_repeat_back(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_repeat(ctx, t->grad, t->src[0]));
    return true;
}

/* ---- costs (see cost.h): SUM and REPEAT_BACK one add per source element, REPEAT a copy ---- */
void et__cost_sum(const et_tensor *t, double *flops, double *bytes) {
    *flops = et__cost_n(t->src[0]);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
void et__cost_repeat(const et_tensor *t, double *flops, double *bytes) {
    *flops = 0;
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
void et__cost_repeat_back(const et_tensor *t, double *flops, double *bytes) {
    *flops = et__cost_n(t->src[0]);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
