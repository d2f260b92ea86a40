/* Every op builder refuses bad shapes and bad arguments with a NULL result and a message
 * that names the op (and, where it applies, the offending values); a builder given NULL
 * (an earlier failure) returns NULL without replacing the first message. */
#include "harness.h"
#include "graph.h"

static et_ctx *ctx;
static et_tensor *f(int nd, int64_t a, int64_t b, int64_t c, int64_t d) {
    return et_new(ctx, ET_F32, nd, (int64_t[]){a, b, c, d}, 0, "t");
}
static et_tensor *i32(int64_t n) { return et_new_1d(ctx, ET_I32, n, 0, "ids"); }

typedef struct { const char *what, *expect; et_tensor *(*call)(void); } bad;

static et_tensor *c_reshape(void) { return et_reshape_2d(ctx, f(2, 4, 3, 1, 1), 5, 2); }
static et_tensor *c_reshape_nc(void) { return et_reshape_2d(ctx, et_transpose(ctx, f(2, 4, 3, 1, 1)), 12, 1); }
static et_tensor *c_permute(void) { return et_permute(ctx, f(2, 4, 3, 1, 1), 0, 0, 2, 3); }
static et_tensor *c_view(void) { return et_view(ctx, f(1, 8, 1, 1, 1), 1, (int64_t[]){8}, (size_t[]){4}, 4); }
static et_tensor *c_cont(void) { return et_cont(ctx, et_new_1d(ctx, ET_Q8_0, 32, 0, "q")); }
static et_tensor *c_add(void) { return et_add(ctx, f(2, 4, 3, 1, 1), f(2, 3, 3, 1, 1)); }
static et_tensor *c_add_type(void) { return et_add(ctx, f(1, 4, 1, 1, 1), i32(4)); }
static et_tensor *c_mul(void) { return et_mul(ctx, f(2, 4, 3, 1, 1), f(2, 4, 2, 1, 1)); }
static et_tensor *c_scale(void) { return et_scale(ctx, i32(4), 2.0f); }
static et_tensor *c_sum(void) { return et_sum(ctx, i32(4)); }
static et_tensor *c_repeat(void) { return et_repeat(ctx, f(1, 3, 1, 1, 1), f(2, 4, 2, 1, 1)); }
static et_tensor *c_repeat_back(void) { return et_repeat_back(ctx, f(2, 4, 2, 1, 1), f(1, 3, 1, 1, 1)); }
static et_tensor *c_matmul(void) { return et_matmul(ctx, f(2, 8, 4, 1, 1), f(2, 6, 3, 1, 1)); }
static et_tensor *c_matmul_3d(void) { return et_matmul(ctx, f(3, 8, 4, 2, 1), f(2, 8, 3, 1, 1)); }
static et_tensor *c_matmul_i32(void) { return et_matmul(ctx, f(2, 8, 4, 1, 1), et_new_2d(ctx, ET_I32, 8, 2, 0, "x")); }
static et_tensor *c_matmul_dx(void) { return et_matmul_dx(ctx, f(2, 8, 4, 1, 1), f(2, 5, 3, 1, 1)); }
static et_tensor *c_matmul_dw(void) { return et_matmul_dw(ctx, f(2, 4, 3, 1, 1), f(2, 8, 2, 1, 1)); }
static et_tensor *c_get_rows(void) { return et_get_rows(ctx, f(2, 8, 4, 1, 1), f(1, 3, 1, 1, 1)); }
static et_tensor *c_get_rows_nf4(void) { return et_get_rows(ctx, et_new_2d(ctx, ET_NF4, 64, 2, 0, "w"), i32(2)); }
static et_tensor *c_get_rows_back(void) { return et_get_rows_back(ctx, f(2, 8, 3, 1, 1), i32(2), f(2, 8, 5, 1, 1)); }
static et_tensor *c_concat(void) { return et_concat(ctx, f(2, 4, 3, 1, 1), f(2, 5, 3, 1, 1)); }
static et_tensor *c_rmsnorm(void) { return et_rmsnorm(ctx, f(1, 4, 1, 1, 1), -1.0f); }
static et_tensor *c_rmsnorm_back(void) { return et_rmsnorm_back(ctx, f(1, 4, 1, 1, 1), f(1, 5, 1, 1, 1), 1e-5f); }
static et_tensor *c_rope_pos(void) { return et_rope(ctx, f(3, 8, 2, 5, 1), i32(4), 8, 0, 1e4f); }
static et_tensor *c_rope_nrot(void) { return et_rope(ctx, f(3, 8, 2, 5, 1), i32(5), 7, 0, 1e4f); }
static et_tensor *c_rope_mode(void) { return et_rope(ctx, f(3, 8, 2, 5, 1), i32(5), 8, 1, 1e4f); }
static et_tensor *c_rope_theta(void) { return et_rope(ctx, f(3, 8, 2, 5, 1), i32(5), 8, 0, 0.5f); }
static et_tensor *c_attn_heads(void) { return et_attention(ctx, f(3, 8, 3, 4, 1), f(3, 8, 2, 4, 1), f(3, 8, 2, 4, 1), 1, 0, 0); }
static et_tensor *c_attn_kv(void) { return et_attention(ctx, f(3, 8, 4, 4, 1), f(3, 8, 2, 4, 1), f(3, 8, 2, 5, 1), 1, 0, 0); }
static et_tensor *c_attn_past(void) { return et_attention(ctx, f(3, 8, 4, 4, 1), f(3, 8, 2, 4, 1), f(3, 8, 2, 4, 1), 1, 2, 0); }
static et_tensor *c_attn_scale(void) { return et_attention(ctx, f(3, 8, 4, 4, 1), f(3, 8, 2, 4, 1), f(3, 8, 2, 4, 1), -1, 0, 0); }
static et_tensor *c_silu(void) { return et_silu(ctx, i32(3)); }
static et_tensor *c_gelu(void) { return et_gelu(ctx, i32(3)); }
static et_tensor *c_swiglu(void) { return et_swiglu(ctx, f(1, 4, 1, 1, 1), f(1, 5, 1, 1, 1)); }
static et_tensor *c_geglu(void) { return et_geglu(ctx, f(1, 4, 1, 1, 1), f(2, 4, 2, 1, 1)); }
static et_tensor *c_silu_back(void) { return et_silu_back(ctx, f(1, 4, 1, 1, 1), f(1, 3, 1, 1, 1)); }
static et_tensor *c_gelu_back(void) { return et_gelu_back(ctx, f(1, 4, 1, 1, 1), f(1, 3, 1, 1, 1)); }
static et_tensor *c_ce_dim(void) { return et_cross_entropy(ctx, f(2, 8, 3, 1, 1), f(2, 6, 10, 1, 1), i32(3)); }
static et_tensor *c_ce_tgt(void) { return et_cross_entropy(ctx, f(2, 8, 3, 1, 1), f(2, 8, 10, 1, 1), i32(4)); }
static et_tensor *c_adamw(void) {
    et_tensor *p = f(1, 4, 1, 1, 1);
    return et_adamw(ctx, p, f(1, 5, 1, 1, 1), f(1, 4, 1, 1, 1), f(1, 4, 1, 1, 1), f(1, 8, 1, 1, 1));
}
static et_tensor *c_adamw_hp(void) {
    et_tensor *p = f(1, 4, 1, 1, 1);
    return et_adamw(ctx, p, f(1, 4, 1, 1, 1), f(1, 4, 1, 1, 1), f(1, 4, 1, 1, 1), f(1, 3, 1, 1, 1));
}
static et_tensor *c_dropout_p(void) { return et_dropout(ctx, f(1, 8, 1, 1, 1), i32(1), 1.0f, 0); }
static et_tensor *c_dropout_seed(void) { return et_dropout(ctx, f(1, 8, 1, 1, 1), f(1, 1, 1, 1, 1), 0.1f, 0); }
static et_tensor *c_kv_leaf(void) {   /* a permuted (non-contiguous) cache */
    return et_kv_store(ctx, et_permute(ctx, f(4, 2, 8, 16, 1), 1, 0, 2, 3), f(4, 8, 2, 3, 1), 0);
}
static et_tensor *persist_cache(void) {
    et_tensor *c = f(4, 8, 2, 16, 1);
    c->flags |= ET_FLAG_PERSIST;
    return c;
}
static et_tensor *c_kv_heads(void) { return et_kv_store(ctx, persist_cache(), f(4, 8, 3, 3, 1), 0); }
static et_tensor *c_kv_full(void) { return et_kv_store(ctx, persist_cache(), f(4, 8, 2, 3, 1), 14); }
static et_tensor *c_sumsq(void) { return et_sumsq(ctx, i32(4)); }
static et_tensor *c_clip_shape(void) { return et_clip_scale(ctx, f(1, 2, 1, 1, 1), 1.0f); }
static et_tensor *c_clip_norm(void) { return et_clip_scale(ctx, f(1, 1, 1, 1, 1), 0.0f); }
static et_tensor *c_view_back(void) {
    et_tensor *src = f(2, 4, 3, 1, 1), *v = et_reshape_2d(ctx, src, 6, 2);
    return et_view_back(ctx, f(2, 6, 3, 1, 1), v);
}
static et_tensor *c_rope_inv(void) { return et_rope_inverse(ctx, f(3, 8, 2, 5, 1), i32(5), 9, 0, 1e4f); }
static et_tensor *c_ce_none(void) { return et_cross_entropy_none(ctx, f(2, 8, 3, 1, 1), f(2, 8, 10, 1, 1), i32(2)); }
static et_tensor *c_adamw_clip(void) {
    et_tensor *p = f(1, 4, 1, 1, 1);
    p->flags |= ET_FLAG_PERSIST;
    return et_adamw_clipped(ctx, p, f(1, 4, 1, 1, 1), f(1, 4, 1, 1, 1), f(1, 4, 1, 1, 1), f(1, 8, 1, 1, 1),
                            f(1, 2, 1, 1, 1));
}
static et_tensor *c_new_dims(void) { return et_new(ctx, ET_F32, 5, (int64_t[]){1, 1, 1, 1, 1}, 0, "t"); }
static et_tensor *c_new_neg(void) { return et_new_2d(ctx, ET_F32, 4, -2, 0, "t"); }
static et_tensor *c_new_block(void) { return et_new_1d(ctx, ET_Q4_0, 33, 0, "t"); }

