/* Pretraining from scratch (see pretrain.h).  The corpus is one token stream; a training
 * example is a window of T tokens at a seeded random offset (loss on every position but the
 * last, whose successor lies outside the window),
 * which the trainer batches like any other example.  Phase 1 trains on windows of seq_len,
 * phase 2 (the last long_steps steps) on windows of long_seq_len; held-out perplexity is
 * measured afterwards on consecutive windows of the longest trained length.
 *
 * Why two phases and not every step at 1024: the cost of a token grows with its window
 * (attention is O(T) per token; at T = 256 attention and cross-entropy were 85% of a tiny
 * step, `edgetune profile --config pretrain-tiny`), so a 1024 window costs roughly twice
 * what a 256 one does per token today.  Most of what a small model learns (vocabulary,
 * syntax, local coherence) needs no long window; what it needs long windows for is the
 * positions beyond 256 (rope phases it has never seen) and attending far back, which a final
 * phase at the full context teaches, as long-context extension does for large models.  An
 * eighth of the steps at 1024 (same tokens per step: batch 8 x 256 = 2 x 1024) costs ~1.1x
 * the all-256 run and leaves no position of the study's prompts (RAG context <= 384 tokens
 * plus the query) untrained.  Phase 2 restarts AdamW and its own warm-up + cosine at
 * long_lr_scale x the peak (phase 1's cosine ends at 0). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/gguf.h"
#include "llama_gguf.h"
#include "pretrain.h"
#include "tok/tok_gguf.h"

/* ---- the step budgets: the one place to retune them -------------------------------------
 * Sized to fill ~3 / 10 / 30 minutes (issue 7; `make models` <= 45 min with tokenizing and
 * held-out evaluation).
 * Measured on this 2-core machine, quiet (`edgetune pretrain --preset P --steps 16
 * --long-steps 8`, after the tiled attention and the saved cross-entropy log-sum-exps),
 * tokens/s at T = 256 / 1024:
 *     tiny   7900 / 4600   (0.26 s / 0.44 s per 2048-token step; mean 0.28 s)
 *     small  4400 / 2930   (0.47 s / 0.70 s; mean 0.50 s)
 *     medium 2370 / 1480   (0.86 s / 1.39 s; mean 0.93 s)
 * so steps = minutes x 60 / mean step: 3 / 9 / 26 minutes of training, 38 in all, leaving
 * `make models` room for the tokenizer, the held-out evaluations and a busier machine
 * inside its 45 minutes.  To retune, rerun that command and scale.  Whatever the machine, a
 * preset trains exactly this many steps. */
static const struct { const char *name; int64_t steps; } et__budget[] = {
    { "tiny",    620 },   /* ~3 min */
    { "small",  1080 },   /* ~9 min */
    { "medium", 1680 },   /* ~26 min */
};

bool et_pretrain_preset(const char *name, et_pretrain_cfg *c) {
    memset(c, 0, sizeof *c);
    et_llama_config *m = &c->model;
    m->rope_theta = 10000.0f;
    m->rms_eps = 1e-5f;
    m->max_seq = 1024;
    m->tied_embeddings = true;
    c->seq_len = 256;
    c->batch = 8;
    c->long_seq_len = 1024;
    c->long_batch = 2;            /* 2 x 1024 = 8 x 256 tokens per step */
    c->long_lr_scale = 0.3f;
    c->warmup = 50;
    c->seed = 1;
    /* Sizes (non-embedding parameters; the tied 4096-token embedding adds 4096 x dim):
     * tiny 0.30M (6 x 64: the body now outweighs its 0.26M embedding), small 1.18M,
     * medium 3.15M: 10.6x from tiny to medium.  Deep and narrow, as small models do best
     * at a fixed count.  Row widths (64..512) are not multiples of 256, so Q4_K / Q6_K
     * weights fall back to IQ4_NL / Q8_0 (et_llama_compress); the study records the types
     * each cell actually used. */
    if (!strcmp(name, "tiny")) {
        m->dim = 64; m->n_layers = 6; m->n_heads = 4; m->n_kv_heads = 2; m->head_dim = 16; m->ffn = 192;
        c->lr = 3e-3f;
    } else if (!strcmp(name, "small")) {
        m->dim = 128; m->n_layers = 6; m->n_heads = 4; m->n_kv_heads = 2; m->head_dim = 32; m->ffn = 384;
        c->lr = 2e-3f;
    } else if (!strcmp(name, "medium")) {
        m->dim = 192; m->n_layers = 8; m->n_heads = 6; m->n_kv_heads = 2; m->head_dim = 32; m->ffn = 512;
        c->lr = 1.5e-3f;
    } else {
        return false;
    }
    for (size_t i = 0; i < sizeof et__budget / sizeof et__budget[0]; i++)
        if (!strcmp(et__budget[i].name, name)) c->steps = et__budget[i].steps;
    c->long_steps = c->steps / 8;
    return true;
}

