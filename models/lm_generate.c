/* Decoding with a KV cache (greedy or sampled, stop strings, streaming) and perplexity-style
 * log-likelihoods over long token sequences.  One decode step = one small graph recorded
 * after a context mark: the prompt in one step (prefill), then one token per step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lm_internal.h"

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int32_t *et_lm_tokenize(et_lm *lm, const char *text, bool add_bos, int32_t *n) {
    return et__lm_tokenize(lm, text, add_bos, n);
}
int32_t et_lm_vocab(const et_lm *lm) { return lm->m.cfg.vocab; }

/* ---------------------------------------------------------------- sampling */

static uint64_t et__rng(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

typedef struct { float p; int32_t id; } et__cand;
static int et__by_p(const void *a, const void *b) {
    const et__cand *x = a, *y = b;
    return x->p < y->p ? 1 : x->p > y->p ? -1 : (x->id > y->id) - (x->id < y->id);
}

/* Pick a token from logits; cands is scratch of vocab entries. */
static int32_t et__pick(const float *lg, int32_t V, const et_sample_opts *so, uint64_t *rng, et__cand *c) {
    int32_t best = 0;
    for (int32_t v = 1; v < V; v++) if (lg[v] > lg[best]) best = v;
    if (!so || so->temperature <= 0) return best;
    double mx = lg[best], sum = 0;
    for (int32_t v = 0; v < V; v++) { c[v].id = v; c[v].p = (float)exp((lg[v] - mx) / so->temperature); sum += c[v].p; }
    int32_t n = V;
    if ((so->top_k > 0 && so->top_k < V) || (so->top_p > 0 && so->top_p < 1)) {
        qsort(c, (size_t)V, sizeof *c, et__by_p);
        if (so->top_k > 0 && so->top_k < n) n = so->top_k;
        if (so->top_p > 0 && so->top_p < 1) {
            double acc = 0;
            for (int32_t i = 0; i < n; i++) {
                acc += c[i].p / sum;
                if (acc >= so->top_p) { n = i + 1; break; }
            }
        }
        sum = 0;
        for (int32_t i = 0; i < n; i++) sum += c[i].p;
    }
    double r = (et__rng(rng) >> 11) * (1.0 / 9007199254740992.0) * sum, acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += c[i].p;
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}

/* ---------------------------------------------------------------- the decode loop */

/* Where the first stop string occurs in text[0..len), or -1. */
static long et__find_stop(const char *text, size_t len, const char *const *stop) {
    long at = -1;
    for (int i = 0; stop && stop[i]; i++) {
        size_t sl = strlen(stop[i]);
        if (!sl || sl > len) continue;
        for (size_t j = 0; j + sl <= len; j++)
            if (!memcmp(text + j, stop[i], sl)) { if (at < 0 || (long)j < at) at = (long)j; break; }
    }
    return at;
}

static size_t et__max_stop(const char *const *stop) {
    size_t m = 0;
    for (int i = 0; stop && stop[i]; i++) if (strlen(stop[i]) > m) m = strlen(stop[i]);
    return m;
}

static int et__decode(et_lm *lm, const char *prompt, int max_new, const et_sample_opts *so,
                      const char *const *stop, int32_t *gen, int *n_out, char *text, size_t textlen,
                      et_gen_stats *st, char *err, size_t errlen) {
    *n_out = 0;
    if (st) memset(st, 0, sizeof *st);
    if (lm->m.ad.kind == ET_ADAPTER_PROMPT) {
        snprintf(err, errlen, "generate: a prompt-tuned model scores but does not decode with a KV cache yet");
        return -1;
    }
    if (max_new < 0 || max_new > 1 << 20) { snprintf(err, errlen, "generate: max_new %d (0..2^20)", max_new); return -1; }
    int32_t np = 0, *pids = et__lm_tokenize(lm, prompt, true, &np);
    if (!pids) { snprintf(err, errlen, "generate: cannot tokenize the prompt"); return -1; }
    int32_t room = lm->n_ctx - max_new;
    if (room < 1) {
        free(pids);
        snprintf(err, errlen, "generate: %d new tokens leave no room in the context of %d", max_new, lm->n_ctx);
        return -1;
    }
    int32_t keep = np < room ? np : room, skip = np - keep, V = lm->m.cfg.vocab;
    size_t cap = 4096, tlen = 0, emitted = 0, hold = et__max_stop(stop);
    char *buf = malloc(cap);
    et__cand *cands = malloc((size_t)V * sizeof *cands);
    et_ctx_mark outer = et_ctx_get_mark(lm->ctx);
    et_llama_cache cache;
    int rc = -1, n_gen = 0;
    uint64_t rng = so ? so->seed : 0;
    if (!buf || !cands) { snprintf(err, errlen, "generate: out of memory"); goto done; }
    if (!et_llama_cache_new(&cache, &lm->m, lm->ctx, keep + max_new)) {
        snprintf(err, errlen, "generate: %s", et_ctx_error(lm->ctx));
        goto done;
    }
    if (st) {
        st->n_prompt = keep;
        st->kv_bytes = 2 * (size_t)lm->m.cfg.n_layers * (size_t)(keep + max_new) * (size_t)lm->m.cfg.head_dim *
                       (size_t)lm->m.cfg.n_kv_heads * sizeof(float);
    }
    int32_t n_past = 0, eos = et_tok_eos(lm->tok);
    const int32_t *feed = pids + skip;
    int32_t n_feed = keep;
    double t0 = et__now();
    while (n_gen < max_new) {
        et_ctx_mark inner = et_ctx_get_mark(lm->ctx);
        et_tensor *ids = et_new_1d(lm->ctx, ET_I32, n_feed, ET_FLAG_INPUT, "ids");
        et_tensor *pos = et_new_1d(lm->ctx, ET_I32, n_feed, ET_FLAG_INPUT, "pos");
        if (!ids || !pos) { snprintf(err, errlen, "generate: %s", et_ctx_error(lm->ctx)); goto done; }
        memcpy(ids->data, feed, (size_t)n_feed * sizeof *feed);
        for (int32_t i = 0; i < n_feed; i++) ((int32_t *)pos->data)[i] = n_past + i;
        et_tensor *logits = et_llama_decode(&lm->m, &cache, ids, pos, n_past);
        et_graph *g = et_graph_new(lm->ctx, 1 << 14);
        et_plan plan = {0};
        bool ok = g && logits && et_graph_add(g, logits) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
                  et_graph_compute(g, &plan, lm->n_threads);
        if (!ok) snprintf(err, errlen, "generate: %s", et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
        int32_t tok = ok ? et__pick(logits->data, V, so, &rng, cands) : -1;
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_reset(lm->ctx, inner);
        if (!ok) goto done;
        if (st) { if (n_past == 0) st->prefill_s = et__now() - t0; else st->decode_s = et__now() - t0 - st->prefill_s; }
        n_past += n_feed;
        if (tok == eos) break;
        gen[n_gen++] = tok;
        /* the text so far, to find stop strings and to stream the new part */
        for (;;) {
            size_t need = et_tok_decode(lm->tok, gen, n_gen, ET_TOK_SKIP_SPECIAL, buf, cap);
            if (need < cap) { tlen = need; break; }
            char *nb = realloc(buf, need + 1);
            if (!nb) { snprintf(err, errlen, "generate: out of memory"); goto done; }
            buf = nb;
            cap = need + 1;
        }
        long at = et__find_stop(buf, tlen, stop);
        if (at >= 0) { tlen = (size_t)at; n_gen--; }
        if (so && so->on_text) {
            size_t safe = at >= 0 ? tlen : (tlen > hold ? tlen - (hold ? hold - 1 : 0) : 0);
            if (safe > emitted) { so->on_text(so->user, buf + emitted, safe - emitted); emitted = safe; }
        }
        if (at >= 0) break;
        feed = &gen[n_gen - 1];
        n_feed = 1;
    }
    if (so && so->on_text && tlen > emitted) so->on_text(so->user, buf + emitted, tlen - emitted);
    if (text && textlen) {
        size_t n = tlen < textlen - 1 ? tlen : textlen - 1;
        memcpy(text, buf, n);
        text[n] = 0;
    }
    if (st) st->n_gen = n_gen;
    *n_out = n_gen;
    rc = 0;
done:
    et_ctx_reset(lm->ctx, outer);
    free(cands);
    free(buf);
    free(pids);
    return rc;
}

int et_lm_generate_ids(et_lm *lm, const char *prompt, int max_new, int32_t *gen, int *n_out, char *err,
                       size_t errlen) {
    static const char *const nl[] = {"\n", NULL};
    return et__decode(lm, prompt, max_new, NULL, nl, gen, n_out, NULL, 0, NULL, err, errlen);
}

int et_lm_generate_ex(et_lm *lm, const char *prompt, int max_new, const et_sample_opts *so, char *out,
                      size_t outlen, et_gen_stats *st, char *err, size_t errlen) {
    int32_t *gen = malloc(((size_t)(max_new > 0 ? max_new : 0) + 1) * sizeof *gen);
    int n = 0;
    if (!gen) { snprintf(err, errlen, "generate: out of memory"); return -1; }
    int rc = et__decode(lm, prompt, max_new, so, so ? so->stop : NULL, gen, &n, out, outlen, st, err, errlen);
    free(gen);
    return rc;
}

/* ---------------------------------------------------------------- log-likelihood */

int et_lm_nll(et_lm *lm, const int32_t *ids, int64_t n, int mode, int n_ctx, double *sum_nll, int64_t *count,
              char *err, size_t errlen) {
    *sum_nll = 0;
    *count = 0;
    if (n_ctx <= 1 || n_ctx > lm->n_ctx) n_ctx = lm->n_ctx;
    if (n < 2) { snprintf(err, errlen, "perplexity: need at least 2 tokens, got %lld", (long long)n); return -1; }
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= lm->m.cfg.vocab) {
            snprintf(err, errlen, "perplexity: token %lld is %d, outside the vocabulary [0, %d)", (long long)i, ids[i],
                     lm->m.cfg.vocab);
            return -1;
        }
    int32_t bos = et_tok_bos(lm->tok);
    if (mode == 1 && bos < 0) { snprintf(err, errlen, "perplexity: llama mode needs a BOS token"); return -1; }
    /* full: windows overlap by one token so every token after the very first is scored once */
    int64_t step = mode == 1 ? n_ctx : n_ctx - 1;
    for (int64_t w0 = 0; w0 + 1 < n; w0 += step) {
        int64_t T = n - w0 < n_ctx ? n - w0 : n_ctx;
        if (mode == 1 && T < n_ctx) break;   /* llama.cpp scores whole windows only */
        int64_t first = mode == 1 ? T / 2 : 0;   /* positions whose next token is scored: first..T-2 */
        int64_t P = T - 1 - first;
        if (P <= 0) break;
        et_ctx_mark mk = et_ctx_get_mark(lm->ctx);
        et_llama_batch b;
        if (!et_llama_batch_new(&b, &lm->m, T, 1, P)) { snprintf(err, errlen, "%s", et_ctx_error(lm->ctx)); et_ctx_reset(lm->ctx, mk); return -1; }
        memcpy(b.ids->data, ids + w0, (size_t)T * sizeof *ids);
        if (mode == 1) ((int32_t *)b.ids->data)[0] = bos;
        for (int64_t p = 0; p < P; p++) {
            ((int32_t *)b.sel->data)[p] = et_llama_sel_index(&lm->m, &b, first + p, 0);
            ((int32_t *)b.targets->data)[p] = ids[w0 + first + p + 1];
        }
        et_tensor *nll = et_llama_nll(&lm->m, &b);
        et_graph *g = et_graph_new(lm->ctx, 1 << 15);
        et_plan plan = {0};
        bool ok = g && nll && et_graph_add(g, nll) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
                  et_graph_compute(g, &plan, lm->n_threads);
        if (ok) for (int64_t p = 0; p < P; p++) *sum_nll += ((const float *)nll->data)[p];
        else snprintf(err, errlen, "perplexity: %s", et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
        *count += ok ? P : 0;
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_reset(lm->ctx, mk);
        if (!ok) return -1;
        if (w0 + T >= n) break;
    }
    if (*count == 0) { snprintf(err, errlen, "perplexity: %lld tokens fill no window of %d", (long long)n, n_ctx); return -1; }
    return 0;
}