static const bad cases[] = {
    {"reshape count", "reshape", c_reshape},          {"reshape non-contiguous", "contiguous", c_reshape_nc},
    {"permute axes", "permutation", c_permute},       {"view window", "past the source", c_view},
    {"cont quantized", "cont", c_cont},               {"add broadcast", "add", c_add},
    {"add type", "f32", c_add_type},                  {"mul broadcast", "mul", c_mul},
    {"scale type", "scale", c_scale},                 {"sum type", "sum", c_sum},
    {"repeat", "repeat", c_repeat},                   {"repeat_back", "repeat_back", c_repeat_back},
    {"matmul K", "x.ne[0] must equal W.ne[0]", c_matmul}, {"matmul 3-D W", "2-D", c_matmul_3d},
    {"matmul x type", "f32", c_matmul_i32},           {"matmul_dx", "dy.ne[0]", c_matmul_dx},
    {"matmul_dw", "token counts", c_matmul_dw},       {"get_rows ids", "i32", c_get_rows},
    {"get_rows nf4", "NF4", c_get_rows_nf4},          {"get_rows_back", "get_rows_back", c_get_rows_back},
    {"concat", "concat", c_concat},                   {"rmsnorm eps", "eps", c_rmsnorm},
    {"rmsnorm_back", "dy must match", c_rmsnorm_back},{"rope pos", "pos", c_rope_pos},
    {"rope n_rot", "n_rot=7", c_rope_nrot},           {"rope mode", "mode 1", c_rope_mode},
    {"rope theta", "theta", c_rope_theta},            {"attention heads", "multiple of kv heads", c_attn_heads},
    {"attention k/v", "same shape", c_attn_kv},       {"attention n_past", "n_past + T", c_attn_past},
    {"attention scale", "scale=-1", c_attn_scale},    {"silu", "silu", c_silu},
    {"gelu", "gelu", c_gelu},                         {"swiglu", "swiglu", c_swiglu},
    {"geglu", "geglu", c_geglu},                      {"silu_back", "silu_back", c_silu_back},
    {"gelu_back", "gelu_back", c_gelu_back},          {"cross_entropy D", "D = h.ne[0]", c_ce_dim},
    {"cross_entropy targets", "one entry per position", c_ce_tgt},
    {"adamw grad", "gradient must match", c_adamw},   {"adamw hp", "hyperparameters", c_adamw_hp},
    {"tensor dims", "5 dimensions", c_new_dims},      {"tensor negative", "dimension 1 is -2", c_new_neg},
    {"tensor block", "block size 32", c_new_block},
    {"dropout p", "p = 1", c_dropout_p},             {"dropout seed", "seed must be i32", c_dropout_seed},
    {"kv_store cache leaf", "contiguous f32 leaf", c_kv_leaf}, {"kv_store heads", "kv heads", c_kv_heads},
    {"kv_store overflow", "exceed the cache", c_kv_full}, {"sumsq type", "sumsq", c_sumsq},
    {"clip_scale shape", "f32 scalar", c_clip_shape}, {"clip_scale norm", "max_norm = 0", c_clip_norm},
    {"view_back shape", "dy must match the view", c_view_back}, {"rope_inverse n_rot", "n_rot=9", c_rope_inv},
    {"cross_entropy_none targets", "one entry per position", c_ce_none},
    {"adamw_clipped scale", "clip scale must be an f32 scalar", c_adamw_clip},
};

