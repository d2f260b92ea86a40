/* et_lm: a model as the study and the command line use it (see lm.h) — load a GGUF model or
 * a Hugging Face checkpoint directory (models/llama_hf.h) with its tokenizer, optionally
 * compress the base, score candidate answers by likelihood (all candidates in one batch, the
 * head only at their tokens) and generate greedily with a KV cache.  Every call builds its graph after a context mark and resets to it, so a model
 * serves any number of calls without growing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lm_internal.h"
#include "llama_gguf.h"
#include "tok/tok_gguf.h"
#include "vulkan/vk_backend.h"

int et_lm_load(const char *path, const et_lm_opts *opts, et_lm **out, char *err, size_t errlen) {
    *out = NULL;
    et_lm *lm = calloc(1, sizeof *lm);
    if (!lm) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    et_lm_opts o = opts ? *opts : (et_lm_opts){0};
    lm->n_threads = o.n_threads;
    bool hf = et_hf_is_dir(path);   /* a directory: config.json + safetensors + tokenizer.json */
    if (!hf && et_gguf_open(path, &lm->gguf, err, errlen)) goto fail;
    lm->tok = hf ? et_tok_from_hf_dir(path, err, errlen) : et_tok_from_gguf(lm->gguf, err, errlen);
    if (!lm->tok) goto fail;
    lm->ctx = et_ctx_new(1 << 17);
    if (!lm->ctx) { snprintf(err, errlen, "%s: out of memory", path); goto fail; }
    if (hf ? et_llama_from_hf_dir(&lm->m, lm->ctx, path, &lm->hf, err, errlen)
           : et_llama_from_gguf(&lm->m, lm->ctx, lm->gguf, err, errlen))
        goto fail;
    if (et_tok_n_vocab(lm->tok) > lm->m.cfg.vocab) {
        snprintf(err, errlen, "%s: the tokenizer has %d tokens but %s only %d rows", path, et_tok_n_vocab(lm->tok),
                 hf ? "model.embed_tokens.weight (config.json's vocab_size)" : "token_embd.weight", lm->m.cfg.vocab);
        goto fail;
    }
    lm->n_ctx = o.n_ctx > 0 && o.n_ctx < lm->m.cfg.max_seq ? o.n_ctx : lm->m.cfg.max_seq;
    if ((o.base_type && strcmp(o.base_type, "asis")) || o.prune) {
        et_type t = ET_F32;
        if (o.base_type) {
            t = et_type_from_name(o.base_type);
            if (t == ET_TYPE_COUNT || t == ET_I32 || t == ET_Q8_K) {
                snprintf(err, errlen, "base type '%s' is not a weight type (f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q6_k iq4_nl nf4)",
                         o.base_type);
                goto fail;
            }
        }
        double sparsity;
        if (!et_llama_compress(&lm->m, t, o.prune, &sparsity)) {
            snprintf(err, errlen, "%s: %s", path, et_ctx_error(lm->ctx));
            goto fail;
        }
    }
    lm->base_mark = lm->adapter_mark = et_ctx_get_mark(lm->ctx);
    if (o.device && strcmp(o.device, "cpu")) {
        char why[256];
        lm->be = et_backend_open(o.device, why, sizeof why);
        if (!lm->be) { snprintf(err, errlen, "%s: --device %s: %s", path, o.device, why); goto fail; }
        if (lm->be == et_backend_cpu()) lm->be = NULL;   /* "auto" without a device */
    }
    *out = lm;
    return 0;
fail:
    et_lm_free(lm);
    return -1;
}

void et_lm_free(et_lm *lm) {
    if (!lm) return;
    if (lm->be) lm->be->free(lm->be);
    et_ctx_free(lm->ctx);
    et_tok_free(lm->tok);
    et_gguf_close(lm->gguf);
    et_hf_files_close(lm->hf);
    free(lm);
}

int32_t *et__lm_tokenize(et_lm *lm, const char *text, bool add_bos, int32_t *n) {
    size_t len = strlen(text);
    long cap = et_tok_encode_bound(len) + 2;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) return NULL;
    long k = 0;
    if (add_bos && et_tok_bos(lm->tok) >= 0) ids[k++] = et_tok_bos(lm->tok);
    long r = et_tok_encode(lm->tok, text, len, 0, ids + k, cap - k);
    if (r < 0 || r > cap - k) { free(ids); return NULL; }
    *n = (int32_t)(k + r);
    return ids;
}

int et_lm_count_tokens(et_lm *lm, const char *text) {
    int32_t n = 0;
    int32_t *ids = et__lm_tokenize(lm, text, false, &n);
    free(ids);
    return ids ? n : -1;
}

