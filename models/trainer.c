/* The trainer (models/trainer.h): builds one static training step for a Llama model with its
 * adapter, plans its memory, then runs optimizer steps over a shuffled stream of examples.
 *
 * The step graph:  forward (loss on answer positions only) -> backward -> optional global
 * clipping (SUMSQ per gradient, added, CLIP_SCALE) -> one ADAMW node per trained tensor.
 * The AdamW wiring is the trainer's own (not et_optim_adamw_init) because clipping and
 * accumulation change what the ADAMW nodes read; it fills the same et_optim struct, so
 * et_optim_next_step writes each step's hyperparameters into the hp leaf.
 *
 * Gradient accumulation (grad_accum > 1) bounds memory the honest way: the graph is built
 * over ONE micro-batch; nodes [0, n_bwd) (forward + backward) run once per micro-batch and
 * the trainer adds each parameter's gradient into a persistent f32 accumulator (a leaf the
 * size of the trained tensor, so accumulation costs one extra copy of the adapter, not of the
 * activations); then nodes [n_bwd, n_nodes) (clipping + AdamW, which read the accumulators)
 * run once with grad_scale = 1/accum, i.e. the mean of the micro-batch mean losses' gradients.
 * The clip threshold is applied to that mean: CLIP_SCALE gets max_norm·accum against the norm
 * of the sum (its 1e-6 epsilon is thereby scaled by accum too; immaterial).
 *
 * Data: examples are drawn through a permutation of the training set reshuffled every epoch
 * from a splitmix64 state; a micro-batch takes the next `batch` examples, crossing epoch
 * boundaries.  A sequence keeps the last seq_len tokens of its example (truncation from the
 * left keeps the answer), is right-padded with id 0 (causal attention: padding never affects
 * real positions), and contributes one loss position per answer token (target -1 elsewhere).
 * The state needed to continue exactly (RNG at the epoch's start, epoch, cursor, step, the
 * moments) goes into the checkpoint (models/checkpoint.h); dropout masks are derived from
 * (seed, step, micro-batch), so they need no state.
 *
 * Schedules follow transformers' get_constant_schedule_with_warmup / get_cosine_schedule_with_
 * warmup (lr·s/warmup during warm-up, so the first step has lr 0 when warmup > 0).  A run
 * limited only by a time budget has no known step count: its cosine follows elapsed/budget.
 *
 * Devices: on the CPU the planned graph runs on the executor directly.  On a device backend
 * (cfg.device or cfg.backend) the same planned graph is prepared once (every leaf uploaded:
 * weights, trained tensors, moments), then each run uploads the graph's INPUT leaves (ids,
 * positions, loss positions, targets, dropout seed, AdamW hyperparameters) and downloads the
 * loss; the trained tensors stay on the device, updated in place by its ADAMW nodes, and come
 * down to the host only for a checkpoint and at the end, so a checkpoint written from a
 * device run holds exactly what the device trained.  Accumulation downloads each
 * micro-batch's gradients, adds them on the host as on the CPU, and uploads the sums.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "trainer.h"
#include "checkpoint.h"
#include "profile.h"
#include "vulkan/vk_backend.h"

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t et__mix(uint64_t *s) {   /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

et_train_cfg et_train_defaults(void) {
    et_train_cfg c = {0};
    c.opt = et_adamw_defaults();
    c.opt.lr = 1e-3f;
    c.clip = 1.0f;
    c.sched = ET_SCHED_CONSTANT;
    c.batch = 4;
    c.grad_accum = 1;
    c.seq_len = 256;
    c.seed = 1;
    c.ckpt_every = 50;
    return c;
}

float et_train_lr(const et_train_cfg *cfg, int64_t step, int64_t total, double frac) {
    float lr = cfg->opt.lr;
    if (cfg->warmup > 0 && step < cfg->warmup) return lr * (float)step / (float)cfg->warmup;
    if (cfg->sched == ET_SCHED_CONSTANT) return lr;
    double progress;
    if (total > 0) {
        int64_t span = total - cfg->warmup;
        progress = (double)(step - cfg->warmup) / (double)(span > 1 ? span : 1);
    } else {
        progress = frac;
    }
    if (progress < 0) progress = 0;
    if (progress > 1) progress = 1;
    return (float)(lr * 0.5 * (1.0 + cos(M_PI * progress)));
}

size_t et_train_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) { kb = strtoull(line + 6, NULL, 10); break; }
    fclose(f);
    return kb * 1024;
}

/* FLOPs of one run of nodes [from, to): 2·M·N·K per matrix product (forward, dX, dW), the
 * attention's two products (4·hd·T·S per head, causal masking not discounted; backward
 * counted as twice forward), the head's product in the cross-entropy (and twice that in
 * its backward), and one FLOP per output element for everything else. */
