/* The memory planner on a small transformer's whole training step (forward + backward):
 *  - planned and unplanned (every tensor its own allocation) runs give bit-identical loss
 *    and parameter gradients;
 *  - the planned buffer is at most 1.10× the liveness lower bound;
 *  - recomputation (checkpointing each block's input) gives bit-identical results with a
 *    lower planned peak;
 *  - a memory limit below the plan is refused with both figures in the message;
 *  - a run never uses more threads than its plan sized the scratch for.
 */
#include <omp.h>
#include "harness.h"
#include "llama.h"

static const et_llama_config cfg = {
    .vocab = 61, .dim = 32, .n_layers = 3, .n_heads = 4, .n_kv_heads = 2, .head_dim = 8,
    .ffn = 64, .max_seq = 64, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
};

typedef struct {
    et_ctx *ctx;
    et_llama m;
    et_graph *g;
    et_plan plan;
    et_tensor *loss;
} step;

/* Build a full-fine-tuning step over T=48 tokens × B=2, loss at every position. */
static bool build(step *s, bool recompute) {
    const int64_t T = 48, B = 2, P = T * B;
    s->ctx = et_ctx_new(1 << 15);
    if (!et_llama_init(&s->m, s->ctx, &cfg, 42, ET_FLAG_PARAM)) return false;
    et_llama_batch b;
    if (!et_llama_batch_new(&b, &s->m, T, B, P)) return false;
    int32_t *ids = b.ids->data, *sel = b.sel->data, *tg = b.targets->data;
    for (int64_t i = 0; i < T * B; i++) ids[i] = (int32_t)((i * 13 + 5) % cfg.vocab);
    for (int64_t i = 0; i < P; i++) { sel[i] = (int32_t)i; tg[i] = (int32_t)((i * 13 + 18) % cfg.vocab); }
    s->loss = et_llama_loss(&s->m, &b, recompute);
    s->g = et_graph_new(s->ctx, 1 << 14);
    et_backward_opts o = { .recompute = recompute };
    return s->loss && et_graph_backward(s->g, s->loss, &o) && et_graph_plan(s->g, &s->plan);
}

static void free_step(step *s) {
    et_plan_free(&s->plan);
    et_graph_free(s->g);
    et_ctx_free(s->ctx);
}

/* Compare loss and every parameter gradient bit for bit. */
static int n_diff(step *a, step *b) {
    int diffs = 0;
    if (memcmp(a->loss->data, b->loss->data, 4)) diffs++;
    for (int32_t id = 0; id < et_ctx_n_tensors(a->ctx); id++) {
        et_tensor *p = et_ctx_tensor(a->ctx, id);
        if (!(p->flags & ET_FLAG_PARAM)) continue;
        et_tensor *q = et_ctx_tensor(b->ctx, id);   /* same build order → same ids */
        if (!p->grad || !q->grad || memcmp(p->grad->data, q->grad->data, et_nbytes(p))) diffs++;
    }
    return diffs;
}

static void test_planned_equals_unplanned(void) {
    step a, b;
    CHECK(build(&a, false) && build(&b, false), "build: %s", et_ctx_error(a.ctx));
    CHECK(et_graph_alloc(a.g, &a.plan) && et_graph_compute(a.g, &a.plan, 2), "planned run: %s", et_ctx_error(a.ctx));
    CHECK(et_graph_alloc_unplanned(b.g, &b.plan) && et_graph_compute(b.g, &b.plan, 2), "unplanned run: %s",
          et_ctx_error(b.ctx));
    CHECK(isfinite(*(float *)a.loss->data) && *(float *)a.loss->data > 3.0f, "loss %g should be ~log(61)",
          *(float *)a.loss->data);
    int d = n_diff(&a, &b);
    CHECK(d == 0, "%d tensors differ between planned and unplanned runs", d);
    double ratio = (double)a.plan.buffer_bytes / (double)a.plan.lower_bound;
    printf("  planned buffer %.1f KiB, liveness lower bound %.1f KiB (ratio %.3f), scratch %.1f KiB, %d nodes\n",
           a.plan.buffer_bytes / 1024.0, a.plan.lower_bound / 1024.0, ratio, a.plan.work_bytes / 1024.0,
           a.g->n_nodes);
    CHECK(ratio <= 1.10, "planned buffer is %.3f x the lower bound (limit 1.10)", ratio);
    free_step(&a);
    free_step(&b);
}