static void test_bad_arguments(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ctx = et_ctx_new(64);
        et_tensor *r = cases[i].call();
        CHECK(r == NULL, "%s: builder accepted bad input", cases[i].what);
        CHECK(et_ctx_failed(ctx) && strstr(et_ctx_error(ctx), cases[i].expect),
              "%s: message '%s' lacks '%s'", cases[i].what, et_ctx_error(ctx), cases[i].expect);
        et_ctx_free(ctx);
    }
}

static void test_null_propagates(void) {
    ctx = et_ctx_new(64);
    et_tensor *bad = et_add(ctx, f(1, 4, 1, 1, 1), f(1, 5, 1, 1, 1));
    char first[256];
    snprintf(first, sizeof first, "%s", et_ctx_error(ctx));
    et_tensor *r = et_silu(ctx, et_scale(ctx, bad, 2.0f));
    CHECK(r == NULL && strcmp(first, et_ctx_error(ctx)) == 0, "first error kept: '%s' vs '%s'", first,
          et_ctx_error(ctx));
    et_graph *g = et_graph_new(ctx, 16);
    CHECK(!et_graph_add(g, r), "adding NULL to a graph fails");
    et_graph_free(g);
    et_ctx_free(ctx);
}

static void test_context_full(void) {
    ctx = et_ctx_new(3);
    et_tensor *a = f(1, 4, 1, 1, 1);
    et_tensor *b = et_scale(ctx, a, 2), *c = et_scale(ctx, b, 2), *d = et_scale(ctx, c, 2);
    CHECK(d == NULL && strstr(et_ctx_error(ctx), "context full"), "'%s'", et_ctx_error(ctx));
    et_ctx_free(ctx);
}