double et_train_graph_flops(const et_graph *g, int32_t from, int32_t to) {
    double f = 0;
    for (int32_t i = from; i < to; i++) {
        const et_tensor *t = g->nodes[i];
        double n = (double)et_nelements(t);
        switch (t->op) {
        case ET_OP_NONE: case ET_OP_VIEW: break;
        case ET_OP_MATMUL:    f += 2.0 * (double)t->src[0]->ne[0] * n; break;
        case ET_OP_MATMUL_DX: f += 2.0 * (double)t->src[1]->ne[0] * n; break;
        case ET_OP_MATMUL_DW: f += 2.0 * (double)et_nrows(t->src[0]) * n; break;
        case ET_OP_ATTN:      f += 4.0 * n * (double)t->src[1]->ne[2]; break;
        case ET_OP_ATTN_BACK: f += 8.0 * (double)et_nelements(t->src[0]) * (double)t->src[1]->ne[2]; break;
        case ET_OP_CROSS_ENTROPY:
            f += 2.0 * (double)et_nelements(t->src[0]) * (double)t->src[1]->ne[1]; break;
        case ET_OP_CROSS_ENTROPY_BACK:
            f += 4.0 * (double)et_nelements(t->src[0]) * (double)t->src[1]->ne[1]; break;
        default: f += n; break;
        }
    }
    return f;
}

double et_train_graph_bytes(const et_graph *g, int32_t from, int32_t to) {
    double b = 0;
    for (int32_t i = from; i < to; i++) {
        const et_tensor *t = g->nodes[i];
        double fl = 0, by = 0;
        if (et_op_table[t->op].cost) et_op_table[t->op].cost(t, &fl, &by);
        b += by;
    }
    return b;
}

/* ---------------------------------------------------------------- the step */

typedef struct et__run {
    et_llama      *m;
    et_train_cfg   cfg;
    et_llama_batch b;
    int64_t        T, B, A;    /* tokens per sequence, sequences, loss slots per sequence */
    et_graph      *g;
    et_tensor     *loss;
    int32_t        n_bwd;      /* nodes [0, n_bwd): forward + backward */
    et_plan        plan;
    et_optim       o;
    et_tensor    **acc;        /* grad_accum > 1: gradient accumulators */
    size_t         leaf_bytes, planned;
    et_backend    *be;         /* NULL: the CPU executor */
    bool           own_be;     /* opened from cfg.device: closed with the run */
} et__run;

static void et__run_free(et__run *r) {
    if (r->be && r->own_be) r->be->free(r->be);
    else if (r->be) et_vk_backend_forget(r->be, 0);   /* the caller's: leave it clear */
    et_plan_free(&r->plan);
    et_optim_free(&r->o);
    if (r->g) et_graph_free(r->g);   /* r->acc is the optimizer's: freed with it */
    memset(r, 0, sizeof *r);
}

static bool __attribute__((format(printf, 3, 4))) et__err(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}
#define ET__ERR(...) et__err(err, errlen, __VA_ARGS__)

/* ---------------------------------------------------------------- the device */

/* Open (or adopt) the run's backend and prepare the planned graph on it.  Called after a
 * resumed checkpoint has been read into the host tensors, so the device starts from them. */
static bool et__device_open(et__run *r, char *err, size_t errlen) {
    const et_train_cfg *c = &r->cfg;
    et_ctx *ctx = r->m->ctx;
    if (c->backend) {
        r->be = c->backend;
        et_vk_backend_forget(r->be, 0);   /* ids of tensors it knew may be reused by ours */
    } else if (c->device && strcmp(c->device, "cpu")) {
        char why[512];
        r->be = et_backend_open(c->device, why, sizeof why);
        if (!r->be) return ET__ERR("trainer: --device %s: %s", c->device, why);
        r->own_be = r->be != et_backend_cpu();
        if (!r->own_be) r->be = NULL;     /* "auto" without a device: said once, on the CPU */
    }
    if (!r->be) return true;
    if (!r->be->prepare(r->be, r->g, &r->plan))
        return ET__ERR("trainer: %s: %s", r->be->name, et_ctx_error(ctx));
    if (c->log) {
        const char *dev = et_vk_backend_device(r->be);
        fprintf(c->log, "device: %s%s%s (forward, backward and AdamW of every step run there)\n",
                r->be->name, dev ? ", " : "", dev ? dev : "");
    }
    return true;
}

