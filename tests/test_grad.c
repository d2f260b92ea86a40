/* Gradient check for every op that has a backward rule (the list comes from the op table:
 * an op with a rule and no case here fails the test).
 *
 * Each case builds y = op(inputs) from PARAM inputs and the loss L = Σ y·R with a fixed
 * random R.  Analytic gradients come from et_graph_backward; numerical ones from central
 * differences (L(x+ε) − L(x−ε)) / 2ε with the forward run by the engine in f32 and L summed
 * and differenced in double.  Tolerance: |num − ana| <= 2e-2·max|ana| + 2e-3 per input,
 * with ε = 1e-2 (f32 forward: rounding noise ~1e-7·Σ|y·R|/ε ≈ 1e-4 here; truncation O(ε²)).
 */
#include "harness.h"
#include "graph.h"
#include "kernels.h"

#define MAXIN 4

typedef struct {
    et_ctx *ctx;
    et_tensor *in[MAXIN];
    int n_in;
    uint64_t seed;
} gcase;

static et_tensor *param(gcase *c, int nd, int64_t n0, int64_t n1, int64_t n2, int64_t n3, float scale) {
    int64_t ne[4] = {n0, n1, n2, n3};
    et_tensor *t = et_new(c->ctx, ET_F32, nd, ne, ET_FLAG_PARAM, "in");
    et_t_fill(t->data, (long)et_nelements(t), c->seed++, scale);
    c->in[c->n_in++] = t;
    return t;
}
static et_tensor *ids(gcase *c, int64_t n, int64_t vocab) {
    et_tensor *t = et_new_1d(c->ctx, ET_I32, n, ET_FLAG_INPUT, "ids");
    for (int64_t i = 0; i < n; i++) ((int32_t *)t->data)[i] = (int32_t)((i * 7 + 3) % vocab);
    return t;
}

/* ---- cases: build y from fresh inputs ---- */
typedef et_tensor *(*build_fn)(gcase *c);

static et_tensor *b_reshape(gcase *c) { return et_reshape_2d(c->ctx, param(c, 2, 6, 4, 1, 1, 1), 8, 3); }
static et_tensor *b_permute(gcase *c) { return et_cont(c->ctx, et_permute(c->ctx, param(c, 3, 3, 4, 2, 1, 1), 2, 0, 1, 3)); }
static et_tensor *b_window(gcase *c) {
    et_tensor *a = param(c, 2, 6, 5, 1, 1, 1);
    return et_cont(c->ctx, et_view(c->ctx, a, 2, (int64_t[]){3, 2}, (size_t[]){4, a->nb[1] * 2}, 4 * 2 + a->nb[1]));
}
static et_tensor *b_cont(gcase *c) { return et_cont(c->ctx, et_transpose(c->ctx, param(c, 2, 5, 3, 1, 1, 1))); }
static et_tensor *b_repeat(gcase *c) {
    et_tensor *a = param(c, 2, 4, 1, 1, 1, 1), *like = et_new(c->ctx, ET_F32, 3, (int64_t[]){4, 3, 2}, 0, "like");
    return et_repeat(c->ctx, a, like);
}
static et_tensor *b_repeat_back(gcase *c) {
    et_tensor *a = param(c, 3, 4, 3, 2, 1, 1), *like = et_new(c->ctx, ET_F32, 3, (int64_t[]){1, 3, 1}, 0, "like");
    return et_repeat_back(c->ctx, a, like);
}
static et_tensor *b_add(gcase *c) { return et_add(c->ctx, param(c, 3, 5, 3, 2, 1, 1), param(c, 3, 5, 1, 2, 1, 1)); }
static et_tensor *b_mul(gcase *c) { return et_mul(c->ctx, param(c, 2, 5, 3, 1, 1, 1), param(c, 1, 5, 1, 1, 1, 1)); }
static et_tensor *b_scale(gcase *c) { return et_scale(c->ctx, param(c, 2, 5, 3, 1, 1, 1), -1.7f); }
static et_tensor *b_sum(gcase *c) { return et_sum(c->ctx, param(c, 2, 5, 3, 1, 1, 1)); }
static et_tensor *b_matmul(gcase *c) { return et_matmul(c->ctx, param(c, 2, 8, 6, 1, 1, 1), param(c, 3, 8, 3, 2, 1, 1)); }
/* Through a frozen quantized weight: only x gets a gradient (dx = dy·W, no f32 copy of W).
 * SIMD paths quantize activations to 8 bits on the fly, which makes the forward piecewise
 * constant in x (finite differences then see quantization steps, not the derivative), so
 * these cases run on the reference path; tests/test_kernels*.c check SIMD against it. */
