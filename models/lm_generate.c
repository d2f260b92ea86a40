/* Decoding with a KV cache (greedy or sampled, stop strings, streaming, chat turns) and
 * perplexity-style log-likelihoods over long token sequences, on the model's device.
 *
 * One decode step = one small graph recorded after a context mark: the prompt in one step
 * (prefill), then one token per step.  Every graph runs through et__lm_compute(), which
 * sends it to the CPU executor or to the device backend (et_lm_opts.device); a device keeps
 * the weights and the KV cache across steps and forgets each step's own tensors, whose ids
 * the next step reuses after et_ctx_reset.
 *
 * Sampling follows Hugging Face generate()'s order (temperature, top-k, top-p, draw), with a
 * splitmix64 stream from the seed, so a seed reproduces its output exactly on one machine. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "lm_internal.h"
#include "profile.h"
#include "vulkan/vk_backend.h"

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int32_t *et_lm_tokenize(et_lm *lm, const char *text, bool add_bos, int32_t *n) {
    return et__lm_tokenize(lm, text, add_bos, n);
}
int32_t et_lm_vocab(const et_lm *lm) { return lm->m.cfg.vocab; }

/* ---------------------------------------------------------------- running a graph */

bool et__lm_compute(et_lm *lm, et_tensor *const *outs, int n, et_ctx_mark keep, et_graph **gp, et_plan *plan) {
    memset(plan, 0, sizeof *plan);
    /* the planner sizes the kernels' scratch for omp_get_max_threads(): set the count first */
    if (!lm->be && lm->n_threads > 0) omp_set_num_threads(lm->n_threads);
    et_graph *g = *gp = et_graph_new(lm->ctx, 1 << 15);
    if (!g) return et_ctx_fail(lm->ctx, "out of memory (graph)"), false;
    for (int i = 0; i < n; i++) {
        if (!outs[i] || !et_graph_add(g, outs[i])) return false;
        outs[i]->flags |= ET_FLAG_OUTPUT;
    }
    if (!et_graph_plan(g, plan) || !et_graph_alloc(g, plan)) return false;
    if (!lm->be) return et_graph_compute(g, plan, lm->n_threads);
    et_vk_backend_forget(lm->be, keep.n_tensors);
    if (!lm->be->prepare(lm->be, g, plan) || !lm->be->run(lm->be, g, plan, 0, g->n_nodes)) return false;
    for (int i = 0; i < n; i++)
        if (!lm->be->download(lm->be, outs[i]))
            return et_ctx_fail(lm->ctx, "%s: cannot download '%s'", lm->be->name, outs[i]->name), false;
    return true;
}