/* Nodes [from, to): on the CPU, or on the device after uploading the inputs. */
static bool et__exec(et__run *r, int32_t from, int32_t to, et_profile *prof) {
    if (!r->be) return et_graph_compute_range(r->g, &r->plan, from, to, r->cfg.n_threads, prof);
    if (!et_backend_upload_inputs(r->be, r->g)) return false;
    r->be->prof = prof;
    bool ok = r->be->run(r->be, r->g, &r->plan, from, to);
    r->be->prof = NULL;
    return ok;
}

/* Device -> host copy of t (a no-op on the CPU). */
static bool et__get(et__run *r, et_tensor *t) {
    if (!r->be || r->be->download(r->be, t)) return true;
    return et_ctx_fail(r->m->ctx, "%s: cannot download '%s'", r->be->name, t->name), false;
}

/* Host -> device copy of t (a no-op on the CPU). */
static bool et__put(et__run *r, et_tensor *t) {
    if (!r->be || r->be->upload(r->be, t)) return true;
    return et_ctx_fail(r->m->ctx, "%s: cannot upload '%s'", r->be->name, t->name), false;
}

/* The trained tensors and their moments to the host (checkpoints, the end of the run). */
static bool et__get_state(et__run *r) {
    for (int32_t k = 0; k < r->o.n_params; k++)
        if (!et__get(r, r->o.params[k]) || !et__get(r, r->o.m[k]) || !et__get(r, r->o.v[k])) return false;
    return true;
}

/* AdamW nodes over the trained tensors (engine/optim.c), reading either their gradients or,
 * with accumulation, the optimizer's accumulators; optional global clipping. */
static bool et__wire_optimizer(et__run *r, char *err, size_t errlen) {
    et_ctx *ctx = r->m->ctx;
    int32_t n_all = et_ctx_n_tensors(ctx);
    for (int32_t id = 0; id < n_all; id++) {
        et_tensor *p = et_ctx_tensor(ctx, id);
        if ((p->flags & ET_FLAG_PARAM) && p->grad && (p->type != ET_F32 || !et_is_contiguous(p)))
            return ET__ERR("trainer: trained tensor '%s' must be contiguous f32", p->name);
    }
    et_optim_opts oo = { .clip = r->cfg.clip, .grad_accum = r->cfg.grad_accum };
    if (!et_optim_adamw_init_ex(&r->o, r->g, &r->cfg.opt, &oo))
        return ET__ERR("trainer: optimizer: %s", et_ctx_error(ctx));
    r->acc = r->o.acc;
    return true;
}

static bool et__run_build(et__run *r, et_llama *m, const et_train_cfg *cfg, int64_t max_answer, bool alloc,
                          char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->m = m;
    r->cfg = *cfg;
    r->T = cfg->seq_len;
    r->B = cfg->batch;
    r->A = max_answer < r->T - 1 ? max_answer : r->T - 1;
    et_ctx *ctx = m->ctx;
    if (!et_llama_batch_new(&r->b, m, r->T, r->B, r->A * r->B))
        return ET__ERR("trainer: batch: %s", et_ctx_error(ctx));
    r->loss = et_llama_loss(m, &r->b, cfg->recompute);
    if (!r->loss) return ET__ERR("trainer: model: %s", et_ctx_error(ctx));
    r->g = et_graph_new(ctx, 1 << 16);
    et_backward_opts bo = { .recompute = cfg->recompute, .recompute_cheap = !cfg->keep_activations,
                            .recompute_marked = cfg->recompute_mlp };
    if (!r->g || !et_graph_backward(r->g, r->loss, &bo))
        return ET__ERR("trainer: backward: %s", et_ctx_error(ctx));
    r->n_bwd = r->g->n_nodes;
    if (!et__wire_optimizer(r, err, errlen)) return false;
    if (!et_graph_plan(r->g, &r->plan)) return ET__ERR("trainer: plan: %s", et_ctx_error(ctx));
    r->leaf_bytes = et_ctx_leaf_bytes(ctx);
    r->planned = r->plan.peak_bytes + r->leaf_bytes;
    if (cfg->mem_limit && r->planned > cfg->mem_limit)
        return ET__ERR("memory limit: the run needs %.1f MiB (step buffer %.1f MiB + scratch %.1f MiB + weights, "
                       "adapter and optimizer state %.1f MiB) but the limit is %.1f MiB",
                       r->planned / 1048576.0, r->plan.buffer_bytes / 1048576.0, r->plan.work_bytes / 1048576.0,
                       r->leaf_bytes / 1048576.0, cfg->mem_limit / 1048576.0);
    if (alloc && !et_graph_alloc(r->g, &r->plan)) return ET__ERR("trainer: alloc: %s", et_ctx_error(ctx));
    return true;
}

