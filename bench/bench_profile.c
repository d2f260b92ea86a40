/* `edgetune profile` as a library call (see bench_profile.h).
 *
 * The step is the trainer's: a Llama with random weights (et_llama_init; NF4 base for
 * QLoRA; LoRA rank 8, alpha 16 on all seven linear layers), loss on every next-token
 * position, backward, AdamW; planned once, allocated once.  The memory timeline of the same
 * step with recomputation flipped is planned first in a context mark that is then dropped, so
 * the profiled graph owns the context alone.
 *
 * Overhead measurement: steps of three kinds run interleaved (bare, off, on, rotating the
 * order each round) so a machine shared with other jobs loads all three alike; each kind's
 * figure is its median.  On a loaded machine those differences are noise, so the hooks' own
 * cost is also timed alone and reported per node and per step.
 *
 * With a device (--device vulkan): the warm-up and `steps` profiled steps run there, the
 * nodes' times are the GPU's timestamps (engine/backend.h's prof hook), and the CPU overhead
 * comparison is not made (it measures the CPU executor's hooks). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "bench_profile.h"
#include "pretrain.h"
#include "kernels.h"
#include "llama.h"
#include "optim.h"
#include "profile.h"
#include "vulkan/vk_backend.h"

static double et__now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int et__mkdirs(const char *path) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(buf, 0755); *p = '/'; }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static int et__cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double et__median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, et__cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The executor's loop with no profiler code in it: the "compiled out" reference. */
static bool et__run_bare(et_graph *g, et_plan *plan, int nthreads) {
    et_exec ex = { .work = plan->work, .work_size = plan->work_bytes, .nthreads = nthreads,
                   .backward = g->n_forward > 0 };
    for (int32_t i = 0; i < g->n_nodes; i++) {
        et_tensor *t = g->nodes[i];
        if (t->op == ET_OP_VIEW || t->op == ET_OP_NONE) continue;
        et_op_table[t->op].forward(t, &ex);
        if (ex.failed) return false;
    }
    return true;
}

typedef struct et__step {
    et_llama_batch b;
    et_tensor *loss;
    et_graph  *g;
    et_optim   o;
    et_plan    plan;
} et__step;

static void et__step_free(et__step *s) {
    et_plan_free(&s->plan);
    et_optim_free(&s->o);
    if (s->g) et_graph_free(s->g);
    memset(s, 0, sizeof *s);
}

/* Record (and plan) the training step; alloc: also allocate it. */
/* per: predicted positions per sequence (the last `per` before each sequence's end). */
static bool et__step_build(et__step *s, et_llama *m, int64_t T, int64_t B, int64_t per, bool recompute, bool alloc) {
    memset(s, 0, sizeof *s);
    et_adamw_cfg ac = et_adamw_defaults();
    ac.lr = 1e-4f;
    et_backward_opts bo = { .recompute = recompute, .recompute_cheap = true };   /* the trainer's default */
    s->g = et_graph_new(m->ctx, 1 << 16);
    return s->g && et_llama_batch_new(&s->b, m, T, B, per * B) && (s->loss = et_llama_loss(m, &s->b, recompute)) &&
           et_graph_backward(s->g, s->loss, &bo) && et_optim_adamw_init(&s->o, s->g, &ac) &&
           et_graph_plan(s->g, &s->plan) && (!alloc || et_graph_alloc(s->g, &s->plan));
}

/* Random tokens; the last `per` positions before each sequence's end predict the next token
 * (all but the last position, or the answer's). */
static void et__fill(et__step *s, int32_t vocab, uint64_t seed) {
    int64_t T = s->b.ids->ne[0], B = s->b.ids->ne[1];
    int32_t *ids = s->b.ids->data, *sel = s->b.sel->data, *tgt = s->b.targets->data;
    const int64_t per = s->b.sel->ne[0] / B;
    uint64_t r = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int64_t i = 0; i < T * B; i++) {
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        ids[i] = (int32_t)(r % (uint64_t)vocab);
    }
    int64_t k = 0;
    for (int64_t j = 0; j < B; j++)
        for (int64_t t = T - 1 - per; t + 1 < T; t++, k++) {
            sel[k] = (int32_t)(t + T * j);
            tgt[k] = ids[t + 1 + T * j];
        }
}

