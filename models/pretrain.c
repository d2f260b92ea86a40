/* Pretraining from scratch (see pretrain.h).  The corpus is one token stream; a training
 * example is a window of seq_len+1 tokens at a seeded random offset (loss on every position),
 * which the trainer batches like any other example.  Held-out perplexity is measured on
 * consecutive windows of the held-out stream after training. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/gguf.h"
#include "llama_gguf.h"
#include "pretrain.h"
#include "tok/tok_gguf.h"

bool et_pretrain_preset(const char *name, et_pretrain_cfg *c) {
    memset(c, 0, sizeof *c);
    et_llama_config *m = &c->model;
    m->rope_theta = 10000.0f;
    m->rms_eps = 1e-5f;
    m->max_seq = 1024;
    m->tied_embeddings = true;
    c->seq_len = 256;
    c->batch = 8;
    c->warmup = 50;
    c->seed = 1;
    if (!strcmp(name, "tiny")) {
        m->dim = 64; m->n_layers = 4; m->n_heads = 4; m->n_kv_heads = 2; m->head_dim = 16; m->ffn = 192;
        c->lr = 3e-3f; c->minutes = 3;
    } else if (!strcmp(name, "small")) {
        m->dim = 128; m->n_layers = 6; m->n_heads = 4; m->n_kv_heads = 2; m->head_dim = 32; m->ffn = 384;
        c->lr = 2e-3f; c->minutes = 10;
    } else if (!strcmp(name, "medium")) {
        m->dim = 192; m->n_layers = 8; m->n_heads = 6; m->n_kv_heads = 2; m->head_dim = 32; m->ffn = 512;
        c->lr = 1.5e-3f; c->minutes = 30;
    } else {
        return false;
    }
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

int et_pretrain_run(const et_pretrain_cfg *cfg, const et_tok *tok, const int32_t *train, int64_t n_train,
                    const int32_t *heldout, int64_t n_heldout, const char *out_gguf, et_pretrain_result *res,
                    char *err, size_t errlen) {
    memset(res, 0, sizeof *res);
    int32_t T = cfg->seq_len;
    if (n_train < (int64_t)T * 4) {
        snprintf(err, errlen, "pretrain: the corpus has %lld tokens, fewer than 4 windows of %d", (long long)n_train, T);
        return -1;
    }
    et_ctx *ctx = et_ctx_new(1 << 17);
    et_llama m;
    int rc = -1;
    et_example *ex = NULL;
    if (!ctx || !et_llama_init(&m, ctx, &cfg->model, cfg->seed, 0) || !et_llama_train_all(&m)) {
        snprintf(err, errlen, "pretrain: %s", ctx ? et_ctx_error(ctx) : "out of memory");
        goto done;
    }
    res->n_params = et_llama_n_params(&cfg->model, true);
    res->n_params_nonembed = et_llama_n_params(&cfg->model, false);
    /* examples: windows of T+1 tokens at seeded offsets; enough of them for the budget */
    int64_t n_ex = n_train / T * 4;
    ex = malloc((size_t)n_ex * sizeof *ex);
    if (!ex) { snprintf(err, errlen, "pretrain: out of memory"); goto done; }
    uint64_t s = cfg->seed * 0x9E3779B97F4A7C15ULL + 7;
    for (int64_t i = 0; i < n_ex; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        int64_t off = (int64_t)(s % (uint64_t)(n_train - T - 1));
        ex[i] = (et_example){ train + off, T + 1, T };
    }
    et_train_cfg tc = et_train_defaults();
    tc.opt.lr = cfg->lr;
    tc.opt.weight_decay = 0.1f;
    tc.opt.beta2 = 0.95f;
    tc.clip = 1.0f;
    tc.sched = ET_SCHED_COSINE;
    tc.warmup = cfg->warmup;
    tc.steps = cfg->steps;
    tc.time_budget_s = cfg->steps > 0 ? 0 : cfg->minutes * 60.0;
    tc.batch = cfg->batch;
    tc.seq_len = T + 1;
    tc.seed = cfg->seed;
    tc.n_threads = cfg->n_threads;
    tc.log = cfg->log;
    et_train_result tr;
    if (et_train(&m, &tc, ex, n_ex, NULL, 0, &tr, err, errlen)) goto done;
    et_ctx_reset(ctx, et_ctx_get_mark(ctx));
    res->steps = tr.steps;
    res->tokens = tr.steps * (int64_t)cfg->batch * T;
    res->seconds = tr.seconds;
    res->train_loss = tr.final_loss;
    /* the first 64K held-out tokens: enough for a perplexity to 3 digits, seconds to compute */
    int64_t nh = n_heldout < 65536 ? n_heldout : 65536;
    if (nh > 1 && et__heldout(&m, heldout, nh, T, &res->heldout_nll, err, errlen)) goto done;
    res->heldout_ppl = exp(res->heldout_nll);
    et_gguf_writer *w = et_gguf_writer_new();
    if (!w) { snprintf(err, errlen, "pretrain: out of memory"); goto done; }
    et_llama_to_gguf(&m, w, out_gguf);
    et_gguf_writer_set_u64(w, "edgetune.pretrain.steps", (uint64_t)res->steps);
    et_gguf_writer_set_f64(w, "edgetune.pretrain.heldout_ppl", res->heldout_ppl);
    if (et_tok_to_gguf(tok, w, err, errlen) == 0 && et_gguf_writer_write(w, out_gguf, err, errlen) == 0) rc = 0;
    et_gguf_writer_free(w);
done:
    free(ex);
    et_ctx_free(ctx);
    return rc;
}
