/* End-to-end learning: a two-layer Llama trained from scratch with full fine-tuning and
 * AdamW learns the toy stride task (models/toy.h), whose chance loss is log(16) = 2.77.
 * Bound: the mean loss of the last 10 of 300 steps is below 0.5 (typical runs reach ~0.05;
 * a broken gradient anywhere in the block leaves it above 1.5).  Also run with
 * recomputation: the same seed must give the same loss curve bit for bit. */
#include "harness.h"
#include "optim.h"
#include "toy.h"

static const et_llama_config cfg = {
    .vocab = 16, .dim = 48, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 12,
    .ffn = 96, .max_seq = 32, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
};

static bool train(bool recompute, int steps, float *curve) {
    const int64_t T = 12, B = 16;
    et_ctx *ctx = et_ctx_new(1 << 15);
    et_llama m;
    et_llama_batch b;
    bool ok = et_llama_init(&m, ctx, &cfg, 7, ET_FLAG_PARAM) && et_llama_batch_new(&b, &m, T, B, (T - 1) * B);
    et_tensor *loss = ok ? et_llama_loss(&m, &b, recompute) : NULL;
    et_graph *g = et_graph_new(ctx, 1 << 14);
    et_backward_opts bo = { .recompute = recompute };
    et_optim opt = {0};
    et_adamw_cfg ac = et_adamw_defaults();
    ac.lr = 3e-3f;
    et_plan plan = {0};
    ok = ok && loss && et_graph_backward(g, loss, &bo) && et_optim_adamw_init(&opt, g, &ac) &&
         et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
    CHECK(ok, "setup: %s", et_ctx_error(ctx));
    for (int s = 0; ok && s < steps; s++) {
        et_toy_fill_batch(&b, cfg.vocab, (uint64_t)s);
        et_optim_next_step(&opt, ac.lr, 1.0f);
        ok = et_graph_compute(g, &plan, 2);
        curve[s] = *(float *)loss->data;
    }
    CHECK(ok, "step: %s", et_ctx_error(ctx));
    et_plan_free(&plan);
    et_optim_free(&opt);
    et_graph_free(g);
    et_ctx_free(ctx);
    return ok;
}

#define STEPS 300
static float curve_a[STEPS], curve_b[STEPS];

static void test_learns(void) {
    if (!train(false, STEPS, curve_a)) return;
    double tail = 0;
    for (int s = STEPS - 10; s < STEPS; s++) tail += curve_a[s] / 10.0;
    printf("  loss: step 0 %.3f, step 100 %.3f, step 200 %.3f, last-10 mean %.4f\n", curve_a[0], curve_a[100],
           curve_a[200], tail);
    CHECK(curve_a[0] > 2.3f && curve_a[0] < 3.2f, "initial loss %.3f should be near log(16) = 2.77", curve_a[0]);
    CHECK(tail < 0.5, "final loss %.4f is not below 0.5", tail);
}

static void test_recompute_same_curve(void) {
    if (!train(true, 40, curve_b)) return;
    int diff = 0;
    for (int s = 0; s < 40; s++) diff += memcmp(&curve_a[s], &curve_b[s], 4) != 0;
    CHECK(diff == 0, "%d of 40 losses differ with recomputation", diff);
}

int main(void) {
    RUN(test_learns);
    RUN(test_recompute_same_curve);
    return DONE();
}