/* Mean NLL of the held-out stream in consecutive windows of T tokens (every token after the
 * first of each window scored). */
static int et__heldout(et_llama *m, const int32_t *ids, int64_t n, int32_t T, double *nll, char *err, size_t errlen) {
    double sum = 0;
    int64_t count = 0;
    for (int64_t w0 = 0; w0 + 1 < n; w0 += T) {
        int64_t len = n - w0 < T ? n - w0 : T;
        if (len < 2) break;
        et_ctx_mark mk = et_ctx_get_mark(m->ctx);
        et_llama_batch b;
        bool ok = et_llama_batch_new(&b, m, len, 1, len - 1);
        if (ok) {
            memcpy(b.ids->data, ids + w0, (size_t)len * sizeof *ids);
            for (int64_t p = 0; p + 1 < len; p++) {
                ((int32_t *)b.sel->data)[p] = (int32_t)p;
                ((int32_t *)b.targets->data)[p] = ids[w0 + p + 1];
            }
        }
        et_tensor *out = ok ? et_llama_nll(m, &b) : NULL;
        et_graph *g = et_graph_new(m->ctx, 1 << 15);
        et_plan plan = {0};
        ok = g && out && et_graph_add(g, out) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
             et_graph_compute(g, &plan, 0);
        if (ok) for (int64_t p = 0; p + 1 < len; p++) sum += ((const float *)out->data)[p];
        else snprintf(err, errlen, "held-out evaluation: %s", et_ctx_error(m->ctx));
        count += ok ? len - 1 : 0;
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_reset(m->ctx, mk);
        if (!ok) return -1;
    }
    *nll = count ? sum / (double)count : NAN;
    return 0;
}

/* One phase: n_steps optimizer steps (or `seconds` of wall clock when > 0) on batch windows
 * of T tokens (T positions, each but the last predicting its successor) at offsets drawn
 * from a stream seeded by `seed`.  T may be the model's whole context. */
static int et__phase(et_llama *m, const et_pretrain_cfg *cfg, const int32_t *train, int64_t n_train, int32_t T,
                     int32_t batch, int64_t n_steps, double seconds, float lr, uint64_t seed, et_train_result *tr,
                     char *err, size_t errlen) {
    if (n_train < (int64_t)T * 4) {
        snprintf(err, errlen, "pretrain: the corpus has %lld tokens, fewer than 4 windows of %d", (long long)n_train, T);
        return -1;
    }
    /* enough windows that a step-counted run does not repeat one (capped at 4 per window
     * position of the stream: a longer run cycles through them again, reshuffled) */
    int64_t n_ex = n_steps > 0 ? n_steps * batch : n_train / T * 4;
    if (n_ex > n_train / T * 4) n_ex = n_train / T * 4;
    if (n_ex < batch) n_ex = batch;
    et_example *ex = malloc((size_t)n_ex * sizeof *ex);
    if (!ex) { snprintf(err, errlen, "pretrain: out of memory"); return -1; }
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 7;
    for (int64_t i = 0; i < n_ex; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        int64_t off = (int64_t)(s % (uint64_t)(n_train - T));
        ex[i] = (et_example){ train + off, T, T - 1 };
    }
    et_train_cfg tc = et_train_defaults();
    tc.opt.lr = lr;
    tc.opt.weight_decay = 0.1f;
    tc.opt.beta2 = 0.95f;
    tc.clip = 1.0f;
    tc.sched = ET_SCHED_COSINE;
    tc.warmup = n_steps > 0 && cfg->warmup > n_steps / 4 ? (int32_t)(n_steps / 4) : cfg->warmup;
    tc.steps = seconds > 0 ? 0 : n_steps;
    tc.time_budget_s = seconds;
    tc.batch = batch;
    tc.seq_len = T;
    tc.seed = seed;
    tc.n_threads = cfg->n_threads;
    tc.device = cfg->device;
    tc.log = cfg->log;
    if (cfg->log) fprintf(cfg->log, "phase: windows of %d tokens, batch %d, %s %lld%s, peak lr %g\n", T, batch,
                          seconds > 0 ? "wall clock" : "steps", seconds > 0 ? (long long)seconds : (long long)n_steps,
                          seconds > 0 ? " s" : "", (double)lr);
    int rc = et_train(m, &tc, ex, n_ex, NULL, 0, tr, err, errlen);
    free(ex);
    return rc;
}

