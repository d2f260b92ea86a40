/* `edgetune demo`: the end-to-end path in one command — build a small Llama, record its
 * training step (forward, backward, AdamW), plan memory, and train it from scratch on the
 * toy stride task (models/toy.h), printing the plan and the loss curve.  --device runs the
 * steps on a Vulkan device: the batch goes up and the loss comes down each step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "optim.h"
#include "toy.h"
#include "vulkan/vk_backend.h"

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int et_cmd_demo(int argc, char **argv) {
    int steps = 300, threads = 0;
    bool recompute = false;
    const char *device = "cpu";
    char err[512];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--recompute")) recompute = true;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) {
            device = argv[++i];
            if (!et_backend_spec_ok(device, err, sizeof err)) { fprintf(stderr, "edgetune demo: %s\n", err); return 2; }
        } else {
            fprintf(stderr, "usage: edgetune demo [--steps N] [--threads N] [--recompute] [--device cpu|vulkan[:N]|auto]\n");
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (steps < 1 || steps > 1000000 || threads < 0) {
        fprintf(stderr, "edgetune demo: --steps must be 1..1000000 and --threads >= 0\n");
        return 2;
    }
    const et_llama_config cfg = {
        .vocab = 16, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
        .ffn = 128, .max_seq = 64, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
    };
    const int64_t T = 16, B = 16;
    et_ctx *ctx = et_ctx_new(1 << 15);
    et_llama m;
    et_llama_batch b;
    et_graph *g = et_graph_new(ctx, 1 << 14);
    et_optim opt = {0};
    et_adamw_cfg ac = et_adamw_defaults();
    ac.lr = 3e-3f;
    et_plan plan = {0};
    et_backward_opts bo = { .recompute = recompute };
    et_tensor *loss = NULL;
    bool ok = et_llama_init(&m, ctx, &cfg, 1, ET_FLAG_PARAM) && et_llama_batch_new(&b, &m, T, B, (T - 1) * B) &&
              (loss = et_llama_loss(&m, &b, recompute)) && et_graph_backward(g, loss, &bo) &&
              et_optim_adamw_init(&opt, g, &ac) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
    et_backend *be = ok ? et_backend_open(device, err, sizeof err) : NULL;
    if (ok && !be) {
        fprintf(stderr, "edgetune demo: --device %s: %s\n", device, err);
        return 1;
    }
    bool on_cpu = be == et_backend_cpu();
    if (ok && !on_cpu) ok = be->prepare(be, g, &plan);
    if (!ok) {
        fprintf(stderr, "edgetune demo: %s\n", et_ctx_error(ctx));
        if (be) be->free(be);
        return 1;
    }
    if (!on_cpu) printf("device: %s, %s\n", be->name, et_vk_backend_device(be));
    printf("model: llama, %d layers, dim %d, %d heads (%d kv), vocab %d: %lld parameters\n", cfg.n_layers,
           cfg.dim, cfg.n_heads, cfg.n_kv_heads, cfg.vocab, (long long)et_llama_n_params(&cfg, true));
    printf("task: next token of stride sequences (chance loss %.2f), batch %lld x %lld tokens\n", 2.7726,
           (long long)B, (long long)T);
    printf("graph: %d nodes (%d forward), %d optimizer tensors\n", g->n_nodes, g->n_forward, opt.n_params);
    printf("memory plan: step buffer %.1f KiB (liveness lower bound %.1f KiB), scratch %.1f KiB, "
           "weights+optimizer %.1f KiB%s\n", plan.buffer_bytes / 1024.0, plan.lower_bound / 1024.0,
           plan.work_bytes / 1024.0, et_ctx_leaf_bytes(ctx) / 1024.0, recompute ? ", recomputation on" : "");
    double t0 = et__now();
    float first = 0, last = 0;
    for (int s = 0; s < steps && ok; s++) {
        et_toy_fill_batch(&b, cfg.vocab, (uint64_t)s);
        et_optim_next_step(&opt, ac.lr, 1.0f);
        if (on_cpu) ok = et_graph_compute(g, &plan, threads);
        else ok = et_backend_upload_inputs(be, g) && be->run(be, g, &plan, 0, g->n_nodes) && be->download(be, loss);
        last = *(float *)loss->data;
        if (s == 0) first = last;
        if (s % 50 == 0 || s == steps - 1) printf("step %4d  loss %.4f\n", s, last);
    }
    double dt = et__now() - t0;
    be->free(be);
    if (!ok) {
        fprintf(stderr, "edgetune demo: %s\n", et_ctx_error(ctx));
        return 1;
    }
    printf("trained %d steps in %.2f s (%.0f tokens/s): loss %.3f -> %.3f\n", steps, dt,
           steps * (double)(T * B) / dt, first, last);
    et_plan_free(&plan);
    et_optim_free(&opt);
    et_graph_free(g);
    et_ctx_free(ctx);
    return 0;
}
