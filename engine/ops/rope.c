/* ROPE: rotary position embedding of x [hd, heads, T, B] at positions pos i32 [T].
 * Pairs are (2i, 2i+1) for llama (ET_ROPE_NORM) and (i, i + n_rot/2) for neox; angle
 * pos · theta^(−2i/n_rot), computed as ggml does (float, theta_scale powers) so logits match
 * llama.cpp.  A rotation's adjoint is the inverse rotation, so backward is ROPE with the
 * sine negated (params[3]). */
#include <math.h>
#include <string.h>
#include "cost.h"
#include "ops.h"

static et_tensor *et__rope(et_ctx *ctx, et_tensor *x, et_tensor *pos, int n_rot, int mode,
                           float theta, int inverse) {
    if (!x || !pos) return NULL;
    if (!et__check_f32(ctx, "rope", x) || !et__check(ctx, x->nb[0] == 4, "rope", x, NULL, "rows must be dense"))
        return NULL;
    if (!et__check(ctx, pos->type == ET_I32 && et_nelements(pos) == x->ne[2] && et_is_contiguous(pos), "rope",
                   x, pos, "pos must be i32 with one entry per token (x.ne[2])"))
        return NULL;
    if (n_rot <= 0 || n_rot > x->ne[0] || n_rot % 2 || n_rot > 1024)
        return et_ctx_fail(ctx, "rope '%s': n_rot=%d must be even and in 1..%lld", x->name, n_rot,
                           (long long)x->ne[0]);
    if (mode != ET_ROPE_NORM && mode != ET_ROPE_NEOX)
        return et_ctx_fail(ctx, "rope '%s': mode %d (0 = llama, 2 = neox)", x->name, mode);
    if (!(theta > 1.0f) || !isfinite(theta))
        return et_ctx_fail(ctx, "rope '%s': theta %g must be finite and > 1", x->name, theta);
    et_tensor *t = et__new_node(ctx, ET_OP_ROPE, ET_F32, ET_MAX_DIMS, x->ne);
    if (!t) return NULL;
    t->src[0] = x;
    t->src[1] = pos;
    t->params[0] = n_rot;
    t->params[1] = mode;
    et_param_set_f32(t, 2, theta);
    t->params[3] = inverse;
    return t;
}

et_tensor *et_rope(et_ctx *ctx, et_tensor *x, et_tensor *pos, int n_rot, int mode, float theta) {
    return et__rope(ctx, x, pos, n_rot, mode, theta, 0);
}
et_tensor *et_rope_inverse(et_ctx *ctx, et_tensor *x, et_tensor *pos, int n_rot, int mode, float theta) {
    return et__rope(ctx, x, pos, n_rot, mode, theta, 1);
}

void et__fwd_rope(et_tensor *t, et_exec *ex) {
    const et_tensor *x = t->src[0];
    const int32_t *pos = t->src[1]->data;
    int n_rot = t->params[0], mode = t->params[1];
    float theta_scale = powf(et_param_f32(t, 2), -2.0f / (float)n_rot);
    float sgn = t->params[3] ? -1.0f : 1.0f;
    int64_t hd = t->ne[0], nh = t->ne[1], T = t->ne[2], B = t->ne[3];
    #pragma omp parallel for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++)
        for (int64_t tt = 0; tt < T; tt++) {
            float angle = (float)pos[tt];
            float cs[512], sn[512];   /* n_rot/2 <= 512 heads dims: checked below */
            int half = n_rot / 2 < 512 ? n_rot / 2 : 512;
            for (int i = 0; i < half; i++) { cs[i] = cosf(angle); sn[i] = sgn * sinf(angle); angle *= theta_scale; }
            for (int64_t h = 0; h < nh; h++) {
                const float *s = (const float *)((const char *)x->data + h * x->nb[1] + tt * x->nb[2] + b * x->nb[3]);
                float *d = (float *)((char *)t->data + h * t->nb[1] + tt * t->nb[2] + b * t->nb[3]);
                for (int i = 0; i < half; i++) {
                    int64_t i0 = mode == ET_ROPE_NEOX ? i : 2 * i;
                    int64_t i1 = mode == ET_ROPE_NEOX ? i + n_rot / 2 : 2 * i + 1;
                    float x0 = s[i0], x1 = s[i1];
                    d[i0] = x0 * cs[i] - x1 * sn[i];
                    d[i1] = x0 * sn[i] + x1 * cs[i];
                }
                if (n_rot < hd) memcpy(d + n_rot, s + n_rot, (size_t)(hd - n_rot) * 4);
            }
        }
}

bool et__bwd_rope(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et__rope(ctx, t->grad, t->src[1], t->params[0], t->params[1],
                                          et_param_f32(t, 2), !t->params[3]));
    return true;
}

/* ---- cost (see cost.h): each rotated pair is 4 multiplies and 2 adds, n_rot/2 pairs per
 * head row; the sines and cosines (per token, shared by the heads) are not counted ---- */
void et__cost_rope(const et_tensor *t, double *flops, double *bytes) {
    *flops = 3.0 * (double)t->params[0] * (double)et_nrows(t);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t);
}