/* The context's error after a failed graph, prefixed with what was being done. */
static void et__graph_err(et_lm *lm, const char *what, char *err, size_t errlen) {
    snprintf(err, errlen, "%s%s: %s", what, lm->be ? " (device)" : "",
             et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
}

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

/* The candidates a draw picks from, in c[0..n) with probabilities summing to 1.  sorted:
 * most likely first even when no top-k/top-p needs the order (for callers that list them). */
static int32_t et__cands(const float *lg, int32_t V, const et_sample_opts *so, et__cand *c, bool sorted) {
    int32_t best = 0;
    for (int32_t v = 1; v < V; v++) if (lg[v] > lg[best]) best = v;
    if (!so || so->temperature <= 0) { c[0] = (et__cand){ 1.0f, best }; return 1; }
    double mx = lg[best], sum = 0;
    for (int32_t v = 0; v < V; v++) { c[v].id = v; c[v].p = (float)exp((lg[v] - mx) / so->temperature); sum += c[v].p; }
    int32_t n = V;
    bool top_k = so->top_k > 0 && so->top_k < V, top_p = so->top_p > 0 && so->top_p < 1;
    if (top_k || top_p || sorted) qsort(c, (size_t)V, sizeof *c, et__by_p);
    if (top_k) {
        n = so->top_k;
        sum = 0;
        for (int32_t i = 0; i < n; i++) sum += c[i].p;
    }
    if (top_p) {   /* the smallest prefix whose probability reaches top_p (at least one token) */
        double acc = 0;
        for (int32_t i = 0; i < n; i++) {
            acc += c[i].p / sum;
            if (acc >= so->top_p) { n = i + 1; break; }
        }
        sum = 0;
        for (int32_t i = 0; i < n; i++) sum += c[i].p;
    }
    for (int32_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
    return n;
}

int32_t et_sample_candidates(const float *logits, int32_t V, const et_sample_opts *so, int32_t *ids, float *probs) {
    if (V < 1) return 0;
    et__cand *c = malloc((size_t)V * sizeof *c);
    if (!c) return 0;
    int32_t n = et__cands(logits, V, so, c, true);
    for (int32_t i = 0; i < n; i++) { ids[i] = c[i].id; probs[i] = c[i].p; }
    free(c);
    return n;
}

/* Pick a token from logits; c is scratch of V entries. */
static int32_t et__pick(const float *lg, int32_t V, const et_sample_opts *so, uint64_t *rng, et__cand *c) {
    int32_t n = et__cands(lg, V, so, c, false);
    if (n == 1) return c[0].id;
    double r = (et__rng(rng) >> 11) * (1.0 / 9007199254740992.0), acc = 0;
    for (int32_t i = 0; i < n; i++) {
        acc += c[i].p;
        if (r < acc) return c[i].id;
    }
    return c[n - 1].id;
}

/* ---------------------------------------------------------------- chat */

char *et_lm_chat_prompt(et_lm *lm, const char *style, const char *system, const char *user, char *err,
                        size_t errlen) {
    et_chat_style cs = et_tok_chat_style(lm->tok);
    if (style) {
        int s = et_chat_from_name(style);
        if (s <= 0) {
            snprintf(err, errlen, "chat template '%s' is not llama2, llama3, chatml or gemma", style);
            return NULL;
        }
        cs = (et_chat_style)s;
    }
    if (cs == ET_CHAT_NONE) {
        snprintf(err, errlen, "the model names no chat template (tokenizer.chat_template): choose one of "
                              "llama2, llama3, chatml, gemma");
        return NULL;
    }
    et_chat_msg msgs[2];
    int n = 0;
    if (system) msgs[n++] = (et_chat_msg){ "system", system };
    msgs[n++] = (et_chat_msg){ "user", user };
    size_t need = et_chat_render(cs, msgs, n, 1, NULL, 0);
    char *out = malloc(need + 1);
    if (!out) { snprintf(err, errlen, "chat: out of memory"); return NULL; }
    et_chat_render(cs, msgs, n, 1, out, need + 1);
    return out;
}

/* Tokens that end a chat turn in the templates of engine/tok/chat.c (llama2's is EOS). */
static int et__eot_ids(const et_tok *tok, int32_t *ids) {
    static const char *const eot[] = { "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>" };
    int n = 0;
    for (size_t i = 0; i < sizeof eot / sizeof eot[0]; i++) {
        int32_t id = et_tok_lookup(tok, eot[i], strlen(eot[i]));
        if (id >= 0 && et_tok_type_of(tok, id) == ET_TOKT_CONTROL) ids[n++] = id;
    }
    return n;
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

typedef struct {
    const et_sample_opts *so;
    const char *const *stop;     /* stop strings (NULL: none) */
    bool  stop_at_eos, text;     /* text: decode the ids (stop strings, streaming, out text) */
    char *out;                   /* the text, NUL-terminated, outlen bytes (may be NULL) */
    size_t outlen;
} et__dec_opts;

/* Re-run graph g (already computed once) `runs` times under the profiler and write its
 * reports to dir/sub; the tables go to stderr (stdout carries the generated text). */
static bool et__profile_graph(et_lm *lm, et_graph *g, et_plan *plan, int runs, const et_sample_opts *so,
                              const char *sub, char *err, size_t errlen) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", so->profile_dir, sub);
    et_profile *p = et_profile_new(g, runs);
    if (!p) { snprintf(err, errlen, "generate: profile: out of memory"); return false; }
    bool ok = true;
    for (int r = 0; r < runs && ok; r++) ok = et_graph_compute_range(g, plan, 0, g->n_nodes, lm->n_threads, p);
    if (!ok) snprintf(err, errlen, "generate: profiled run: %s", et_ctx_error(lm->ctx));
    else {
        fprintf(stderr, "-- profile of the %s step (%d runs) -> %s\n", sub, runs, dir);
        ok = et_profile_write_dir(p, dir, so->profile_limits, stderr, err, errlen);
    }
    et_profile_free(p);
    return ok;
}

static int et__decode(et_lm *lm, const int32_t *pids, int32_t np, int max_new, const et__dec_opts *d, int32_t *gen,
                      int *n_out, et_gen_stats *st, char *err, size_t errlen) {
    *n_out = 0;
    if (st) memset(st, 0, sizeof *st);
    if (lm->m.ad.kind == ET_ADAPTER_PROMPT) {
        snprintf(err, errlen, "generate: a prompt-tuned model scores but does not decode with a KV cache yet");
        return -1;
    }
    if (max_new < 0 || max_new > 1 << 20) { snprintf(err, errlen, "generate: max_new %d (0..2^20)", max_new); return -1; }
    if (np < 1) { snprintf(err, errlen, "generate: the prompt has no tokens"); return -1; }
    int32_t room = lm->n_ctx - max_new, V = lm->m.cfg.vocab;
    if (room < 1) {
        snprintf(err, errlen, "generate: %d new tokens leave no room in the context of %d", max_new, lm->n_ctx);
        return -1;
    }
    for (int32_t i = 0; i < np; i++)
        if (pids[i] < 0 || pids[i] >= V) {
            snprintf(err, errlen, "generate: prompt token %d is %d, outside the vocabulary [0, %d)", i, pids[i], V);
            return -1;
        }
    const et_sample_opts *so = d->so;
    int32_t keep = np < room ? np : room, skip = np - keep;   /* truncate the prompt from the left */
    size_t cap = 4096, tlen = 0, emitted = 0, hold = et__max_stop(d->stop);
    char *buf = malloc(cap);
    et__cand *cands = malloc((size_t)V * sizeof *cands);
    et_ctx_mark outer = et_ctx_get_mark(lm->ctx);
    et_llama_cache cache;
    int rc = -1, n_gen = 0;
    uint64_t rng = so ? so->seed : 0;
    int32_t stop_ids[8], n_stop_ids = 0, eos = et_tok_eos(lm->tok);
    if (d->stop_at_eos && eos >= 0) stop_ids[n_stop_ids++] = eos;
    if (so && so->chat) n_stop_ids += et__eot_ids(lm->tok, stop_ids + n_stop_ids);
    if (!buf || !cands) { snprintf(err, errlen, "generate: out of memory"); goto done; }
    if (so && so->profile_dir && lm->be) {
        snprintf(err, errlen, "generate --profile: the CPU's profiler only (on a Vulkan device, "
                              "`finetune --profile --device vulkan` records GPU timestamps)");
        goto done;
    }
    buf[0] = 0;
    if (!et_llama_cache_new(&cache, &lm->m, lm->ctx, keep + max_new)) {
        snprintf(err, errlen, "generate: %s", et_ctx_error(lm->ctx));
        goto done;
    }
    if (st) {
        st->n_prompt = keep;
        for (int l = 0; l < lm->m.cfg.n_layers; l++) st->kv_bytes += et_nbytes(cache.k[l]) + et_nbytes(cache.v[l]);
    }
    int32_t n_past = 0;
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
        et_graph *g = NULL;
        et_plan plan;
        /* the first step shares nothing with earlier calls; later ones keep the cache */
        bool ok = logits && et__lm_compute(lm, &logits, 1, n_past == 0 ? lm->base_mark : inner, &g, &plan);
        if (!ok) et__graph_err(lm, "generate", err, errlen);
        int32_t tok = ok ? et__pick(logits->data, V, so, &rng, cands) : -1;
        if (ok && so && so->profile_dir && (n_past == 0 || n_gen == 1)) {   /* prefill, first decode */
            double p0 = et__now();
            int runs = so->profile_runs > 0 ? so->profile_runs : n_past == 0 ? 3 : 32;
            ok = et__profile_graph(lm, g, &plan, runs, so, n_past == 0 ? "prefill" : "decode", err, errlen);
            t0 += et__now() - p0;   /* keep the profiled runs out of the timing figures */
            if (!ok) { et_plan_free(&plan); et_graph_free(g); et_ctx_reset(lm->ctx, inner); goto done; }
        }
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_reset(lm->ctx, inner);
        if (!ok) goto done;
        if (st) { if (n_past == 0) st->prefill_s = et__now() - t0; else st->decode_s = et__now() - t0 - st->prefill_s; }
        n_past += n_feed;
        bool end = false;
        for (int i = 0; i < n_stop_ids; i++) end |= tok == stop_ids[i];
        if (end) break;
        gen[n_gen++] = tok;
        feed = &gen[n_gen - 1];
        n_feed = 1;
        if (!d->text) continue;
        /* the text so far, to find stop strings and to stream the new part */
        for (;;) {
            size_t need = et_tok_decode(lm->tok, gen, n_gen, ET_TOK_SKIP_SPECIAL, buf, cap);
            if (need < cap) { tlen = need; break; }
            char *nb = realloc(buf, need + 1);
            if (!nb) { snprintf(err, errlen, "generate: out of memory"); goto done; }
            buf = nb;
            cap = need + 1;
        }
        long at = et__find_stop(buf, tlen, d->stop);
        if (at >= 0) { tlen = (size_t)at; n_gen--; }
        if (so && so->on_text) {
            /* hold back what could be the start of a stop string; the stop string was not in
             * the previous text, so it starts after everything emitted (at >= emitted) */
            size_t safe = at >= 0 ? tlen : (tlen > hold ? tlen - (hold ? hold - 1 : 0) : 0);
            if (safe > emitted) { so->on_text(so->user, buf + emitted, safe - emitted); emitted = safe; }
        }
        if (at >= 0) break;
    }
    if (so && so->on_text && tlen > emitted) so->on_text(so->user, buf + emitted, tlen - emitted);
    if (d->out && d->outlen) {
        size_t n = tlen < d->outlen - 1 ? tlen : d->outlen - 1;
        memcpy(d->out, buf, n);
        d->out[n] = 0;
    }
    if (st) st->n_gen = n_gen;
    *n_out = n_gen;
    rc = 0;
done:
    et_ctx_reset(lm->ctx, outer);
    free(cands);
    free(buf);
    return rc;
}

/* The prompt's ids: BOS + text, or with chat the tokenizer's own BOS rule and special tokens. */
static int32_t *et__prompt_ids(et_lm *lm, const char *prompt, bool chat, int32_t *n) {
    if (!chat) return et__lm_tokenize(lm, prompt, true, n);
    size_t len = strlen(prompt);
    long cap = et_tok_encode_bound(len) + 2;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    long r = ids ? et_tok_encode(lm->tok, prompt, len, ET_TOK_ADD_SPECIAL | ET_TOK_PARSE_SPECIAL, ids, cap) : -1;
    if (r < 0 || r > cap) { free(ids); return NULL; }
    *n = (int32_t)r;
    return ids;
}

int et_lm_generate_ids(et_lm *lm, const char *prompt, int max_new, int32_t *gen, int *n_out, char *err,
                       size_t errlen) {
    static const char *const nl[] = {"\n", NULL};
    int32_t np = 0, *pids = et__lm_tokenize(lm, prompt, true, &np);
    if (!pids) { snprintf(err, errlen, "generate: cannot tokenize the prompt"); return -1; }
    et__dec_opts d = { .stop = nl, .stop_at_eos = true, .text = true };
    int rc = et__decode(lm, pids, np, max_new, &d, gen, n_out, NULL, err, errlen);
    free(pids);
    return rc;
}

int et_lm_generate_ex(et_lm *lm, const char *prompt, int max_new, const et_sample_opts *so, char *out,
                      size_t outlen, et_gen_stats *st, char *err, size_t errlen) {
    if (max_new < 0 || max_new > 1 << 20) { snprintf(err, errlen, "generate: max_new %d (0..2^20)", max_new); return -1; }
    int32_t *gen = malloc(((size_t)max_new + 1) * sizeof *gen);
    int32_t np = 0, *pids = et__prompt_ids(lm, prompt, so && so->chat, &np);
    int n = 0, rc = -1;
    if (!gen || !pids) snprintf(err, errlen, "generate: %s", !gen ? "out of memory" : "cannot tokenize the prompt");
    else {
        et__dec_opts d = { .so = so, .stop = so ? so->stop : NULL, .stop_at_eos = true, .text = true, .out = out,
                           .outlen = outlen };
        rc = et__decode(lm, pids, np, max_new, &d, gen, &n, st, err, errlen);
    }
    free(pids);
    free(gen);
    return rc;
}

int et_lm_generate_tokens(et_lm *lm, const int32_t *prompt, int n_prompt, int max_new, const et_sample_opts *so,
                          bool stop_at_eos, int32_t *out, int *n_out, et_gen_stats *st, char *err, size_t errlen) {
    et__dec_opts d = { .so = so, .stop_at_eos = stop_at_eos };
    return et__decode(lm, prompt, n_prompt, max_new, &d, out, n_out, st, err, errlen);
}

/* ---------------------------------------------------------------- what a step reads */

static const et_tensor *et__root_of(const et_tensor *t) {
    while (t->view_src) t = t->view_src;
    return t;
}

int et_lm_get_info(et_lm *lm, et_lm_info *info, char *err, size_t errlen) {
    memset(info, 0, sizeof *info);
    const et_llama_config *c = &lm->m.cfg;
    info->n_ctx = lm->n_ctx, info->vocab = c->vocab, info->n_layers = c->n_layers, info->dim = c->dim;
    info->kv_bytes_per_token = 2 * (size_t)c->n_layers * (size_t)c->n_kv_heads * (size_t)c->head_dim * sizeof(float);
    info->weight_type = et_type_get(lm->m.layers[0].w_gate->type)->name;
    info->device = lm->be ? lm->be->name : "cpu";
    et_ctx_mark mk = et_ctx_get_mark(lm->ctx);
    et_llama_cache cache;
    et_graph *g = NULL;
    uint8_t *seen = NULL;
    int rc = -1;
    if (!et_llama_cache_new(&cache, &lm->m, lm->ctx, 1)) goto done;
    et_tensor *ids = et_new_1d(lm->ctx, ET_I32, 1, ET_FLAG_INPUT, "ids");
    et_tensor *pos = et_new_1d(lm->ctx, ET_I32, 1, ET_FLAG_INPUT, "pos");
    et_tensor *lg = ids && pos ? et_llama_decode(&lm->m, &cache, ids, pos, 0) : NULL;
    g = et_graph_new(lm->ctx, 1 << 15);
    seen = calloc((size_t)et_ctx_n_tensors(lm->ctx), 1);
    if (!lg || !g || !seen || !et_graph_add(g, lg)) goto done;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const et_tensor *t = g->nodes[i];
        for (int s = 0; s < ET_MAX_SRC && t->src[s]; s++) {
            const et_tensor *w = et__root_of(t->src[s]);
            bool cached = false;
            for (int l = 0; l < c->n_layers; l++) cached |= w == cache.k[l] || w == cache.v[l];
            if (w->op != ET_OP_NONE || (w->flags & ET_FLAG_INPUT) || cached) continue;
            if (!seen[w->id]) { info->n_params += et_nelements(w); info->weight_bytes += et_nbytes(w); }
            /* a table looked up by GET_ROWS is read one row per token (seen 1); any other use
             * reads all of it (seen 2): tied embeddings are both */
            uint8_t use = t->op == ET_OP_GET_ROWS && s == 0 ? 1 : 2;
            if (seen[w->id] >= use) continue;
            info->decode_weight_bytes += use == 1 ? w->nb[1] : et_nbytes(w) - (seen[w->id] ? w->nb[1] : 0);
            seen[w->id] = use;
        }
    }
    rc = 0;
done:
    if (rc) snprintf(err, errlen, "info: %s", et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
    free(seen);
    et_graph_free(g);
    et_ctx_reset(lm->ctx, mk);
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
    if (mode == 1 && bos < 0) {
        snprintf(err, errlen, "perplexity: --ppl-mode llama puts BOS first in each window, but the model's "
                              "tokenizer has no BOS token (tokenizer.ggml.bos_token_id): use --ppl-mode full");
        return -1;
    }
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
        et_graph *g = NULL;
        et_plan plan;
        bool ok = nll && et__lm_compute(lm, &nll, 1, lm->base_mark, &g, &plan);
        if (ok) for (int64_t p = 0; p < P; p++) *sum_nll += ((const float *)nll->data)[p];
        else et__graph_err(lm, "perplexity", err, errlen);
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
