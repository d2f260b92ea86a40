/* ADD and MUL with broadcasting of src1 over src0 (each src1 dimension is 1 or equal), and
 * SCALE.  Rows must be dense (nb[0] = 4); higher strides are free, so they read views
 * directly.  Backward reduces the broadcast dimensions with REPEAT_BACK. */
#include "cost.h"
#include "ops.h"

static et_tensor *et__binary(et_ctx *ctx, et_op op, const char *name, et_tensor *a, et_tensor *b) {
    if (!a || !b) return NULL;
    if (!et__check_f32(ctx, name, a) || !et__check_f32(ctx, name, b)) return NULL;
    if (!et__check(ctx, et__can_broadcast(a, b), name, a, b,
                   "each dimension of the second must be 1 or equal to the first's"))
        return NULL;
    if (!et__check(ctx, a->nb[0] == 4 && b->nb[0] == 4, name, a, b, "rows must be dense"))
        return NULL;
    et_tensor *t = et__new_node(ctx, op, ET_F32, ET_MAX_DIMS, a->ne);
    if (!t) return NULL;
    t->src[0] = a;
    t->src[1] = b;
    return t;
}

et_tensor *et_add(et_ctx *ctx, et_tensor *a, et_tensor *b) { return et__binary(ctx, ET_OP_ADD, "add", a, b); }
et_tensor *et_mul(et_ctx *ctx, et_tensor *a, et_tensor *b) { return et__binary(ctx, ET_OP_MUL, "mul", a, b); }

static void et__binary_fwd(et_tensor *t, bool mul) {
    const et_tensor *a = t->src[0], *b = t->src[1];
    int64_t n0 = t->ne[0], nrows = et_nrows(t);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nrows; r++) {
        int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
        const float *x = (const float *)((const char *)a->data + i1 * a->nb[1] + i2 * a->nb[2] + i3 * a->nb[3]);
        const float *y = (const float *)((const char *)b->data + (i1 % b->ne[1]) * b->nb[1] +
                                         (i2 % b->ne[2]) * b->nb[2] + (i3 % b->ne[3]) * b->nb[3]);
        float *z = (float *)((char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
        if (b->ne[0] == 1) {
            float y0 = y[0];
            if (mul) for (int64_t i = 0; i < n0; i++) z[i] = x[i] * y0;
            else     for (int64_t i = 0; i < n0; i++) z[i] = x[i] + y0;
        } else if (mul) {
            for (int64_t i = 0; i < n0; i++) z[i] = x[i] * y[i];
        } else {
            for (int64_t i = 0; i < n0; i++) z[i] = x[i] + y[i];
        }
    }
}

void et__fwd_add(et_tensor *t, et_exec *ex) { et__binary_fwd(t, false); }
void et__fwd_mul(et_tensor *t, et_exec *ex) { et__binary_fwd(t, true); }

/* d(a+b): da = dy, db = dy summed over b's broadcast dims. */
bool et__bwd_add(et_ctx *ctx, et_tensor *t) {
    et_tensor *a = t->src[0], *b = t->src[1], *dy = t->grad;
    if (et__needs_grad(a)) et__acc_grad(ctx, a, dy);
    if (et__needs_grad(b)) et__acc_grad(ctx, b, et_same_shape(a, b) ? dy : et_repeat_back(ctx, dy, b));
    return true;
}

/* d(a*b): da = dy*b, db = sum over broadcast dims of dy*a. */
bool et__bwd_mul(et_ctx *ctx, et_tensor *t) {
    et_tensor *a = t->src[0], *b = t->src[1], *dy = t->grad;
    if (et__needs_grad(a)) et__acc_grad(ctx, a, et_mul(ctx, dy, b));
    if (et__needs_grad(b)) {
        et_tensor *g = et_mul(ctx, dy, a);
        et__acc_grad(ctx, b, et_same_shape(a, b) ? g : et_repeat_back(ctx, g, b));
    }
    return true;
}

/* ---- SCALE ---- */
et_tensor *et_scale(et_ctx *ctx, et_tensor *a, float s) {
    if (!a) return NULL;
    if (!et__check_f32(ctx, "scale", a)) return NULL;
    if (!et__check(ctx, a->nb[0] == 4, "scale", a, NULL, "rows must be dense")) return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_SCALE, ET_F32, ET_MAX_DIMS, a->ne);
    if (!t) return NULL;
    t->src[0] = a;
    et_param_set_f32(t, 0, s);
    return t;
}

void et__fwd_scale(et_tensor *t, et_exec *ex) {
    const et_tensor *a = t->src[0];
    float s = et_param_f32(t, 0);
    int64_t n0 = t->ne[0], nrows = et_nrows(t);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = et__row(a, r);
        float *z = (float *)t->data + r * n0;
        for (int64_t i = 0; i < n0; i++) z[i] = x[i] * s;
    }
}

bool et__bwd_scale(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_scale(ctx, t->grad, et_param_f32(t, 0)));
    return true;
}

/* ---- costs (see cost.h): one add or multiply per result element ---- */
void et__cost_add(const et_tensor *t, double *flops, double *bytes) {
    *flops = et__cost_n(t);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t);
}
void et__cost_mul(const et_tensor *t, double *flops, double *bytes) { et__cost_add(t, flops, bytes); }
void et__cost_scale(const et_tensor *t, double *flops, double *bytes) {
    *flops = et__cost_n(t);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t);
}