void et_lm_reset_adapter(et_lm *lm) {
    et_ctx_reset(lm->ctx, lm->base_mark);
    for (int l = 0; l < lm->m.cfg.n_layers; l++) {
        et_llama_layer *L = &lm->m.layers[l];
        memset(L->lora_a, 0, sizeof L->lora_a);
        memset(L->lora_b, 0, sizeof L->lora_b);
        L->ia3_k = L->ia3_v = L->ia3_ff = NULL;
    }
    memset(&lm->m.ad, 0, sizeof lm->m.ad);
    lm->adapter_mark = lm->base_mark;
}

/* Run a built graph whose OUTPUT is `out` and copy its f32 values to dst (the step buffer is
 * freed before returning, so out->data is invalid afterwards); returns false with err. */
static bool et__lm_run(et_lm *lm, et_tensor *out, float *dst, size_t n, char *err, size_t errlen) {
    et_graph *g = NULL;
    et_plan plan = {0};
    bool ok = out && et__lm_compute(lm, &out, 1, lm->base_mark, &g, &plan);
    if (ok) memcpy(dst, out->data, n * sizeof *dst);
    else snprintf(err, errlen, "%s", et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
    et_plan_free(&plan);
    et_graph_free(g);
    return ok;
}

/* log p(target) under logits lg[V] (a log-softmax entry, in double). */
static double et__logprob(const float *lg, int32_t V, int32_t target) {
    float mx = lg[0];
    for (int32_t v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
    double s = 0;
    for (int32_t v = 0; v < V; v++) s += exp((double)lg[v] - mx);
    return (double)lg[target] - mx - log(s);
}

/* Scoring with the prompt computed once: a KV-cache prefill of the prompt gives every
 * candidate's first-token distribution, then each candidate's remaining tokens are one small
 * decoding step over that cache (the positions after the prompt are rewritten per candidate).
 * The batched path below runs the whole prompt once per candidate: 12 labels cost 12
 * prompts.  Not for prompt tuning (its soft tokens have no KV-cache path). */
static int et__score_cached(et_lm *lm, const int32_t *prompt, int32_t keep, int32_t *const *cids, const int32_t *nc,
                            int n_cands, int32_t maxc, double *logprob, char *err, size_t errlen) {
    const int32_t V = lm->m.cfg.vocab;
    et_ctx_mark outer = et_ctx_get_mark(lm->ctx);
    et_llama_cache cache;
    float *first = malloc((size_t)V * sizeof *first);
    int rc = -1;
    if (!first) { snprintf(err, errlen, "score: out of memory"); goto done; }
    if (!et_llama_cache_new(&cache, &lm->m, lm->ctx, keep + maxc)) {
        snprintf(err, errlen, "score: %s", et_ctx_error(lm->ctx));
        goto done;
    }
    et_ctx_mark inner = et_ctx_get_mark(lm->ctx);
    for (int j = -1; j < n_cands; j++) {   /* j = -1: the prompt */
        int32_t n = j < 0 ? keep : nc[j] - 1, n_past = j < 0 ? 0 : keep;
        if (n < 1) { logprob[j] = et__logprob(first, V, cids[j][0]); continue; }
        et_tensor *ids = et_new_1d(lm->ctx, ET_I32, n, ET_FLAG_INPUT, "ids");
        et_tensor *pos = et_new_1d(lm->ctx, ET_I32, n, ET_FLAG_INPUT, "pos");
        if (!ids || !pos) { snprintf(err, errlen, "score: %s", et_ctx_error(lm->ctx)); goto done; }
        memcpy(ids->data, j < 0 ? prompt : cids[j], (size_t)n * sizeof(int32_t));
        for (int32_t i = 0; i < n; i++) ((int32_t *)pos->data)[i] = n_past + i;
        et_tensor *lg = j < 0 ? et_llama_decode(&lm->m, &cache, ids, pos, 0)
                              : et_llama_decode_all(&lm->m, &cache, ids, pos, n_past);
        et_graph *g = NULL;
        et_plan plan;
        bool ok = lg && et__lm_compute(lm, &lg, 1, j < 0 ? lm->base_mark : inner, &g, &plan);
        if (ok && j < 0) memcpy(first, lg->data, (size_t)V * sizeof *first);
        if (ok && j >= 0) {   /* token i+1 of the candidate follows logits column i */
            double s = et__logprob(first, V, cids[j][0]);
            for (int32_t i = 0; i < n; i++) s += et__logprob((const float *)lg->data + (size_t)i * V, V, cids[j][i + 1]);
            logprob[j] = s;
        }
        if (!ok) snprintf(err, errlen, "score: %s", et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_reset(lm->ctx, inner);
        if (!ok) goto done;
    }
    rc = 0;
done:
    et_ctx_reset(lm->ctx, outer);
    free(first);
    return rc;
}

int et_lm_score(et_lm *lm, const char *prompt, const char *const *cands, int n_cands, double *logprob, char *err,
                size_t errlen) {
    if (n_cands < 1 || n_cands > 4096) { snprintf(err, errlen, "score: %d candidates (1..4096)", n_cands); return -1; }
    int32_t np = 0, *pids = et__lm_tokenize(lm, prompt, true, &np);
    int32_t **cids = calloc((size_t)n_cands, sizeof *cids), *nc = calloc((size_t)n_cands, sizeof *nc);
    int rc = -1;
    if (!pids || !cids || !nc) { snprintf(err, errlen, "score: out of memory"); goto done; }
    int32_t maxc = 0, P = 0;
    for (int i = 0; i < n_cands; i++) {
        cids[i] = et__lm_tokenize(lm, cands[i], false, &nc[i]);
        if (!cids[i]) { snprintf(err, errlen, "score: cannot tokenize candidate %d", i); goto done; }
        if (nc[i] == 0) { snprintf(err, errlen, "score: candidate %d ('%s') is empty", i, cands[i]); goto done; }
        if (nc[i] > maxc) maxc = nc[i];
        P += nc[i];
    }
    int32_t extra = lm->m.ad.kind == ET_ADAPTER_PROMPT ? lm->m.ad.n_prompt : 0;
    int32_t room = lm->n_ctx - extra - maxc;
    if (room < 1) { snprintf(err, errlen, "score: candidates of %d tokens do not fit the context of %d", maxc, lm->n_ctx); goto done; }
    int32_t keep = np < room ? np : room, skip = np - keep;   /* truncate the prompt from the left */
    if (lm->m.ad.kind != ET_ADAPTER_PROMPT && !getenv("EDGETUNE_SCORE_BATCHED")) {
        rc = et__score_cached(lm, pids + skip, keep, cids, nc, n_cands, maxc, logprob, err, errlen);
        goto done;
    }
    int32_t T = keep + maxc;
    et_ctx_mark mark = et_ctx_get_mark(lm->ctx);
    et_llama_batch b;
    if (!et_llama_batch_new(&b, &lm->m, T, n_cands, P)) { snprintf(err, errlen, "score: %s", et_ctx_error(lm->ctx)); et_ctx_reset(lm->ctx, mark); goto done; }
    int32_t *ids = b.ids->data, *sel = b.sel->data, *tg = b.targets->data, p = 0;
    for (int j = 0; j < n_cands; j++) {
        for (int32_t t = 0; t < T; t++) {
            int32_t v = t < keep ? pids[skip + t] : t - keep < nc[j] ? cids[j][t - keep] : pids[np - 1];
            ids[(int64_t)j * T + t] = v;
        }
        for (int32_t i = 0; i < nc[j]; i++) {   /* position keep-1+i predicts candidate token i */
            sel[p] = et_llama_sel_index(&lm->m, &b, keep - 1 + i, j);
            tg[p] = cids[j][i];
            p++;
        }
    }
    et_tensor *nll = et_llama_nll(&lm->m, &b);
    if (nll) nll->flags |= ET_FLAG_OUTPUT;
    float *v = malloc((size_t)P * sizeof *v);
    if (v && et__lm_run(lm, nll, v, (size_t)P, err, errlen)) {
        p = 0;
        for (int j = 0; j < n_cands; j++) {
            double s = 0;
            for (int32_t i = 0; i < nc[j]; i++) s += v[p++];
            logprob[j] = -s;
        }
        rc = 0;
    } else if (!v) {
        snprintf(err, errlen, "score: out of memory");
    }
    free(v);
    et_ctx_reset(lm->ctx, mark);
done:
    for (int i = 0; cids && i < n_cands; i++) free(cids[i]);
    free(cids);
    free(nc);
    free(pids);
    return rc;
}

int et_lm_generate(et_lm *lm, const char *prompt, int max_new, char *out, size_t outlen, char *err, size_t errlen) {
    if (max_new < 0 || max_new > 1 << 20 || outlen == 0) {
        snprintf(err, errlen, "generate: max_new %d / buffer of %zu bytes", max_new, outlen);
        return -1;
    }
    int32_t *ids = malloc(((size_t)max_new + 1) * sizeof *ids);
    int n = 0;
    if (!ids) { snprintf(err, errlen, "generate: out of memory"); return -1; }
    int rc = et_lm_generate_ids(lm, prompt, max_new, ids, &n, err, errlen);
    if (rc == 0) et_tok_decode(lm->tok, ids, n, ET_TOK_SKIP_SPECIAL, out, outlen);
    free(ids);
    return rc;
}
