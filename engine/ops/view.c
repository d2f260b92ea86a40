/* Views (reshape, permute, transpose, strided window), the dense copy CONT, and VIEW_BACK,
 * the adjoint of any view: zeros shaped like the view's source with dy added at the viewed
 * elements.  Reshapes and permutes use cheaper exact rules in backward. */
#include <string.h>
#include "cost.h"
#include "ops.h"

enum { ET__VIEW_WINDOW = 0, ET__VIEW_RESHAPE = 1, ET__VIEW_PERMUTE = 2 };

static et_tensor *et__view_node(et_ctx *ctx, et_tensor *a, const int64_t *ne) {
    et_tensor *t = et__new_node(ctx, ET_OP_VIEW, a->type, ET_MAX_DIMS, ne);
    if (!t) return NULL;
    t->src[0] = a;
    t->view_src = a;
    t->flags |= a->flags & ET_FLAG_NEEDS_GRAD;
    return t;
}

et_tensor *et_reshape(et_ctx *ctx, et_tensor *a, int n_dims, const int64_t *ne) {
    if (!a) return NULL;
    int64_t n = 1, full[ET_MAX_DIMS] = {1, 1, 1, 1};
    if (n_dims < 1 || n_dims > ET_MAX_DIMS)
        return et_ctx_fail(ctx, "reshape '%s': %d dims (1..4)", a->name, n_dims);
    for (int i = 0; i < n_dims; i++) { full[i] = ne[i]; n *= ne[i]; }
    if (!et__check(ctx, n == et_nelements(a), "reshape", a, NULL, "element count changes")) return NULL;
    if (!et__check(ctx, et_is_contiguous(a), "reshape", a, NULL, "source must be contiguous"))
        return NULL;
    et_tensor *t = et__view_node(ctx, a, full);
    if (!t) return NULL;
    t->params[0] = ET__VIEW_RESHAPE;
    et_set_name(t, "%s (reshaped)", a->name);
    return t;
}

et_tensor *et_reshape_2d(et_ctx *ctx, et_tensor *a, int64_t ne0, int64_t ne1) {
    return et_reshape(ctx, a, 2, (int64_t[]){ne0, ne1});
}
et_tensor *et_reshape_4d(et_ctx *ctx, et_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3) {
    return et_reshape(ctx, a, 4, (int64_t[]){ne0, ne1, ne2, ne3});
}

et_tensor *et_permute(et_ctx *ctx, et_tensor *a, int ax0, int ax1, int ax2, int ax3) {
    if (!a) return NULL;
    int ax[4] = {ax0, ax1, ax2, ax3}, seen = 0;
    for (int i = 0; i < 4; i++) {
        if (ax[i] < 0 || ax[i] > 3 || (seen & (1 << ax[i])))
            return et_ctx_fail(ctx, "permute '%s': axes (%d,%d,%d,%d) are not a permutation of 0..3",
                               a->name, ax0, ax1, ax2, ax3);
        seen |= 1 << ax[i];
    }
    if (!et__check(ctx, !et_type_get(a->type)->is_quantized || ax[0] == 0, "permute", a, NULL,
                   "quantized rows cannot be permuted"))
        return NULL;
    int64_t ne[4];
    for (int i = 0; i < 4; i++) ne[i] = a->ne[ax[i]];
    et_tensor *t = et__view_node(ctx, a, ne);
    if (!t) return NULL;
    for (int i = 0; i < 4; i++) t->nb[i] = a->nb[ax[i]];
    t->params[0] = ET__VIEW_PERMUTE;
    for (int i = 0; i < 4; i++) t->params[1 + i] = ax[i];
    et_set_name(t, "%s (permuted)", a->name);
    return t;
}

et_tensor *et_transpose(et_ctx *ctx, et_tensor *a) { return et_permute(ctx, a, 1, 0, 2, 3); }

et_tensor *et_view(et_ctx *ctx, et_tensor *a, int n_dims, const int64_t *ne, const size_t *nb,
                   size_t offset) {
    if (!a) return NULL;
    if (n_dims < 1 || n_dims > ET_MAX_DIMS)
        return et_ctx_fail(ctx, "view '%s': %d dims (1..4)", a->name, n_dims);
    int64_t full[4] = {1, 1, 1, 1};
    for (int i = 0; i < n_dims; i++) full[i] = ne[i];
    et_tensor *t = et__view_node(ctx, a, full);
    if (!t) return NULL;
    t->nb[0] = et_type_get(a->type)->type_size;
    for (int i = 1; i < n_dims; i++) t->nb[i] = nb[i];
    for (int i = n_dims; i < 4; i++) t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
    t->view_offs = offset;
    t->params[0] = ET__VIEW_WINDOW;
    /* the window must lie inside the source's bytes */
    size_t span = offset + et_nbytes(t);
    if (!et__check(ctx, span <= et_nbytes(a), "view", a, t, "window reaches past the source"))
        return NULL;
    et_set_name(t, "%s (view)", a->name);
    return t;
}

void et__fwd_view(et_tensor *t, et_exec *ex) { (void)t; (void)ex; }