static void test_backward_errors(void) {
    ctx = et_ctx_new(64);
    et_tensor *x = f(1, 4, 1, 1, 1);
    et_graph *g = et_graph_new(ctx, 16);
    CHECK(!et_graph_backward(g, et_sum(ctx, x), NULL) && strstr(et_ctx_error(ctx), "does not depend"),
          "loss without params: '%s'", et_ctx_error(ctx));
    et_ctx_clear_error(ctx);
    CHECK(!et_graph_backward(g, x, NULL) && strstr(et_ctx_error(ctx), "scalar"), "non-scalar loss: '%s'",
          et_ctx_error(ctx));
    et_graph_free(g);
    et_ctx_free(ctx);
}

/* Frozen weights get no gradient buffer, while the input gradient still flows through them
 * (dx = dy·W, also for a quantized W), and nothing in the backward graph is W-shaped. */
static void test_frozen_weights_get_no_gradient(void) {
    const et_type types[2] = { ET_F32, ET_Q8_0 };
    for (int i = 0; i < 2; i++) {
        ctx = et_ctx_new(256);
        et_tensor *W = et_new_2d(ctx, types[i], 64, 48, ET_FLAG_FROZEN, "W");
        et_tensor *x = et_new_2d(ctx, ET_F32, 64, 5, ET_FLAG_PARAM, "x");
        et_tensor *loss = et_sum(ctx, et_silu(ctx, et_matmul(ctx, W, x)));
        et_graph *g = et_graph_new(ctx, 64);
        CHECK(loss && g && et_graph_add(g, loss) && et_graph_backward(g, loss, NULL), "%s", et_ctx_error(ctx));
        CHECK(W->grad == NULL, "%s: the frozen weight got a gradient", et_type_get(types[i])->name);
        CHECK(x->grad != NULL, "%s: the input got no gradient through the frozen weight", et_type_get(types[i])->name);
        int wshaped = 0, dx = 0;
        for (int32_t n = 0; g && n < g->n_nodes; n++) {
            const et_tensor *t = g->nodes[n];
            wshaped += t->op != ET_OP_NONE && et_same_shape(t, W);
            dx += t->op == ET_OP_MATMUL_DX && t->src[0] == W;
        }
        CHECK(wshaped == 0, "%s: %d W-shaped nodes in the graph", et_type_get(types[i])->name, wshaped);
        CHECK(dx == 1, "%s: %d dx = dy·W nodes (want 1)", et_type_get(types[i])->name, dx);
        et_graph_free(g);
        et_ctx_free(ctx);
    }
}

int main(void) {
    RUN(test_bad_arguments);
    RUN(test_null_propagates);
    RUN(test_context_full);
    RUN(test_backward_errors);
    RUN(test_frozen_weights_get_no_gradient);
    return DONE();
}
