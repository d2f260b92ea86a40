/* CONCAT along dimension 1 (tokens): prompt tuning prepends soft-prompt rows to the token
 * embeddings.  Backward hands each source its slice of dy. */
#include <string.h>
#include "cost.h"
#include "ops.h"

et_tensor *et_concat(et_ctx *ctx, et_tensor *a, et_tensor *b) {
    if (!a || !b) return NULL;
    if (!et__check_f32(ctx, "concat", a) || !et__check_f32(ctx, "concat", b)) return NULL;
    if (!et__check(ctx, a->ne[0] == b->ne[0] && a->ne[2] == b->ne[2] && a->ne[3] == b->ne[3], "concat",
                   a, b, "all dimensions but 1 must match"))
        return NULL;
    if (!et__check(ctx, a->nb[0] == 4 && b->nb[0] == 4, "concat", a, b, "rows must be dense")) return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_CONCAT, ET_F32, ET_MAX_DIMS,
                                (int64_t[]){a->ne[0], a->ne[1] + b->ne[1], a->ne[2], a->ne[3]});
    if (!t) return NULL;
    t->src[0] = a;
    t->src[1] = b;
    return t;
}

void et__fwd_concat(et_tensor *t, et_exec *ex) {
    const et_tensor *a = t->src[0], *b = t->src[1];
    size_t row = (size_t)t->ne[0] * 4;
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < t->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
                const et_tensor *s = i1 < a->ne[1] ? a : b;
                int64_t j1 = i1 < a->ne[1] ? i1 : i1 - a->ne[1];
                memcpy((char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3],
                       (const char *)s->data + j1 * s->nb[1] + i2 * s->nb[2] + i3 * s->nb[3], row);
            }
}

bool et__bwd_concat(et_ctx *ctx, et_tensor *t) {
    et_tensor *a = t->src[0], *b = t->src[1], *dy = t->grad;
    size_t nb[4] = {4, dy->nb[1], dy->nb[2], dy->nb[3]};
    if (et__needs_grad(a)) et__acc_grad(ctx, a, et_cont(ctx, et_view(ctx, dy, 4, a->ne, nb, 0)));
    if (et__needs_grad(b))
        et__acc_grad(ctx, b, et_cont(ctx, et_view(ctx, dy, 4, b->ne, nb, (size_t)a->ne[1] * dy->nb[1])));
    return true;
}

/* ---- cost (see cost.h): a copy, no arithmetic ---- */
void et__cost_concat(const et_tensor *t, double *flops, double *bytes) {
    *flops = 0;
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t);
}
