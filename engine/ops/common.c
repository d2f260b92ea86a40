/* Argument checks shared by the op builders: each failure names the op, the tensors and
 * their shapes, so a model builder's error reads like "matmul: x [64, 8, 1, 1] f32 vs
 * W [32, 16, 1, 1] f32: x.ne[0] must equal W.ne[0]". */
#include <stdio.h>
#include "ops.h"

bool et__check(et_ctx *ctx, bool cond, const char *op, const et_tensor *a, const et_tensor *b,
               const char *what) {
    if (cond) return true;
    char sa[96], sb[96];
    if (b)
        et_ctx_fail(ctx, "%s: '%s' %s vs '%s' %s: %s", op, a ? a->name : "?",
                    et_shape_str(a, sa, sizeof sa), b->name, et_shape_str(b, sb, sizeof sb), what);
    else
        et_ctx_fail(ctx, "%s: '%s' %s: %s", op, a ? a->name : "?", et_shape_str(a, sa, sizeof sa),
                    what);
    return false;
}

bool et__check_f32(et_ctx *ctx, const char *op, const et_tensor *t) {
    return et__check(ctx, t->type == ET_F32, op, t, NULL, "must be f32");
}

bool et__can_broadcast(const et_tensor *a, const et_tensor *b) {
    for (int i = 0; i < ET_MAX_DIMS; i++)
        if (b->ne[i] != 1 && b->ne[i] != a->ne[i]) return false;
    return true;
}