bool et__bwd_view(et_ctx *ctx, et_tensor *t) {
    et_tensor *a = t->src[0];
    if (!et__needs_grad(a)) return true;
    et_tensor *dy = t->grad;
    switch (t->params[0]) {
    case ET__VIEW_RESHAPE:
        if (!et_is_contiguous(dy)) dy = et_cont(ctx, dy);
        et__acc_grad(ctx, a, et_reshape(ctx, dy, ET_MAX_DIMS, a->ne));
        return true;
    case ET__VIEW_PERMUTE: {
        int inv[4];
        for (int i = 0; i < 4; i++) inv[t->params[1 + i]] = i;
        et__acc_grad(ctx, a, et_cont(ctx, et_permute(ctx, dy, inv[0], inv[1], inv[2], inv[3])));
        return true;
    }
    default:
        et__acc_grad(ctx, a, et_view_back(ctx, dy, t));
        return true;
    }
}

/* ---- CONT ---- */
et_tensor *et_cont(et_ctx *ctx, et_tensor *a) {
    if (!a) return NULL;
    if (!et__check(ctx, a->type == ET_F32 || a->type == ET_I32, "cont", a, NULL,
                   "only f32/i32 tensors can be copied densely"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_CONT, a->type, ET_MAX_DIMS, a->ne);
    if (!t) return NULL;
    t->src[0] = a;
    et_set_name(t, "%s (cont)", a->name);
    return t;
}

void et__fwd_cont(et_tensor *t, et_exec *ex) {
    const et_tensor *a = t->src[0];
    int64_t n1 = t->ne[1], n2 = t->ne[2], n3 = t->ne[3], n0 = t->ne[0];
    #pragma omp parallel for collapse(2) schedule(static)
    for (int64_t i3 = 0; i3 < n3; i3++)
        for (int64_t i2 = 0; i2 < n2; i2++)
            for (int64_t i1 = 0; i1 < n1; i1++) {
                const char *s = (const char *)a->data + i1 * a->nb[1] + i2 * a->nb[2] + i3 * a->nb[3];
                float *d = (float *)((char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
                if (a->nb[0] == 4) memcpy(d, s, (size_t)n0 * 4);
                else for (int64_t i0 = 0; i0 < n0; i0++) memcpy(d + i0, s + i0 * a->nb[0], 4);
            }
}

bool et__bwd_cont(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], t->grad);
    return true;
}

/* ---- VIEW_BACK: dy scattered into zeros shaped like the view's source ---- */
et_tensor *et_view_back(et_ctx *ctx, et_tensor *dy, et_tensor *view) {
    if (!dy || !view) return NULL;
    et_tensor *src = view->view_src;
    if (!et__check(ctx, src && et_is_contiguous(src) && src->type == ET_F32, "view_back", view,
                   src, "needs an f32 view of a contiguous tensor"))
        return NULL;
    if (!et__check(ctx, et_same_shape(dy, view), "view_back", dy, view, "dy must match the view"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_VIEW_BACK, ET_F32, ET_MAX_DIMS, src->ne);
    if (!t) return NULL;
    t->src[0] = dy;
    /* the view's geometry is copied into params, so the forward tensor is not kept alive */
    for (int i = 0; i < 4; i++) {
        t->params[2 * i] = (int32_t)(uint32_t)(view->nb[i] & 0xffffffffu);
        t->params[2 * i + 1] = (int32_t)(uint32_t)(view->nb[i] >> 32);
    }
    t->params[8] = (int32_t)(uint32_t)(view->view_offs & 0xffffffffu);
    t->params[9] = (int32_t)(uint32_t)(view->view_offs >> 32);
    return t;
}

static size_t et__param_u64(const et_tensor *t, int i) {
    return (size_t)(uint32_t)t->params[i] | ((size_t)(uint32_t)t->params[i + 1] << 32);
}

void et__fwd_view_back(et_tensor *t, et_exec *ex) {
    const et_tensor *dy = t->src[0];
    size_t vnb[4];
    for (int i = 0; i < 4; i++) vnb[i] = et__param_u64(t, 2 * i);
    memset(t->data, 0, et_nbytes(t));
    /* the view's byte offsets, relative to its (contiguous) source, address t's bytes too */
    char *base = (char *)t->data + et__param_u64(t, 8);
    for (int64_t i3 = 0; i3 < dy->ne[3]; i3++)
        for (int64_t i2 = 0; i2 < dy->ne[2]; i2++)
            for (int64_t i1 = 0; i1 < dy->ne[1]; i1++)
                for (int64_t i0 = 0; i0 < dy->ne[0]; i0++) {
                    float *d = (float *)(base + i0 * vnb[0] + i1 * vnb[1] + i2 * vnb[2] + i3 * vnb[3]);
                    *d += *(const float *)((const char *)dy->data + i0 * dy->nb[0] + i1 * dy->nb[1] +
                                           i2 * dy->nb[2] + i3 * dy->nb[3]);
                }
}

/* NONE: a leaf computes nothing (the executor skips leaves and views). */
void et__fwd_none(et_tensor *t, et_exec *ex) { (void)t; (void)ex; }

/* ---- costs (see cost.h): CONT is a copy; VIEW_BACK adds dy into a zeroed result written
 * whole (one add per dy element) ---- */
void et__cost_cont(const et_tensor *t, double *flops, double *bytes) {
    *flops = 0;
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
void et__cost_view_back(const et_tensor *t, double *flops, double *bytes) {
    *flops = et__cost_n(t->src[0]);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