int et_pretrain_run(const et_pretrain_cfg *cfg, const et_tok *tok, const int32_t *train, int64_t n_train,
                    const int32_t *heldout, int64_t n_heldout, const char *out_gguf, et_pretrain_result *res,
                    char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    int32_t T1 = cfg->seq_len, T2 = cfg->long_seq_len > 0 ? cfg->long_seq_len : 0;
    int64_t s2 = T2 > 0 ? cfg->long_steps : 0, s1 = cfg->steps - s2;
    if (T1 < 2 || (T2 > 0 && T2 < T1) || T1 > cfg->model.max_seq || T2 > cfg->model.max_seq || cfg->batch < 1 ||
        (s2 > 0 && cfg->long_batch < 1) || s2 < 0 || (cfg->minutes <= 0 && (cfg->steps < 1 || s1 < 0))) {
        snprintf(err, errlen, "pretrain: windows %d / %d (max_seq %d), batches %d / %d, steps %lld of which %lld long, "
                 "minutes %g: not a valid budget", T1, T2, cfg->model.max_seq, cfg->batch, cfg->long_batch,
                 (long long)cfg->steps, (long long)cfg->long_steps, cfg->minutes);
        return -1;
    }
    /* a wall-clock override splits the time in proportion to the preset's step counts */
    double frac2 = cfg->steps > 0 ? (double)s2 / (double)cfg->steps : 0;
    double sec1 = cfg->minutes > 0 ? cfg->minutes * 60 * (1 - frac2) : 0, sec2 = cfg->minutes > 0 ? cfg->minutes * 60 * frac2 : 0;
    bool long_phase = T2 > 0 && (cfg->minutes > 0 ? sec2 > 0 : s2 > 0);
    et_ctx *ctx = et_ctx_new(1 << 17);
    et_llama m;
    int rc = -1;
    if (!ctx || !et_llama_init(&m, ctx, &cfg->model, cfg->seed, 0) || !et_llama_train_all(&m)) {
        snprintf(err, errlen, "pretrain: %s", ctx ? et_ctx_error(ctx) : "out of memory");
        goto done;
    }
    res->n_params = et_llama_n_params(&cfg->model, true);
    res->n_params_nonembed = et_llama_n_params(&cfg->model, false);
    et_ctx_mark trained = et_ctx_get_mark(ctx);   /* the weights; each phase's graph goes after */
    et_train_result tr;
    memset(&tr, 0, sizeof tr);
    if ((cfg->minutes > 0 ? sec1 > 0 : s1 > 0)) {
        if (et__phase(&m, cfg, train, n_train, T1, cfg->batch, s1, sec1, cfg->lr, cfg->seed, &tr, err, errlen)) goto done;
        et_ctx_reset(ctx, trained);
        res->steps += tr.steps;
        res->tokens += tr.steps * (int64_t)cfg->batch * T1;
        res->seconds += tr.seconds;
        res->train_loss = tr.final_loss;
    }
    if (long_phase) {
        if (et__phase(&m, cfg, train, n_train, T2, cfg->long_batch, s2, sec2, cfg->lr * cfg->long_lr_scale,
                      cfg->seed + 1, &tr, err, errlen))
            goto done;
        et_ctx_reset(ctx, trained);
        res->steps += tr.steps;
        res->long_steps = tr.steps;
        res->long_tokens = tr.steps * (int64_t)cfg->long_batch * T2;
        res->tokens += res->long_tokens;
        res->seconds += tr.seconds;
        res->long_seconds = tr.seconds;
        res->train_loss = tr.final_loss;
    }
    /* the first 64K held-out tokens: enough for a perplexity to 3 digits, seconds to compute;
     * in windows of the longest trained length, the context the study uses */
    res->heldout_window = long_phase ? T2 : T1;
    int64_t nh = n_heldout < 65536 ? n_heldout : 65536;
    if (nh > 1 && et__heldout(&m, heldout, nh, res->heldout_window, &res->heldout_nll, err, errlen)) goto done;
    res->heldout_ppl = exp(res->heldout_nll);
    et_gguf_writer *w = et_gguf_writer_new();
    if (!w) { snprintf(err, errlen, "pretrain: out of memory"); goto done; }
    /* general.name: the file's stem ("tiny" for build/models/tiny.gguf) */
    char name[128];
    const char *base = strrchr(out_gguf, '/') ? strrchr(out_gguf, '/') + 1 : out_gguf;
    snprintf(name, sizeof name, "%.*s", (int)(strstr(base, ".gguf") ? strstr(base, ".gguf") - base : (ptrdiff_t)strlen(base)), base);
    et_llama_to_gguf(&m, w, name);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.steps", (uint64_t)res->steps);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.long_steps", (uint64_t)res->long_steps);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.tokens", (uint64_t)res->tokens);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.seq_len", (uint64_t)T1);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.long_seq_len", (uint64_t)(long_phase ? T2 : 0));
    et_gguf_writer_set_u64(w, "edgetune.pretrain.seed", cfg->seed);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.n_params_nonembed", (uint64_t)res->n_params_nonembed);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.heldout_window", (uint64_t)res->heldout_window);
    et_gguf_writer_set_f64(w, "edgetune.pretrain.heldout_ppl", res->heldout_ppl);
    if (et_tok_to_gguf(tok, w, err, errlen) == 0 && et_gguf_writer_write(w, out_gguf, err, errlen) == 0) rc = 0;
    et_gguf_writer_free(w);
done:
    et_ctx_free(ctx);
    return rc;
}
