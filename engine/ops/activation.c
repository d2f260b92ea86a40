/* Activations: SILU, GELU (tanh approximation, as GPT-2/Gemma use it), their derivatives
 * SILU_BACK / GELU_BACK (x, dy), and the gated units SWIGLU = silu(g)·u and GEGLU =
 * gelu(g)·u whose backward is composed from those (no second output needed). */
#include <math.h>
#include "cost.h"
#include "kernels.h"
#include "ops.h"

static et_tensor *et__unary(et_ctx *ctx, et_op op, const char *name, et_tensor *x, et_tensor *y) {
    if (!x) return NULL;
    if (!et__check_f32(ctx, name, x) || !et__check(ctx, x->nb[0] == 4, name, x, NULL, "rows must be dense"))
        return NULL;
    if (y && !et__check(ctx, et_same_shape(x, y) && y->type == ET_F32 && y->nb[0] == 4, name, x, y,
                        "shapes must match"))
        return NULL;
    et_tensor *t = et__new_node(ctx, op, ET_F32, ET_MAX_DIMS, x->ne);
    if (!t) return NULL;
    t->src[0] = x;
    t->src[1] = y;
    return t;
}

et_tensor *et_silu(et_ctx *ctx, et_tensor *a) { return et__unary(ctx, ET_OP_SILU, "silu", a, NULL); }
et_tensor *et_gelu(et_ctx *ctx, et_tensor *a) { return et__unary(ctx, ET_OP_GELU, "gelu", a, NULL); }
et_tensor *et_silu_back(et_ctx *ctx, et_tensor *x, et_tensor *dy) {
    return dy ? et__unary(ctx, ET_OP_SILU_BACK, "silu_back", x, dy) : NULL;
}
et_tensor *et_gelu_back(et_ctx *ctx, et_tensor *x, et_tensor *dy) {
    return dy ? et__unary(ctx, ET_OP_GELU_BACK, "gelu_back", x, dy) : NULL;
}
et_tensor *et_swiglu(et_ctx *ctx, et_tensor *g, et_tensor *u) {
    return u ? et__unary(ctx, ET_OP_SWIGLU, "swiglu", g, u) : NULL;
}
et_tensor *et_geglu(et_ctx *ctx, et_tensor *g, et_tensor *u) {
    return u ? et__unary(ctx, ET_OP_GEGLU, "geglu", g, u) : NULL;
}

#define ET__GELU_C 0.7978845608028654f   /* sqrt(2/pi) */
#define ET__GELU_A 0.044715f

static inline float et__gelu(float x) {
    return 0.5f * x * (1.0f + tanhf(ET__GELU_C * (x + ET__GELU_A * x * x * x)));
}
static inline float et__dgelu(float x) {
    float u = ET__GELU_C * (x + ET__GELU_A * x * x * x), th = tanhf(u);
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * ET__GELU_C * (1.0f + 3.0f * ET__GELU_A * x * x);
}

/* One loop for all six: kind selects the formula. */
enum { ET__SILU, ET__GELU, ET__DSILU, ET__DGELU, ET__SWIGLU, ET__GEGLU };

static void et__act_fwd(et_tensor *t, int kind) {
    const et_tensor *a = t->src[0], *b = t->src[1];
    int64_t n = t->ne[0], nrows = et_nrows(t);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < nrows; r++) {
        const float *x = et__row(a, r), *y = b ? et__row(b, r) : NULL;
        float *z = (float *)t->data + r * n;
        switch (kind) {
        case ET__SILU:   et_kern_row_silu(ET_KERN_SILU, x, NULL, z, n); break;
        case ET__GELU:   for (int64_t i = 0; i < n; i++) z[i] = et__gelu(x[i]); break;
        case ET__DSILU:  et_kern_row_silu(ET_KERN_DSILU, x, y, z, n); break;
        case ET__DGELU:  for (int64_t i = 0; i < n; i++) z[i] = y[i] * et__dgelu(x[i]); break;
        case ET__SWIGLU: et_kern_row_silu(ET_KERN_SWIGLU, x, y, z, n); break;
        case ET__GEGLU:  for (int64_t i = 0; i < n; i++) z[i] = et__gelu(x[i]) * y[i]; break;
        }
    }
}

void et__fwd_silu(et_tensor *t, et_exec *ex) { et__act_fwd(t, ET__SILU); }
void et__fwd_gelu(et_tensor *t, et_exec *ex) { et__act_fwd(t, ET__GELU); }
void et__fwd_silu_back(et_tensor *t, et_exec *ex) { et__act_fwd(t, ET__DSILU); }
void et__fwd_gelu_back(et_tensor *t, et_exec *ex) { et__act_fwd(t, ET__DGELU); }
void et__fwd_swiglu(et_tensor *t, et_exec *ex) { et__act_fwd(t, ET__SWIGLU); }
void et__fwd_geglu(et_tensor *t, et_exec *ex) { et__act_fwd(t, ET__GEGLU); }

bool et__bwd_silu(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_silu_back(ctx, t->src[0], t->grad));
    return true;
}
bool et__bwd_gelu(et_ctx *ctx, et_tensor *t) {
    et__acc_grad(ctx, t->src[0], et_gelu_back(ctx, t->src[0], t->grad));
    return true;
}

/* d(f(g)·u): dg = f'(g)·(dy·u), du = dy·f(g)  (f(g) is recomputed: cheaper than keeping it) */
static bool et__glu_bwd(et_ctx *ctx, et_tensor *t, bool gelu) {
    et_tensor *g = t->src[0], *u = t->src[1], *dy = t->grad;
    if (et__needs_grad(g)) {
        et_tensor *dyu = et_mul(ctx, dy, u);
        et__acc_grad(ctx, g, gelu ? et_gelu_back(ctx, g, dyu) : et_silu_back(ctx, g, dyu));
    }
    if (et__needs_grad(u)) et__acc_grad(ctx, u, et_mul(ctx, dy, gelu ? et_gelu(ctx, g) : et_silu(ctx, g)));
    return true;
}
bool et__bwd_swiglu(et_ctx *ctx, et_tensor *t) { return et__glu_bwd(ctx, t, false); }
bool et__bwd_geglu(et_ctx *ctx, et_tensor *t) { return et__glu_bwd(ctx, t, true); }

/* ---- costs (see cost.h), per element, exp and tanh counted as 1:
 *   silu x/(1+e^-x): 3          gelu 0.5x(1+tanh(c(x+a·x³))): 9
 *   silu_back y·s(1+x(1−s)): 8  gelu_back (the derivative above, times dy): 17
 *   swiglu silu·u: 4            geglu gelu·u: 10 ---- */
static void et__act_cost(const et_tensor *t, double per, double *flops, double *bytes) {
    *flops = per * et__cost_n(t);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t);
}
void et__cost_silu(const et_tensor *t, double *f, double *b) { et__act_cost(t, 3, f, b); }
void et__cost_gelu(const et_tensor *t, double *f, double *b) { et__act_cost(t, 9, f, b); }
void et__cost_silu_back(const et_tensor *t, double *f, double *b) { et__act_cost(t, 8, f, b); }
void et__cost_gelu_back(const et_tensor *t, double *f, double *b) { et__act_cost(t, 17, f, b); }
void et__cost_swiglu(const et_tensor *t, double *f, double *b) { et__act_cost(t, 4, f, b); }
void et__cost_geglu(const et_tensor *t, double *f, double *b) { et__act_cost(t, 10, f, b); }