/* For --profile's memory picture: the same step planned with the other recomputation
 * setting (built, planned, never allocated nor run; its tensors are dropped again). */
static bool et__other_timeline(et_llama *m, const et_train_cfg *cfg, int64_t max_answer, et_mem_timeline *tl,
                               char *err, size_t errlen) {
    et_ctx_mark mark = et_ctx_get_mark(m->ctx);
    et_train_cfg c = *cfg;
    c.recompute = !cfg->recompute;
    c.mem_limit = 0;
    et__run alt;
    bool ok = et__run_build(&alt, m, &c, max_answer, false, err, errlen) &&
              et_mem_timeline_compute(alt.g, tl, err, errlen);
    alt.be = NULL;   /* never opened for an unallocated plan */
    et__run_free(&alt);
    et_ctx_reset(m->ctx, mark);
    return ok;
}

/* Fill the micro-batch from up to B examples (fewer: the rest count nothing). */
static void et__fill(et__run *r, const et_example *const *ex, int64_t n_ex) {
    int32_t *ids = r->b.ids->data, *sel = r->b.sel->data, *tgt = r->b.targets->data;
    for (int64_t j = 0; j < r->B; j++) {
        int32_t *row = ids + j * r->T;   /* (T) */
        memset(row, 0, (size_t)r->T * sizeof *row);
        int64_t L = 0, na = 0;
        if (j < n_ex) {
            const et_example *e = ex[j];
            L = e->n < r->T ? e->n : r->T;
            memcpy(row, e->ids + (e->n - L), (size_t)L * sizeof *row);
            na = e->n_answer < L - 1 ? e->n_answer : L - 1;
            if (na > r->A) na = r->A;
        }
        for (int64_t k = 0; k < r->A; k++) {
            int64_t t = L - na - 1 + k;
            bool on = k < na;
            sel[j * r->A + k] = et_llama_sel_index(r->m, &r->b, on ? t : 0, j);
            tgt[j * r->A + k] = on ? row[t + 1] : -1;
        }
    }
}

static void et__set_dropout_seed(et__run *r, int64_t step, int micro) {
    if (!r->m->ad.seed) return;
    uint64_t s = r->cfg.seed ^ ((uint64_t)step * 0x100000001B3ull + (uint64_t)micro);
    *(int32_t *)r->m->ad.seed->data = (int32_t)(et__mix(&s) & 0x7fffffff);
}

/* ---------------------------------------------------------------- data stream */

typedef struct et__stream {
    int64_t *perm, n, epoch, cursor;
    uint64_t rng, rng_epoch;
} et__stream;

static void et__shuffle(et__stream *s) {
    s->rng_epoch = s->rng;
    for (int64_t i = 0; i < s->n; i++) s->perm[i] = i;
    for (int64_t i = s->n - 1; i > 0; i--) {
        int64_t j = (int64_t)(et__mix(&s->rng) % (uint64_t)(i + 1));
        int64_t t = s->perm[i]; s->perm[i] = s->perm[j]; s->perm[j] = t;
    }
}

static int64_t et__next(et__stream *s) {
    if (s->cursor == s->n) {
        s->epoch++;
        s->cursor = 0;
        et__shuffle(s);
    }
    return s->perm[s->cursor++];
}

/* ---------------------------------------------------------------- checks */