static int __attribute__((format(printf, 3, 4))) et__fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
#define ET__ERR(...) et__fail(err, errlen, __VA_ARGS__)

/* The profiler's own cost, measured directly: the hooks around every timed node of the
 * graph, `passes` times over, on a scratch profile (no op runs).  Unlike a step-time
 * difference this does not drown in the noise of a shared machine. */
static double et__hook_ns(const et_graph *g, int passes) {
    et_profile *p = et_profile_new(g, 1);
    if (!p) return 0;
    int64_t calls = 0;
    double t0 = et__now_ms();
    for (int r = 0; r < passes; r++)
        for (int32_t i = 0; i < g->n_nodes; i++) {
            if (g->nodes[i]->op == ET_OP_VIEW || g->nodes[i]->op == ET_OP_NONE) continue;
            et_profile_begin(p, g, i);
            et_profile_end(p, g, i);
            calls++;
        }
    double ns = (et__now_ms() - t0) * 1e6 / (double)(calls ? calls : 1);
    et_profile_free(p);
    return ns;
}

/* The profiled steps on a device: one warm-up, then `steps` steps recorded into prof from the
 * device's timestamps; t[s] the wall time of each.  0, or -1 with err. */
static int et__device_steps(const char *device, et__step *st, et_llama *m, et_profile *prof, int steps, int32_t vocab,
                            double *t, FILE *out, char *err, size_t errlen) {
    char why[400];
    et_backend *be = et_backend_open(device, why, sizeof why);
    if (!be) return ET__ERR("profile: --device %s: %s", device, why);
    int rc = -1;
    if (be == et_backend_cpu()) { ET__ERR("profile: --device %s: no Vulkan device opened", device); goto done; }
    if (!be->prepare(be, st->g, &st->plan)) { ET__ERR("profile: %s: %s", be->name, et_ctx_error(m->ctx)); goto done; }
    fprintf(out, "device: %s, %s (node times are GPU timestamps)\n", be->name, et_vk_backend_device(be));
    for (int s = -1; s < steps; s++) {   /* step -1: warm-up (pipelines compile), not recorded */
        et__fill(st, vocab, (uint64_t)(2 + s));
        et_optim_next_step(&st->o, 1e-4f, 1.0f);
        be->prof = s >= 0 ? prof : NULL;
        double t0 = et__now_ms();
        bool ok = et_backend_upload_inputs(be, st->g) && be->run(be, st->g, &st->plan, 0, st->g->n_nodes) &&
                  be->download(be, st->loss);
        if (s >= 0) t[s] = et__now_ms() - t0;
        be->prof = NULL;
        if (!ok) { ET__ERR("profile: step on %s: %s", be->name, et_ctx_error(m->ctx)); goto done; }
    }
    rc = 0;
done:
    be->free(be);
    return rc;
}

