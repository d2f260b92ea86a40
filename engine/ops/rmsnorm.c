/* RMSNORM over ne[0] (no weight: the model multiplies by its gain with MUL, so the gain's
 * gradient comes from MUL's rule) and RMSNORM_BACK.  With r = 1/sqrt(mean(x²) + eps) and
 * y = x·r:   dx = r · (dy − y · mean(dy·y)).  Sums in double: rows can be 10^4 long. */
#include <math.h>
#include "cost.h"
#include "ops.h"

static et_tensor *et__rmsnorm_node(et_ctx *ctx, et_op op, const char *name, et_tensor *x,
                                   et_tensor *dy, float eps) {
    if (!x) return NULL;
    if (!et__check_f32(ctx, name, x) || !et__check(ctx, x->nb[0] == 4, name, x, NULL, "rows must be dense"))
        return NULL;
    if (!et__check(ctx, eps >= 0 && isfinite(eps), name, x, NULL, "eps must be finite and >= 0")) return NULL;
    if (dy && !et__check(ctx, et_same_shape(x, dy) && dy->nb[0] == 4 && dy->type == ET_F32, name, x, dy,
                         "dy must match x"))
        return NULL;
    et_tensor *t = et__new_node(ctx, op, ET_F32, ET_MAX_DIMS, x->ne);
    if (!t) return NULL;
    t->src[0] = x;
    t->src[1] = dy;
    et_param_set_f32(t, 0, eps);
    return t;
}

et_tensor *et_rmsnorm(et_ctx *ctx, et_tensor *x, float eps) {
    return et__rmsnorm_node(ctx, ET_OP_RMSNORM, "rmsnorm", x, NULL, eps);
}
et_tensor *et_rmsnorm_back(et_ctx *ctx, et_tensor *x, et_tensor *dy, float eps) {
    if (!dy) return NULL;
    return et__rmsnorm_node(ctx, ET_OP_RMSNORM_BACK, "rmsnorm_back", x, dy, eps);
}

void et__fwd_rmsnorm(et_tensor *t, et_exec *ex) {
    const et_tensor *x = t->src[0];
    float eps = et_param_f32(t, 0);
    int64_t n = t->ne[0], nrows = et_nrows(t);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nrows; r++) {
        const float *xr = et__row(x, r);
        float *y = (float *)t->data + r * n;
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)xr[i] * xr[i];
        float rs = (float)(1.0 / sqrt(ss / (double)n + eps));
        for (int64_t i = 0; i < n; i++) y[i] = xr[i] * rs;
    }
}

bool et__bwd_rmsnorm(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_rmsnorm_back(ctx, t->src[0], t->grad, et_param_f32(t, 0)));
    return true;
}

void et__fwd_rmsnorm_back(et_tensor *t, et_exec *ex) {
    const et_tensor *x = t->src[0], *dy = t->src[1];
    float eps = et_param_f32(t, 0);
    int64_t n = t->ne[0], nrows = et_nrows(t);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nrows; r++) {
        const float *xr = et__row(x, r), *g = et__row(dy, r);
        float *dx = (float *)t->data + r * n;
        double ss = 0, dot = 0;
        for (int64_t i = 0; i < n; i++) { ss += (double)xr[i] * xr[i]; dot += (double)g[i] * xr[i]; }
        double rs = 1.0 / sqrt(ss / (double)n + eps);
        /* mean(dy·y) = rs · mean(dy·x) */
        double c = rs * rs * dot / (double)n;
        for (int64_t i = 0; i < n; i++) dx[i] = (float)(rs * (g[i] - xr[i] * c));
    }
}

/* ---- costs (see cost.h), per element: RMSNORM x² summed (2) and the scaling (1) = 3;
 * RMSNORM_BACK Σx² and Σdy·x (4) and rs·(dy − x·c) (3) = 7.  The per-row sqrt and divide
 * are not counted (one per ne[0] elements). ---- */
void et__cost_rmsnorm(const et_tensor *t, double *flops, double *bytes) {
    *flops = 3.0 * et__cost_n(t);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
void et__cost_rmsnorm_back(const et_tensor *t, double *flops, double *bytes) {
    *flops = 7.0 * et__cost_n(t);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t);
}