static et_tensor *b_matmul_q(gcase *c, et_type type) {
    float w[64 * 5];
    et_t_fill(w, 64 * 5, 99, 1.0f);
    et_tensor *W = et_new(c->ctx, type, 2, (int64_t[]){64, 5}, ET_FLAG_FROZEN, "Wq");
    et_type_get(type)->from_f32(w, W->data, 64 * 5);
    return et_matmul(c->ctx, W, param(c, 2, 64, 3, 1, 1, 1));
}
static et_tensor *b_matmul_q8(gcase *c) { return b_matmul_q(c, ET_Q8_0); }
static et_tensor *b_matmul_q4(gcase *c) { return b_matmul_q(c, ET_Q4_0); }
static et_tensor *b_get_rows(gcase *c) {
    et_tensor *tab = param(c, 2, 6, 7, 1, 1, 1);
    return et_get_rows(c->ctx, tab, ids(c, 9, 7));   /* repeated ids: the scatter must add */
}
static et_tensor *b_concat(gcase *c) { return et_concat(c->ctx, param(c, 3, 4, 2, 2, 1, 1), param(c, 3, 4, 3, 2, 1, 1)); }
static et_tensor *b_rmsnorm(gcase *c) { return et_rmsnorm(c->ctx, param(c, 2, 16, 3, 1, 1, 1), 1e-5f); }
static et_tensor *pos_of(gcase *c, int64_t T, int off) {
    et_tensor *p = et_new_1d(c->ctx, ET_I32, T, ET_FLAG_INPUT, "pos");
    for (int64_t t = 0; t < T; t++) ((int32_t *)p->data)[t] = (int32_t)(t + off);
    return p;
}
static et_tensor *b_rope(gcase *c) {
    return et_rope(c->ctx, param(c, 4, 8, 3, 5, 2, 1), pos_of(c, 5, 3), 8, ET_ROPE_NORM, 10000.0f);
}
static et_tensor *b_rope_neox(gcase *c) {
    return et_rope(c->ctx, param(c, 4, 8, 3, 5, 1, 1), pos_of(c, 5, 1), 6, ET_ROPE_NEOX, 500.0f);
}
static et_tensor *b_attn(gcase *c) {   /* GQA 4 query heads on 2 kv heads, batch 2 */
    et_tensor *q = param(c, 4, 8, 4, 5, 2, 1), *k = param(c, 4, 8, 2, 5, 2, 1), *v = param(c, 4, 8, 2, 5, 2, 1);
    return et_attention(c->ctx, q, k, v, 0.35f, 0, 0);
}
static et_tensor *b_attn_past_window(gcase *c) {   /* 3 new queries over 7 keys, window 4 */
    et_tensor *q = param(c, 4, 8, 2, 3, 1, 1), *k = param(c, 4, 8, 1, 7, 1, 1), *v = param(c, 4, 8, 1, 7, 1, 1);
    return et_attention(c->ctx, q, k, v, 0.5f, 4, 4);
}
/* The backward's two schemes (engine/ops/attention.c): per (batch, kv head) task where there
 * are two tasks per thread (these run on 2 threads), else the two-pass split. */
static et_tensor *b_attn_heads(gcase *c) {   /* 4 tasks: per head; 2 query tiles per head */
    et_tensor *q = param(c, 4, 8, 2, 37, 2, 1), *k = param(c, 4, 8, 2, 37, 2, 1), *v = param(c, 4, 8, 2, 37, 2, 1);
    return et_attention(c->ctx, q, k, v, 0.3f, 0, 0);
}
static et_tensor *b_attn_heads_window(gcase *c) {   /* 4 tasks, GQA, n_past and a window */
    et_tensor *q = param(c, 4, 8, 4, 3, 4, 1), *k = param(c, 4, 8, 1, 7, 4, 1), *v = param(c, 4, 8, 1, 7, 4, 1);
    return et_attention(c->ctx, q, k, v, 0.5f, 4, 4);
}
static et_tensor *b_attn_split(gcase *c) {   /* 1 task: two passes; 2 query and key tiles */
    et_tensor *q = param(c, 4, 8, 1, 70, 1, 1), *k = param(c, 4, 8, 1, 70, 1, 1), *v = param(c, 4, 8, 1, 70, 1, 1);
    return et_attention(c->ctx, q, k, v, 0.3f, 0, 0);
}
static et_tensor *b_silu(gcase *c) { return et_silu(c->ctx, param(c, 2, 7, 3, 1, 1, 2)); }
static et_tensor *b_gelu(gcase *c) { return et_gelu(c->ctx, param(c, 2, 7, 3, 1, 1, 2)); }
static et_tensor *b_swiglu(gcase *c) { return et_swiglu(c->ctx, param(c, 2, 7, 3, 1, 1, 2), param(c, 2, 7, 3, 1, 1, 1)); }
static et_tensor *b_geglu(gcase *c) { return et_geglu(c->ctx, param(c, 2, 7, 3, 1, 1, 2), param(c, 2, 7, 3, 1, 1, 1)); }
static et_tensor *b_ce(gcase *c) {   /* dh and dW; one padding target (-1) */
    et_tensor *h = param(c, 2, 6, 4, 1, 1, 1), *w = param(c, 2, 6, 11, 1, 1, 1);
    et_tensor *tg = et_new_1d(c->ctx, ET_I32, 4, ET_FLAG_INPUT, "targets");
    int32_t t4[4] = {3, 10, -1, 0};
    memcpy(tg->data, t4, sizeof t4);
    return et_cross_entropy(c->ctx, h, w, tg);
}