static void test_recompute(void) {
    step a, b;
    CHECK(build(&a, false) && build(&b, true), "build: %s / %s", et_ctx_error(a.ctx), et_ctx_error(b.ctx));
    CHECK(et_graph_alloc(a.g, &a.plan) && et_graph_compute(a.g, &a.plan, 2), "plain run: %s", et_ctx_error(a.ctx));
    CHECK(et_graph_alloc(b.g, &b.plan) && et_graph_compute(b.g, &b.plan, 2), "recompute run: %s", et_ctx_error(b.ctx));
    int d = n_diff(&a, &b);
    CHECK(d == 0, "%d tensors differ with recomputation", d);
    printf("  peak without recomputation %.1f KiB, with %.1f KiB (%d vs %d nodes)\n", a.plan.peak_bytes / 1024.0,
           b.plan.peak_bytes / 1024.0, a.g->n_nodes, b.g->n_nodes);
    CHECK(b.plan.peak_bytes < a.plan.peak_bytes * 0.85, "recomputation should cut the peak by >15%%: %zu vs %zu",
          b.plan.peak_bytes, a.plan.peak_bytes);
    double ratio = (double)b.plan.buffer_bytes / (double)b.plan.lower_bound;
    CHECK(ratio <= 1.10, "recompute plan is %.3f x its lower bound", ratio);
    free_step(&a);
    free_step(&b);
}

static void test_memory_limit(void) {
    step a;
    CHECK(build(&a, false), "build: %s", et_ctx_error(a.ctx));
    CHECK(et_plan_check_limit(a.ctx, &a.plan, a.plan.peak_bytes), "a limit equal to the plan must pass");
    CHECK(!et_plan_check_limit(a.ctx, &a.plan, a.plan.peak_bytes / 2), "half the plan must be refused");
    const char *e = et_ctx_error(a.ctx);
    CHECK(strstr(e, "memory limit") && strstr(e, "MiB"), "message names both figures: '%s'", e);
    free_step(&a);
}

/* A plan made with one OpenMP thread sizes the ops' scratch for one; computing it with two
 * must run with one (not overrun the scratch, as it once did) and give the same result. */
static void test_threads_capped_by_plan(void) {
    step a, b;
    omp_set_num_threads(1);
    bool ok = build(&a, false);
    omp_set_num_threads(2);
    ok = ok && build(&b, false);
    CHECK(ok, "build: %s", et_ctx_error(a.ctx));
    CHECK(a.plan.nthreads == 1 && b.plan.nthreads == 2, "plans record %d and %d threads", a.plan.nthreads,
          b.plan.nthreads);
    CHECK(a.plan.work_bytes <= b.plan.work_bytes, "one thread's scratch (%zu) exceeds two threads' (%zu)",
          a.plan.work_bytes, b.plan.work_bytes);
    CHECK(et_graph_alloc(a.g, &a.plan) && et_graph_compute(a.g, &a.plan, 2), "run: %s", et_ctx_error(a.ctx));
    CHECK(omp_get_max_threads() == 1, "the run used %d threads, the plan allows 1", omp_get_max_threads());
    CHECK(et_graph_alloc(b.g, &b.plan) && et_graph_compute(b.g, &b.plan, 2), "run: %s", et_ctx_error(b.ctx));
    CHECK(fabsf(*(float *)a.loss->data - *(float *)b.loss->data) < 1e-5f, "losses %g vs %g",
          *(float *)a.loss->data, *(float *)b.loss->data);
    omp_set_num_threads(2);
    free_step(&a);
    free_step(&b);
}

int main(void) {
    RUN(test_planned_equals_unplanned);
    RUN(test_threads_capped_by_plan);
    RUN(test_recompute);
    RUN(test_memory_limit);
    return DONE();
}