int et_profile_run(const et_profile_run_opts *o, et_profile_run_result *res, char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    const char *method = o->method ? o->method : "lora", *config = o->config ? o->config : "bench";
    const char *dir = o->out_dir ? o->out_dir : "build/profile";
    const char *lim_path = o->limits_path ? o->limits_path : "build/bench/kernels.jsonl";
    int steps = o->steps > 0 ? o->steps : 3, top = o->top > 0 ? o->top : 15;
    FILE *out = o->out ? o->out : stdout;
    if (strcmp(method, "lora") && strcmp(method, "qlora") && strcmp(method, "full"))
        return ET__ERR("profile: --method '%s' (lora, qlora or full)", method);
    et_type base = !strcmp(method, "qlora") ? ET_NF4 : ET_F32;
    if (o->base) {
        base = et_type_from_name(o->base);
        if (strcmp(method, "lora")) return ET__ERR("profile: --base is for --method lora (qlora's base is nf4)");
        if (base == ET_TYPE_COUNT || base == ET_I32 || base == ET_Q8_K)
            return ET__ERR("profile: --base '%s' is not a weight type (f32, f16, bf16, q8_0, q4_0, q4_k, nf4, ...)",
                           o->base);
    }
    if (steps > 1000) return ET__ERR("profile: --steps %d (1..1000)", steps);
    if (o->threads < 0 || o->threads > 1024) return ET__ERR("profile: --threads %d (0..1024)", o->threads);
    et_llama_config cfg;
    int64_t T, B;
    if (!strcmp(config, "bench")) {   /* issue 4's benchmark configuration */
        cfg = (et_llama_config){ .vocab = 32000, .dim = 512, .n_layers = 8, .n_heads = 8, .n_kv_heads = 8,
                                 .head_dim = 64, .ffn = 1376, .max_seq = 256, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
        T = 256, B = 4;
    } else if (!strcmp(config, "tiny")) {
        cfg = (et_llama_config){ .vocab = 256, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                                 .head_dim = 16, .ffn = 192, .max_seq = 32, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
        T = 32, B = 2;
    } else if (!strncmp(config, "pretrain-", 9)) {   /* a `make models` preset, as pretrained */
        et_pretrain_cfg pc;
        if (!et_pretrain_preset(config + 9, &pc))
            return ET__ERR("profile: --config '%s': no pretraining preset '%s' (tiny, small, medium)", config, config + 9);
        cfg = pc.model;
        if (cfg.vocab == 0) cfg.vocab = 4096;   /* the tokenizer's size: `make models` trains 4096 */
        T = pc.seq_len, B = pc.batch;
    } else {
        return ET__ERR("profile: --config '%s' (bench, tiny or pretrain-tiny|small|medium)", config);
    }
    /* --answer: the study's workload, loss and head on the last N positions only; the bench
     * config's sequences are then a 200-token prompt and the answer (as bench train's) */
    if (o->answer < 0) return ET__ERR("profile: --answer %d (0: every position)", o->answer);
    if (o->answer > 0 && !strcmp(config, "bench")) T = 200 + o->answer;
    if (o->answer > 0 && (o->answer >= T || T > cfg.max_seq))
        return ET__ERR("profile: --answer %d does not fit the %s config's %lld-token sequences", o->answer, config,
                       (long long)(!strcmp(config, "bench") ? cfg.max_seq : T));
    const int64_t per = o->answer > 0 ? o->answer : T - 1;
    const int blk = et_type_get(base)->blck_size == 256 ? 32 : et_type_get(base)->blck_size;
    if (cfg.ffn % blk) {   /* as bench train does; a 256-block type falls back to a 32-block one */
        int ffn = (cfg.ffn + blk - 1) / blk * blk;
        fprintf(out, "note: %s: ffn %d rounded up to %d, a multiple of %s's %d-element block\n", method, cfg.ffn, ffn,
                et_type_get(base)->name, blk);
        cfg.ffn = ffn;
    }
    if (et__mkdirs(dir)) return ET__ERR("profile: cannot create the output folder %s: %s", dir, strerror(errno));
    if (o->threads > 0) omp_set_num_threads(o->threads);
    int nthreads = o->threads > 0 ? o->threads : omp_get_max_threads();

    int rc = -1;
    et_ctx *ctx = et_ctx_new(1 << 17);
    et_llama m;
    et__step st = {0}, alt = {0};
    et_profile *prof = NULL;
    et_mem_timeline tl = {0}, tl_alt = {0};
    double *t_kind[3] = { calloc((size_t)steps, sizeof(double)), calloc((size_t)steps, sizeof(double)),
                          calloc((size_t)steps, sizeof(double)) };
    char path[1200];
    if (!ctx || !t_kind[0] || !t_kind[1] || !t_kind[2]) { ET__ERR("profile: out of memory"); goto done; }
    bool full = !strcmp(method, "full");
    if (!et_llama_init(&m, ctx, &cfg, 42, full ? ET_FLAG_PARAM : 0) ||
        (base != ET_F32 && !et_llama_compress(&m, base, NULL, NULL)) ||
        /* bf16 and QLoRA's nf4: head and embeddings in bf16 too, as finetune */
        ((base == ET_BF16 || base == ET_NF4) && !full && !et_llama_frozen_tables_bf16(&m)) ||
        (!full && !et_llama_add_lora(&m, 8, 16.0f, 0.0f, "all", 7))) {
        ET__ERR("profile: model: %s", et_ctx_error(ctx));
        goto done;
    }
    /* the other recomputation setting, for the memory picture only */
    et_ctx_mark mark = et_ctx_get_mark(ctx);
    if (!et__step_build(&alt, &m, T, B, per, !o->recompute, false) ||
        !et_mem_timeline_compute(alt.g, &tl_alt, err, errlen)) {
        if (et_ctx_failed(ctx)) ET__ERR("profile: step: %s", et_ctx_error(ctx));
        goto done;
    }
    et__step_free(&alt);
    et_ctx_reset(ctx, mark);
    if (!et__step_build(&st, &m, T, B, per, o->recompute, true)) { ET__ERR("profile: step: %s", et_ctx_error(ctx)); goto done; }
    if (!et_mem_timeline_compute(st.g, &tl, err, errlen)) goto done;
    res->nodes = st.g->n_nodes;
    res->peak_bytes = tl.peak;
    res->peak_bytes_other = tl_alt.peak;
    prof = et_profile_new(st.g, steps);
    if (!prof) { ET__ERR("profile: out of memory"); goto done; }
    for (int32_t i = 0; i < st.g->n_nodes; i++) res->step_flops += prof->flops[i];

    char loss_at[64] = "";
    if (o->answer > 0) snprintf(loss_at, sizeof loss_at, ", loss and head on the last %d positions", o->answer);
    fprintf(out, "profile: llama %s config (dim %d, %d layers, %d heads, ffn %d, vocab %d), %s over %s, batch %lld x %lld, "
                 "%d threads%s%s\n",
            config, cfg.dim, cfg.n_layers, cfg.n_heads, cfg.ffn, cfg.vocab, method, et_type_get(base)->name, (long long)B, (long long)T,
            nthreads, o->recompute ? ", recomputation" : "", loss_at);
    fprintf(out, "graph: %d nodes (%d forward); %.4g GFLOP per step by the op table's cost functions\n",
            st.g->n_nodes, st.g->n_forward, res->step_flops * 1e-9);

    if (o->device && strcmp(o->device, "cpu")) {
        rc = et__device_steps(o->device, &st, &m, prof, steps, cfg.vocab, t_kind[2], out, err, errlen);
        if (rc) goto done;
        rc = -1;
        res->on_ms = et__median(t_kind[2], steps);
        res->on_min_ms = t_kind[2][0];
        goto report;
    }
    /* one warm-up step, then `steps` rounds of (bare, off, on) in rotating order */
    et__fill(&st, cfg.vocab, 1);
    et_optim_next_step(&st.o, 1e-4f, 1.0f);
    if (!et_graph_compute(st.g, &st.plan, o->threads)) { ET__ERR("profile: step: %s", et_ctx_error(ctx)); goto done; }
    for (int s = 0; s < steps; s++) {
        for (int r = 0; r < 3; r++) {
            int kind = (s + r) % 3;
            et__fill(&st, cfg.vocab, (uint64_t)(2 + s));
            et_optim_next_step(&st.o, 1e-4f, 1.0f);
            double t0 = et__now_ms();
            bool ok = kind == 0 ? et__run_bare(st.g, &st.plan, nthreads)
                                : et_graph_compute_range(st.g, &st.plan, 0, st.g->n_nodes, o->threads,
                                                         kind == 2 ? prof : NULL);
            t_kind[kind][s] = et__now_ms() - t0;
            if (!ok) { ET__ERR("profile: step: %s", et_ctx_failed(ctx) ? et_ctx_error(ctx) : "an op failed"); goto done; }
        }
    }
    res->hook_ns = et__hook_ns(st.g, 50);
    res->timed_nodes = 0;
    for (int32_t i = 0; i < st.g->n_nodes; i++)
        res->timed_nodes += st.g->nodes[i]->op != ET_OP_VIEW && st.g->nodes[i]->op != ET_OP_NONE;
    res->bare_ms = et__median(t_kind[0], steps);   /* sorts: [0] is then the minimum */
    res->off_ms = et__median(t_kind[1], steps);
    res->on_ms = et__median(t_kind[2], steps);
    res->bare_min_ms = t_kind[0][0];
    res->off_min_ms = t_kind[1][0];
    res->on_min_ms = t_kind[2][0];
report:;

    et_roofline_limits lim;
    char lerr[400];
    res->have_limits = et_roofline_limits_read(lim_path, nthreads, &lim, lerr, sizeof lerr);
    if (!res->have_limits) fprintf(out, "note: %s; the roofline has no ceilings\n", lerr);
    fprintf(out, "\n");
    et_profile_print_table(prof, out, top, &lim);
    fprintf(out, "\n");
    et_mem_timeline_print(&tl, o->recompute ? "with recomputation (as run)" : "without recomputation (as run)", out);
    et_mem_timeline_print(&tl_alt, o->recompute ? "without recomputation" : "with recomputation", out);
    if (res->bare_ms <= 0) goto files;   /* a device run: no CPU overhead comparison */
    fprintf(out, "\noverhead (median of %d steps each, interleaved): bare loop %.2f ms, profiling off %.2f ms (%+.2f%%), "
                 "profiling on %.2f ms (%+.2f%% vs off)\n",
            steps, res->bare_ms, res->off_ms, 100.0 * (res->off_ms / res->bare_ms - 1), res->on_ms,
            100.0 * (res->on_ms / res->off_ms - 1));
    fprintf(out, "fastest step of each (least disturbed by other jobs): bare %.2f ms, off %.2f ms (%+.2f%%), on %.2f ms "
                 "(%+.2f%% vs off)\n",
            res->bare_min_ms, res->off_min_ms, 100.0 * (res->off_min_ms / res->bare_min_ms - 1), res->on_min_ms,
            100.0 * (res->on_min_ms / res->off_min_ms - 1));
    double hook_ms = res->hook_ns * res->timed_nodes * 1e-6;
    fprintf(out, "profiler hooks measured alone: %.0f ns per node x %d timed nodes = %.3f ms per step = %.3f%% of the "
                 "bare step\n",
            res->hook_ns, res->timed_nodes, hook_ms, 100.0 * hook_ms / res->bare_ms);

files:;
#define ET__OUT(name) (snprintf(path, sizeof path, "%s/%s", dir, name), path)
    if (!et_profile_write_jsonl(prof, ET__OUT("profile.jsonl"), &lim, err, errlen)) goto done;
    if (!et_profile_write_trace(prof, ET__OUT("trace.json"), err, errlen)) goto done;
    if (!et_profile_write_roofline(prof, &lim, ET__OUT("roofline.png"), err, errlen)) goto done;
    const et_mem_timeline *no_rc = o->recompute ? &tl_alt : &tl, *rc_tl = o->recompute ? &tl : &tl_alt;
    if (!et_mem_timeline_plot(no_rc, "without recomputation", rc_tl, "with recomputation", ET__OUT("memory.png"), err,
                              errlen))
        goto done;
    snprintf(path, sizeof path, "%s", dir);
    fprintf(out, "wrote %s/profile.jsonl, trace.json (open in ui.perfetto.dev or chrome://tracing), roofline.png, "
                 "memory.png\n", path);
    rc = 0;
done:
    et_profile_free(prof);
    et_mem_timeline_free(&tl);
    et_mem_timeline_free(&tl_alt);
    et__step_free(&alt);
    et__step_free(&st);
    for (int k = 0; k < 3; k++) free(t_kind[k]);
    if (ctx) et_ctx_free(ctx);
    return rc;
}
