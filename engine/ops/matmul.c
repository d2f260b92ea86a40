/* Linear layers: MATMUL y = x·Wᵀ for any weight type, and its two gradients, MATMUL_DX
 * dx = dy·W (also through frozen quantized weights: the kernel never materializes W in
 * f32) and MATMUL_DW dW = dyᵀ·x (f32 weights only: quantized bases are never trained).
 * Shapes: W [K, N] (N rows of K), x [K, T, ...], y [N, T, ...].
 * Every product runs on the engine's own kernels (kernels/), never on OpenBLAS: OpenBLAS
 * 0.3.21's threaded level-3 driver mallocs a 512 KiB job array on every call
 * (sgemm_thread_tn → malloc(524288), seen by tests/test_noalloc.c), and a training step must
 * not allocate.  OpenBLAS stays the in-run reference of the benchmarks. */
#include "kernels.h"
#include "cost.h"
#include "ops.h"

static bool et__check_weight(et_ctx *ctx, const char *op, et_tensor *w, et_tensor *x) {
    if (!et__check(ctx, w->ne[2] == 1 && w->ne[3] == 1, op, w, x, "the weight must be 2-D")) return false;
    if (!et__check(ctx, w->nb[0] == et_type_get(w->type)->type_size, op, w, x, "weight rows must be dense"))
        return false;
    if (!et__check(ctx, w->type != ET_NF4 || !w->view_src, op, w, x,
                   "an NF4 weight must be the whole tensor (its scales follow the last row)"))
        return false;
    if (!et__check(ctx, w->type != ET_I32, op, w, x, "an i32 tensor is not a weight")) return false;
    return true;
}

et_tensor *et_matmul(et_ctx *ctx, et_tensor *w, et_tensor *x) {
    if (!w || !x) return NULL;
    if (!et__check_weight(ctx, "matmul", w, x) || !et__check_f32(ctx, "matmul", x)) return NULL;
    if (!et__check(ctx, x->ne[0] == w->ne[0], "matmul", x, w, "x.ne[0] must equal W.ne[0]")) return NULL;
    if (!et__check(ctx, et_rows_contiguous(x), "matmul", x, NULL, "x rows must be dense and uniformly strided"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_MATMUL, ET_F32, ET_MAX_DIMS,
                                (int64_t[]){w->ne[1], x->ne[1], x->ne[2], x->ne[3]});
    if (!t) return NULL;
    t->src[0] = w;
    t->src[1] = x;
    return t;
}

size_t et__work_matmul(const et_tensor *t, int nthreads) {
    const et_tensor *w = t->src[0], *x = t->src[1];
    return et_kern_matmul_work(w->type, et_nrows(x), w->ne[0], w->ne[1]);
}

void et__fwd_matmul(et_tensor *t, et_exec *ex) {
    const et_tensor *w = t->src[0], *x = t->src[1];
    et_kern_matmul(w->type, w->data, w->nb[1], x->data, x->nb[1] / 4, t->data, (size_t)t->ne[0],
                   et_nrows(x), w->ne[0], w->ne[1], false, ex->work);
}

bool et__bwd_matmul(et_ctx *ctx, et_tensor *t) {
    et_tensor *w = t->src[0], *x = t->src[1], *dy = t->grad;
    if (et__needs_grad(x)) et__acc_grad(ctx, x, et_matmul_dx(ctx, w, dy));
    if (et__needs_grad(w)) et__acc_grad(ctx, w, et_matmul_dw(ctx, dy, x));
    return true;
}

/* ---- dx = dy·W ---- */
et_tensor *et_matmul_dx(et_ctx *ctx, et_tensor *w, et_tensor *dy) {
    if (!w || !dy) return NULL;
    if (!et__check_weight(ctx, "matmul_dx", w, dy) || !et__check_f32(ctx, "matmul_dx", dy)) return NULL;
    if (!et__check(ctx, dy->ne[0] == w->ne[1], "matmul_dx", dy, w, "dy.ne[0] must equal W.ne[1]")) return NULL;
    if (!et__check(ctx, et_rows_contiguous(dy), "matmul_dx", dy, NULL, "dy rows must be dense")) return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_MATMUL_DX, ET_F32, ET_MAX_DIMS,
                                (int64_t[]){w->ne[0], dy->ne[1], dy->ne[2], dy->ne[3]});
    if (!t) return NULL;
    t->src[0] = w;
    t->src[1] = dy;
    return t;
}

size_t et__work_matmul_dx(const et_tensor *t, int nthreads) {
    const et_tensor *w = t->src[0], *dy = t->src[1];
    return et_kern_matmul_dx_work(w->type, et_nrows(dy), w->ne[0], w->ne[1]);
}

void et__fwd_matmul_dx(et_tensor *t, et_exec *ex) {
    const et_tensor *w = t->src[0], *dy = t->src[1];
    et_kern_matmul_dx(w->type, w->data, w->nb[1], dy->data, dy->nb[1] / 4, t->data,
                      (size_t)t->ne[0], et_nrows(dy), w->ne[0], w->ne[1], false, ex->work);
}

/* ---- dW = dyᵀ·x ---- */
et_tensor *et_matmul_dw(et_ctx *ctx, et_tensor *dy, et_tensor *x) {
    if (!dy || !x) return NULL;
    if (!et__check_f32(ctx, "matmul_dw", dy) || !et__check_f32(ctx, "matmul_dw", x)) return NULL;
    if (!et__check(ctx, et_nrows(dy) == et_nrows(x), "matmul_dw", dy, x, "token counts differ")) return NULL;
    if (!et__check(ctx, et_rows_contiguous(dy) && et_rows_contiguous(x), "matmul_dw", dy, x,
                   "rows must be dense"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_MATMUL_DW, ET_F32, 2, (int64_t[]){x->ne[0], dy->ne[0]});
    if (!t) return NULL;
    t->src[0] = dy;
    t->src[1] = x;
    return t;
}

void et__fwd_matmul_dw(et_tensor *t, et_exec *ex) {
    const et_tensor *dy = t->src[0], *x = t->src[1];
    /* dW[n,k] = sum_t dy[t,n] x[t,k]:  (N×T)·(T×K) */
    et_sgemm_own(true, false, dy->ne[0], x->ne[0], et_nrows(x), 1.0f, dy->data,
             (int64_t)(dy->nb[1] / 4), x->data, (int64_t)(x->nb[1] / 4), 0.0f, t->data, t->ne[0]);
}

/* ---- costs (see cost.h): a multiply-add per (token, out, in) triple; the weight counted at
 * its storage type, so a quantized weight's matmul has a higher FLOPs/byte ---- */
void et__cost_matmul(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *w = t->src[0], *x = t->src[1];
    *flops = 2.0 * (double)w->ne[0] * (double)w->ne[1] * (double)et_nrows(x);
    *bytes = et__cost_nbytes(w) + et__cost_nbytes(x) + et__cost_nbytes(t);
}

void et__cost_matmul_dx(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *w = t->src[0], *dy = t->src[1];
    *flops = 2.0 * (double)w->ne[0] * (double)w->ne[1] * (double)et_nrows(dy);
    *bytes = et__cost_nbytes(w) + et__cost_nbytes(dy) + et__cost_nbytes(t);
}

void et__cost_matmul_dw(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *dy = t->src[0], *x = t->src[1];
    *flops = 2.0 * (double)dy->ne[0] * (double)x->ne[0] * (double)et_nrows(x);
    *bytes = et__cost_nbytes(dy) + et__cost_nbytes(x) + et__cost_nbytes(t);
}