static et_tensor *b_ce_none(gcase *c) {   /* per-position NLL, as scoring uses it */
    et_tensor *h = param(c, 2, 6, 3, 1, 1, 1), *w = param(c, 2, 6, 9, 1, 1, 1);
    et_tensor *tg = et_new_1d(c->ctx, ET_I32, 3, ET_FLAG_INPUT, "targets");
    int32_t t3[3] = {8, -1, 2};
    memcpy(tg->data, t3, sizeof t3);
    return et_cross_entropy_none(c->ctx, h, w, tg);
}
static et_tensor *b_dropout(gcase *c) {
    et_tensor *seed = et_new_1d(c->ctx, ET_I32, 1, ET_FLAG_INPUT, "seed");
    *(int32_t *)seed->data = 12345;
    return et_dropout(c->ctx, param(c, 2, 16, 4, 1, 1, 1), seed, 0.3f, 2);
}

typedef struct { et_op op; const char *name; build_fn build; } gdef;
static const gdef cases[] = {
    {ET_OP_VIEW, "view/reshape", b_reshape},      {ET_OP_VIEW, "view/permute", b_permute},
    {ET_OP_VIEW, "view/window", b_window},        {ET_OP_CONT, "cont", b_cont},
    {ET_OP_REPEAT, "repeat", b_repeat},           {ET_OP_REPEAT_BACK, "repeat_back", b_repeat_back},
    {ET_OP_ADD, "add/broadcast", b_add},          {ET_OP_MUL, "mul/broadcast", b_mul},
    {ET_OP_SCALE, "scale", b_scale},              {ET_OP_SUM, "sum", b_sum},
    {ET_OP_MATMUL, "matmul/f32", b_matmul},       {ET_OP_MATMUL, "matmul/q8_0 frozen", b_matmul_q8},
    {ET_OP_MATMUL, "matmul/q4_0 frozen", b_matmul_q4},
    {ET_OP_GET_ROWS, "get_rows", b_get_rows},     {ET_OP_CONCAT, "concat", b_concat},
    {ET_OP_RMSNORM, "rmsnorm", b_rmsnorm},        {ET_OP_ROPE, "rope/llama", b_rope},
    {ET_OP_ROPE, "rope/neox partial", b_rope_neox}, {ET_OP_ATTN, "attention/gqa", b_attn},
    {ET_OP_ATTN, "attention/past+window", b_attn_past_window},
    {ET_OP_ATTN, "attention/per-head tiles", b_attn_heads},
    {ET_OP_ATTN, "attention/per-head gqa+window", b_attn_heads_window},
    {ET_OP_ATTN, "attention/two-pass tiles", b_attn_split},
    {ET_OP_SILU, "silu", b_silu},                 {ET_OP_GELU, "gelu", b_gelu},
    {ET_OP_SWIGLU, "swiglu", b_swiglu},           {ET_OP_GEGLU, "geglu", b_geglu},
    {ET_OP_CROSS_ENTROPY, "cross_entropy", b_ce},
    {ET_OP_CROSS_ENTROPY, "cross_entropy/per-position", b_ce_none},
    {ET_OP_DROPOUT, "dropout", b_dropout},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

static double loss_of(const et_tensor *y, const float *R) {
    double L = 0;
    int64_t n = et_nelements(y);
    for (int64_t i = 0; i < n; i++) {
        int64_t i0 = i % y->ne[0], i1 = (i / y->ne[0]) % y->ne[1];
        int64_t i2 = (i / (y->ne[0] * y->ne[1])) % y->ne[2], i3 = i / (y->ne[0] * y->ne[1] * y->ne[2]);
        L += (double)et_get_f32(y, i0, i1, i2, i3) * R[i];
    }
    return L;
}

static void check_case(const gdef *d) {
    gcase c = { .ctx = et_ctx_new(4096), .seed = 1234 };
    et_tensor *y = d->build(&c);
    CHECK(y != NULL, "%s: build failed: %s", d->name, et_ctx_error(c.ctx));
    if (!y) { et_ctx_free(c.ctx); return; }
    y->flags |= ET_FLAG_OUTPUT;   /* read after each forward of the numerical pass */
    et_tensor *R = et_new(c.ctx, ET_F32, 4, y->ne, 0, "R");
    et_t_fill(R->data, (long)et_nelements(R), 77, 1.0f);
    et_tensor *loss = et_sum(c.ctx, et_mul(c.ctx, y, R));
    et_graph *g = et_graph_new(c.ctx, 4096);
    bool ok = et_graph_add(g, y) && et_graph_backward(g, loss, NULL);
    CHECK(ok, "%s: backward: %s", d->name, et_ctx_error(c.ctx));
    et_plan plan;
    ok = ok && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) && et_graph_compute(g, &plan, 2);
    CHECK(ok, "%s: run: %s", d->name, et_ctx_error(c.ctx));
    if (ok) {
        const float *Rd = R->data;
        const double eps = 1e-2;
        /* copy every analytic gradient first: forward-only reruns may reuse their bytes */
        float *anas[MAXIN] = {0};
        for (int i = 0; i < c.n_in; i++) {
            et_tensor *x = c.in[i];
            CHECK(x->grad && x->grad->data, "%s: input %d got no gradient", d->name, i);
            if (!x->grad || !x->grad->data) continue;
            anas[i] = malloc(et_nbytes(x));
            memcpy(anas[i], x->grad->data, et_nbytes(x));
        }
        for (int i = 0; i < c.n_in; i++) {
            et_tensor *x = c.in[i];
            float *ana = anas[i];
            if (!ana) continue;
            int64_t n = et_nelements(x);
            double amax = 0, err = 0;
            int64_t worst = 0;
            for (int64_t j = 0; j < n; j++) if (fabs(ana[j]) > amax) amax = fabs(ana[j]);
            float *xd = x->data;
            for (int64_t j = 0; j < n; j++) {
                float x0 = xd[j];
                xd[j] = (float)(x0 + eps);
                et_graph_compute_range(g, &plan, 0, g->n_forward, 2, NULL);
                double lp = loss_of(y, Rd);
                xd[j] = (float)(x0 - eps);
                et_graph_compute_range(g, &plan, 0, g->n_forward, 2, NULL);
                double lm = loss_of(y, Rd);
                xd[j] = x0;
                double num = (lp - lm) / (2 * eps), e = fabs(num - ana[j]);
                if (e > err) { err = e; worst = j; }
            }
            double tol = 2e-2 * amax + 2e-3;
            CHECK(err <= tol, "%s: input %d: max |num-ana| = %.3g at element %lld (ana %.5g), tolerance %.3g",
                  d->name, i, err, (long long)worst, ana[worst], tol);
            free(ana);
        }
    }
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(c.ctx);
}