static bool et__check_cfg(const et_train_cfg *c, char *err, size_t errlen) {
    if (c->batch < 1 || c->batch > 1 << 16) return ET__ERR("trainer: batch = %d must be 1..65536", c->batch);
    if (c->grad_accum < 1 || c->grad_accum > 1 << 16)
        return ET__ERR("trainer: grad_accum = %d must be 1..65536", c->grad_accum);
    if (c->seq_len < 2) return ET__ERR("trainer: seq_len = %d must be >= 2", c->seq_len);
    if (c->steps < 0 || c->epochs < 0 || !(c->time_budget_s >= 0))
        return ET__ERR("trainer: steps = %lld, epochs = %d, time_budget_s = %g must be >= 0", (long long)c->steps,
                       c->epochs, c->time_budget_s);
    if (c->steps == 0 && c->epochs == 0 && c->time_budget_s == 0)
        return ET__ERR("trainer: no budget: set steps, epochs or time_budget_s");
    if (!(c->clip >= 0)) return ET__ERR("trainer: clip = %g must be >= 0", c->clip);
    if (c->warmup < 0) return ET__ERR("trainer: warmup = %d must be >= 0", c->warmup);
    if (c->eval_every < 0 || c->early_stop < 0 || c->ckpt_every < 0)
        return ET__ERR("trainer: eval_every = %d, early_stop = %d, ckpt_every = %d must be >= 0", c->eval_every,
                       c->early_stop, c->ckpt_every);
    if (c->resume && !c->ckpt_path) return ET__ERR("trainer: resume needs a checkpoint path");
    return true;
}

static bool et__check_examples(const char *what, const et_example *ex, int64_t n, int32_t vocab, int64_t *max_answer,
                               char *err, size_t errlen) {
    for (int64_t i = 0; i < n; i++) {
        const et_example *e = &ex[i];
        if (!e->ids || e->n < 2 || e->n_answer < 1 || e->n_answer >= e->n)
            return ET__ERR("trainer: %s example %lld: n = %d, n_answer = %d (need n >= 2 and 1 <= n_answer < n)", what,
                           (long long)i, e->n, e->n_answer);
        for (int32_t t = 0; t < e->n; t++)
            if (e->ids[t] < 0 || e->ids[t] >= vocab)
                return ET__ERR("trainer: %s example %lld: token %d = %d is outside the vocabulary [0, %d)", what,
                               (long long)i, t, e->ids[t], vocab);
        if (e->n_answer > *max_answer) *max_answer = e->n_answer;
    }
    return true;
}

/* ---------------------------------------------------------------- evaluation */

/* Mean loss per counted position over the held-out examples (forward nodes only; dropout,
 * when the adapter has it, stays on: its rate is part of the recorded graph). */
static bool et__evaluate(et__run *r, const et_example *ev, int64_t n_ev, const et_example **mb, float *out, char *err,
                         size_t errlen) {
    double sum = 0, cnt = 0;
    for (int64_t i = 0; i < n_ev; i += r->B) {
        int64_t k = n_ev - i < r->B ? n_ev - i : r->B;
        for (int64_t j = 0; j < k; j++) mb[j] = &ev[i + j];
        et__fill(r, mb, k);
        if (!et__exec(r, 0, r->g->n_forward, NULL) || !et__get(r, r->loss))
            return ET__ERR("trainer: evaluation: %s", et_ctx_error(r->m->ctx));
        int64_t c = 0;
        for (int64_t p = 0; p < r->A * r->B; p++) c += ((int32_t *)r->b.targets->data)[p] >= 0;
        sum += (double)*(float *)r->loss->data * (double)c;
        cnt += (double)c;
    }
    *out = cnt > 0 ? (float)(sum / cnt) : NAN;
    return true;
}

/* ---------------------------------------------------------------- progress */

static void et__progress(FILE *log, bool tty, int64_t step, int64_t total, float loss, float lr, double tok_s,
                         double elapsed, double eta, bool final) {
    if (!log) return;
    if (tty) {
        char bar[31];
        int fill = total > 0 ? (int)(30 * step / total) : 0;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(log, "\r[%s] step %lld", bar, (long long)step);
        if (total > 0) fprintf(log, "/%lld", (long long)total);
        fprintf(log, "  loss %.4f  %.0f tok/s  ETA %.0fs   ", loss, tok_s, eta > 0 ? eta : 0);
        if (final) fputc('\n', log);
    } else {
        fprintf(log, "step %lld", (long long)step);
        if (total > 0) fprintf(log, "/%lld", (long long)total);
        fprintf(log, " loss %.4f lr %.3g tokens/s %.0f elapsed %.1fs\n", loss, lr, tok_s, elapsed);
    }
    fflush(log);
}

/* ---------------------------------------------------------------- the loop */