static int case_index;
static void test_case(void) {
    bool quantized = cases[case_index].build == b_matmul_q8 || cases[case_index].build == b_matmul_q4;
    et_isa isa = et_kern_isa();
    if (quantized) et_kern_set_isa(ET_ISA_REF);
    check_case(&cases[case_index]);
    if (quantized) et_kern_set_isa(isa);
}

/* Every op with a backward rule must have at least one case above. */
static void test_every_op_covered(void) {
    for (int op = 0; op < ET_OP_COUNT; op++) {
        if (!et_op_table[op].backward) continue;
        bool found = false;
        for (int i = 0; i < NCASES; i++) found |= cases[i].op == (et_op)op;
        CHECK(found, "op '%s' has a backward rule but no gradient-check case", et_op_name((et_op)op));
    }
}

/* The fused cross-entropy gradient (one pass over the vocabulary in the forward, with the
 * running max rescaling u across chunks) against the two-pass backward of the same graph:
 * running the forward alone and then the backward range leaves the forward's marker at 0, so
 * CROSS_ENTROPY_BACK recomputes the logits.  P = 64, V = 40000 gives chunks of 16384 rows:
 * three chunks, the last partial; logits spread wide so the max moves between chunks; one
 * padding position; f32 and Q8_0 heads (the final −W_target row is dequantized).  Agreement
 * within 2e-5 of the gradient's largest magnitude (float sums in a different order). */
static void test_ce_fused_vs_two_pass(void) {
    for (int q = 0; q < 2; q++) {
        const int64_t D = 64, P = 64, V = 40000;
        et_ctx *ctx = et_ctx_new(256);
        et_tensor *h = et_new_2d(ctx, ET_F32, D, P, ET_FLAG_PARAM, "h");
        et_tensor *wf = et_new_2d(ctx, ET_F32, D, V, 0, "wf");
        et_t_fill(h->data, (long)(D * P), 11, 1.0f);
        et_t_fill(wf->data, (long)(D * V), 12, 0.5f);
        for (int64_t v = 30000; v < 30010; v++)   /* a few large logits in the last chunk */
            for (int64_t k = 0; k < D; k++) ((float *)wf->data)[v * D + k] *= 4.0f;
        et_tensor *w = wf;
        if (q) {
            w = et_new_2d(ctx, ET_Q8_0, D, V, 0, "wq");
            et_type_get(ET_Q8_0)->from_f32(wf->data, w->data, D * V);
        }
        et_tensor *tg = et_new_1d(ctx, ET_I32, P, ET_FLAG_INPUT, "targets");
        for (int64_t p = 0; p < P; p++) ((int32_t *)tg->data)[p] = p == 5 ? -1 : (int32_t)((p * 7919) % V);
        et_tensor *loss = et_cross_entropy(ctx, h, w, tg);
        et_graph *g = et_graph_new(ctx, 64);
        et_plan plan = {0};
        bool ok = loss && et_graph_backward(g, loss, NULL) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
        CHECK(ok, "%s: build: %s", q ? "q8_0" : "f32", et_ctx_error(ctx));
        if (ok) {
            float *fused = malloc(D * P * 4), *two = malloc(D * P * 4);
            ok = et_graph_compute(g, &plan, 2);
            const float *marker = (const float *)loss->view_src->data + 1 + P;   /* after loss and lse */
            CHECK(ok && *marker == 1.0f, "a whole step did not take the fused path (marker %g)", *marker);
            float l1 = *(float *)loss->data;
            memcpy(fused, h->grad->data, D * P * 4);
            ok = ok && et_graph_compute_range(g, &plan, 0, g->n_forward, 2, NULL) &&
                 et_graph_compute_range(g, &plan, g->n_forward, g->n_nodes, 2, NULL);
            CHECK(ok, "run: %s", et_ctx_error(ctx));
            CHECK(*marker == 0.0f, "a forward run alone left the fused marker at %g", *marker);
            float l2 = *(float *)loss->data;
            memcpy(two, h->grad->data, D * P * 4);
            double amax = 0, err = 0, pad = 0;
            for (int64_t i = 0; i < D * P; i++) {
                if (fabs(two[i]) > amax) amax = fabs(two[i]);
                if (fabs(fused[i] - two[i]) > err) err = fabs(fused[i] - two[i]);
                if (i / D == 5) pad += fabs(fused[i]);
            }
            CHECK(fabsf(l1 - l2) <= 1e-6f * fabsf(l2), "%s: the loss differs between the fused and the plain forward: %.9g vs %.9g",
                  q ? "q8_0" : "f32", l1, l2);
            /* a head whose dX runs bf16 products (q8_0 on AVX512-BF16) rounds each form's
             * weights to bf16 — the fused form exp(z − running max), the two-pass form the
             * scaled softmax − onehot — so they agree to bf16's step, not f32's */
            const double rel = !strcmp(et_kern_matmul_dx_family(w->type), "bf16") ? 4e-3 : 2e-5;
            CHECK(amax > 1e-4 && err <= rel * amax, "%s: fused dh differs from the two-pass dh by %.3g (max |dh| %.3g)",
                  q ? "q8_0" : "f32", err, amax);
            CHECK(pad == 0, "%s: padding position got a gradient (sum |dh| %.3g)", q ? "q8_0" : "f32", pad);
            printf("# ce fused vs two-pass (%s head): max |diff| %.3g of max |dh| %.3g\n", q ? "q8_0" : "f32", err, amax);
            free(fused); free(two);
        }
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_free(ctx);
    }
}

int main(void) {
    RUN(test_every_op_covered);
    RUN(test_ce_fused_vs_two_pass);
    for (case_index = 0; case_index < NCASES; case_index++) {
        char name[96];
        snprintf(name, sizeof name, "grad %s", cases[case_index].name);
        et_t_run(name, test_case);
    }
    return DONE();
}