int et_train(et_llama *m, const et_train_cfg *cfg, const et_example *train, int64_t n_train, const et_example *eval,
             int64_t n_eval, et_train_result *res, char *err, size_t errlen) {
    double t_start = et__now();
    memset(res, 0, sizeof *res);
    res->best_eval = INFINITY;
    if (!et__check_cfg(cfg, err, errlen)) return -1;
    if (n_train < 1 || !train) return ET__ERR("trainer: no training examples"), -1;
    int64_t max_answer = 0;
    if (!et__check_examples("training", train, n_train, m->cfg.vocab, &max_answer, err, errlen) ||
        !et__check_examples("evaluation", eval, n_eval > 0 ? n_eval : 0, m->cfg.vocab, &max_answer, err, errlen))
        return -1;

    et__run r;
    memset(&r, 0, sizeof r);
    et__stream s = { .n = n_train };
    const et_example **mb = calloc((size_t)cfg->batch, sizeof *mb);
    s.perm = calloc((size_t)n_train, sizeof *s.perm);
    int rc = -1;
    if (!mb || !s.perm) { snprintf(err, errlen, "trainer: out of memory"); free(mb); free(s.perm); return -1; }
    et_profile *prof = NULL;
    et_mem_timeline other = {0};
    bool have_other = cfg->profile_dir && et__other_timeline(m, cfg, max_answer, &other, err, errlen);
    if (cfg->profile_dir && !have_other) goto done;
    if (!et__run_build(&r, m, cfg, max_answer, true, err, errlen)) goto done;
    res->planned_peak_bytes = r.planned;
    if (cfg->profile_dir && !(prof = et_profile_new(r.g, 0))) { snprintf(err, errlen, "trainer: profile: out of memory"); goto done; }
    if (cfg->log)
        fprintf(cfg->log, "plan: %.1f MiB planned peak (step buffer %.1f MiB + scratch %.1f MiB + weights, adapter "
                "and optimizer state %.1f MiB), %d trained tensors, %d graph nodes\n",
                r.planned / 1048576.0, r.plan.buffer_bytes / 1048576.0, r.plan.work_bytes / 1048576.0,
                r.leaf_bytes / 1048576.0, r.o.n_params, r.g->n_nodes);

    /* budget in steps, where known */
    int64_t per_step = (int64_t)cfg->batch * cfg->grad_accum;
    int64_t total = cfg->steps;
    if (total == 0 && cfg->epochs > 0) total = ((int64_t)cfg->epochs * n_train + per_step - 1) / per_step;
    double step_flops = et_train_graph_flops(r.g, 0, r.n_bwd) * cfg->grad_accum +
                        et_train_graph_flops(r.g, r.n_bwd, r.g->n_nodes);
    double step_bytes = et_train_graph_bytes(r.g, 0, r.n_bwd) * cfg->grad_accum +
                        et_train_graph_bytes(r.g, r.n_bwd, r.g->n_nodes);

    /* fresh start or resume */
    et_ckpt_state st = { .seed = cfg->seed, .batch = cfg->batch, .grad_accum = cfg->grad_accum,
                         .seq_len = cfg->seq_len, .n_train = n_train, .best_eval = INFINITY };
    s.rng = cfg->seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    et__shuffle(&s);
    int64_t step = 0;
    if (cfg->resume && access(cfg->ckpt_path, F_OK) == 0) {
        if (et_ckpt_read(cfg->ckpt_path, &st, &r.o, err, errlen)) goto done;
        s.rng = st.rng_epoch;
        et__shuffle(&s);
        s.epoch = st.epoch;
        s.cursor = st.cursor;
        step = st.step;
        res->resumed = true;
        res->first_loss = st.first_loss;
        res->best_eval = st.best_eval;
        if (cfg->log) fprintf(cfg->log, "resumed from %s at step %lld\n", cfg->ckpt_path, (long long)step);
    }
    int bad_evals = st.bad_evals;
    if (!et__device_open(&r, err, errlen)) goto done;

    bool tty = cfg->log && isatty(fileno(cfg->log));
    int64_t log_every = total > 0 ? (total + 19) / 20 : 10;
    double t_loop = et__now(), t_steps = 0;
    int64_t steps_run = 0;
    float loss = NAN, lr = 0;
    for (;;) {
        if (total > 0 && step >= total) break;
        double elapsed = et__now() - t_start;
        if (cfg->time_budget_s > 0 && elapsed > cfg->time_budget_s) break;
        double t0 = et__now();
        lr = et_train_lr(cfg, step, total, cfg->time_budget_s > 0 ? elapsed / cfg->time_budget_s : 0);
        et_optim_next_step(&r.o, lr, 1.0f / (float)cfg->grad_accum);
        double lsum = 0;
        for (int mi = 0; mi < cfg->grad_accum; mi++) {
            for (int j = 0; j < cfg->batch; j++) mb[j] = &train[et__next(&s)];
            et__fill(&r, mb, cfg->batch);
            et__set_dropout_seed(&r, step, mi);
            int32_t to = r.acc ? r.n_bwd : r.g->n_nodes;
            if (!et__exec(&r, 0, to, prof) || !et__get(&r, r.loss)) {
                snprintf(err, errlen, "trainer: step %lld: %s", (long long)step, et_ctx_error(m->ctx));
                goto done;
            }
            lsum += *(float *)r.loss->data;
            for (int32_t k = 0; r.acc && k < r.o.n_params; k++) {
                if (!et__get(&r, r.o.params[k]->grad)) {
                    snprintf(err, errlen, "trainer: step %lld: %s", (long long)step, et_ctx_error(m->ctx));
                    goto done;
                }
                float *a = r.acc[k]->data;
                const float *gr = r.o.params[k]->grad->data;
                int64_t n = et_nelements(r.acc[k]);
                if (mi == 0) memcpy(a, gr, (size_t)n * sizeof *a);
                else for (int64_t i = 0; i < n; i++) a[i] += gr[i];
            }
        }
        bool put = true;
        for (int32_t k = 0; r.acc && k < r.o.n_params; k++) put = put && et__put(&r, r.acc[k]);
        if (r.acc && (!put || !et__exec(&r, r.n_bwd, r.g->n_nodes, prof))) {
            snprintf(err, errlen, "trainer: step %lld: optimizer: %s", (long long)step, et_ctx_error(m->ctx));
            goto done;
        }
        loss = (float)(lsum / cfg->grad_accum);
        if (!isfinite(loss)) {
            snprintf(err, errlen, "trainer: step %lld: the loss is %g (try a lower learning rate)", (long long)step,
                     loss);
            goto done;
        }
        if (steps_run == 0 && !res->resumed) res->first_loss = loss;
        step++;
        steps_run++;
        t_steps += et__now() - t0;
        res->final_loss = loss;

        bool stop = false;
        if (cfg->eval_every > 0 && n_eval > 0 && step % cfg->eval_every == 0) {
            float ev = NAN;
            if (!et__evaluate(&r, eval, n_eval, mb, &ev, err, errlen)) goto done;
            if (ev < res->best_eval) res->best_eval = ev, bad_evals = 0;
            else bad_evals++;
            if (cfg->log) fprintf(cfg->log, "%seval at step %lld: loss %.4f (best %.4f)\n", tty ? "\n" : "",
                                  (long long)step, ev, res->best_eval);
            if (cfg->early_stop > 0 && bad_evals >= cfg->early_stop) stop = res->stopped_early = true;
        }
        bool last = stop || (total > 0 && step >= total);
        if (cfg->ckpt_path && ((cfg->ckpt_every > 0 && step % cfg->ckpt_every == 0) || last)) {
            st.step = step;
            st.epoch = s.epoch;
            st.cursor = s.cursor;
            st.rng_epoch = s.rng_epoch;
            st.first_loss = res->first_loss;
            st.best_eval = res->best_eval;
            st.bad_evals = bad_evals;
            if (!et__get_state(&r)) {
                snprintf(err, errlen, "trainer: checkpoint at step %lld: %s", (long long)step, et_ctx_error(m->ctx));
                goto done;
            }
            if (et_ckpt_write(cfg->ckpt_path, &st, &r.o, err, errlen)) goto done;
        }
        double tok_s = (double)steps_run * per_step * r.T / (t_steps > 0 ? t_steps : 1e-9);
        double el = et__now() - t_start;
        double eta = total > 0 ? (double)(total - step) * (t_steps / (double)steps_run)
                               : cfg->time_budget_s - el;
        if (tty || step % log_every == 0 || last || stop)
            et__progress(cfg->log, tty, step, total, loss, lr, tok_s, el, eta, last || stop);
        if (stop) break;
    }
    if (tty && cfg->log && steps_run > 0 && !(total > 0 && step >= total) && !res->stopped_early) fputc('\n', cfg->log);
    if (!et__get_state(&r)) {
        snprintf(err, errlen, "trainer: the trained tensors: %s", et_ctx_error(m->ctx));
        goto done;
    }
    (void)t_loop;
    res->steps = step;
    res->seconds = t_steps;
    res->tokens_per_s = t_steps > 0 ? (double)steps_run * per_step * r.T / t_steps : 0;
    res->flops = step_flops * (double)steps_run;
    res->flops_per_step = step_flops;
    res->bytes = step_bytes * (double)steps_run;
    res->bytes_per_step = step_bytes;
    res->peak_rss_bytes = et_train_peak_rss();
    if (steps_run == 0) res->final_loss = NAN;   /* nothing left to do (e.g. resumed at the end) */
    if (prof && !et_profile_write_dir2(prof, cfg->profile_dir, cfg->profile_limits, cfg->log ? cfg->log : stdout,
                                       cfg->recompute ? "with recomputation (as run)" : "without recomputation (as run)",
                                       &other, cfg->recompute ? "without recomputation" : "with recomputation",
                                       err, errlen))
        goto done;
    rc = 0;
done:
    if (have_other) et_mem_timeline_free(&other);
    et_profile_free(prof);
    et__run_free(&r);
    free(mb);
    free(s.perm);
    return rc;
}

/* ---------------------------------------------------------------- calibration */

static double et__cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int et_train_calibrate(et_llama *m, const et_train_cfg *cfg, const et_example *train, int64_t n_train, int n_steps,
                       double *sec_per_step, double *cpu_sec_per_step, char *err, size_t errlen) {
    if (n_steps < 1 || n_steps > 1000) return ET__ERR("trainer: calibration steps = %d must be 1..1000", n_steps), -1;
    et_train_cfg c = *cfg;
    c.steps = 1;   /* only to pass the budget check */
    if (!et__check_cfg(&c, err, errlen)) return -1;
    if (n_train < 1 || !train) return ET__ERR("trainer: no training examples"), -1;
    int64_t max_answer = 0;
    if (!et__check_examples("training", train, n_train, m->cfg.vocab, &max_answer, err, errlen)) return -1;
    et__run r;
    memset(&r, 0, sizeof r);
    const et_example **mb = calloc((size_t)cfg->batch, sizeof *mb);
    double *t = calloc((size_t)n_steps, sizeof *t);
    int rc = -1;
    if (!mb || !t) { snprintf(err, errlen, "trainer: out of memory"); goto done; }
    if (!et__run_build(&r, m, cfg, max_answer, true, err, errlen) || !et__device_open(&r, err, errlen)) goto done;
    /* lr 0 leaves every weight bit-identical (p·1 − 0·u); the moments are zeroed after */
    double cpu0 = 0;
    for (int i = -1; i < n_steps; i++) {   /* step -1: warm-up, not timed */
        if (i == 0) cpu0 = et__cpu_now();
        double t0 = et__now();
        et_optim_next_step(&r.o, 0.0f, 1.0f / (float)cfg->grad_accum);
        for (int mi = 0; mi < cfg->grad_accum; mi++) {
            for (int j = 0; j < cfg->batch; j++) mb[j] = &train[((int64_t)(i + 1) * cfg->batch + j) % n_train];
            et__fill(&r, mb, cfg->batch);
            int32_t to = r.acc ? r.n_bwd : r.g->n_nodes;
            bool ok = et__exec(&r, 0, to, NULL) && et__get(&r, r.loss);
            for (int32_t k = 0; ok && r.acc && k < r.o.n_params; k++) {
                ok = et__get(&r, r.o.params[k]->grad);
                memcpy(r.acc[k]->data, r.o.params[k]->grad->data, et_nbytes(r.acc[k]));
            }
            if (!ok) {
                snprintf(err, errlen, "trainer: calibration: %s", et_ctx_error(m->ctx));
                goto done;
            }
        }
        bool put = true;
        for (int32_t k = 0; r.acc && k < r.o.n_params; k++) put = put && et__put(&r, r.acc[k]);
        if (r.acc && (!put || !et__exec(&r, r.n_bwd, r.g->n_nodes, NULL))) {
            snprintf(err, errlen, "trainer: calibration: %s", et_ctx_error(m->ctx));
            goto done;
        }
        if (i >= 0) t[i] = et__now() - t0;
    }
    if (cpu_sec_per_step) *cpu_sec_per_step = (et__cpu_now() - cpu0) / n_steps;
    for (int32_t k = 0; k < r.o.n_params; k++) {
        memset(r.o.m[k]->data, 0, et_nbytes(r.o.m[k]));
        memset(r.o.v[k]->data, 0, et_nbytes(r.o.v[k]));
    }
    /* median */
    for (int i = 1; i < n_steps; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) { double x = t[j]; t[j] = t[j - 1]; t[j - 1] = x; }
    *sec_per_step = n_steps % 2 ? t[n_steps / 2] : 0.5 * (t[n_steps / 2 - 1] + t[n_steps / 2]);
    rc = 0;
done:
    et__run_free(&r);
    free(mb);
    free(t);
    return rc;
}
