/* FLOPs / bytes of et_lm calls and the weight types a loaded model runs on (see lm_cost.h).
 * The graphs are the ones lm.c and lm_generate.c record for the same call: the same batch
 * shapes for scoring, the same prefill + one-token decode steps for generation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lm_cost.h"
#include "lm_internal.h"

/* cost of the graph ending in out (recorded in lm->ctx), added to c */
static bool et__graph_cost(et_lm *lm, et_tensor *out, et_lm_cost *c, char *err, size_t errlen) {
    et_graph *g = out ? et_graph_new(lm->ctx, 1 << 15) : NULL;
    bool ok = g && et_graph_add(g, out);
    for (int32_t i = 0; ok && i < g->n_nodes; i++) {
        const et_tensor *t = g->nodes[i];
        double fl = 0, by = 0;
        if (et_op_table[t->op].cost) et_op_table[t->op].cost(t, &fl, &by);
        c->flops += fl, c->bytes += by;
    }
    if (!ok) snprintf(err, errlen, "cost: %s", et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
    if (g) et_graph_free(g);
    return ok;
}

int et_lm_score_cost(et_lm *lm, const char *prompt, const char *const *cands, int n_cands, et_lm_cost *c,
                     char *err, size_t errlen) {
    memset(c, 0, sizeof *c);
    if (n_cands < 1 || n_cands > 4096) { snprintf(err, errlen, "score cost: %d candidates (1..4096)", n_cands); return -1; }
    int32_t np = 0, *pids = et__lm_tokenize(lm, prompt, true, &np), maxc = 0, P = 0;
    free(pids);
    if (!pids) { snprintf(err, errlen, "score cost: cannot tokenize the prompt"); return -1; }
    for (int i = 0; i < n_cands; i++) {
        int32_t nc = 0, *cid = et__lm_tokenize(lm, cands[i], false, &nc);
        free(cid);
        if (!cid || nc == 0) { snprintf(err, errlen, "score cost: candidate %d cannot be tokenized", i); return -1; }
        if (nc > maxc) maxc = nc;
        P += nc;
    }
    /* as et_lm_score: the prompt is cut from the left to leave room for the longest candidate */
    int32_t extra = lm->m.ad.kind == ET_ADAPTER_PROMPT ? lm->m.ad.n_prompt : 0, room = lm->n_ctx - extra - maxc;
    if (room < 1) { snprintf(err, errlen, "score cost: candidates of %d tokens do not fit the context", maxc); return -1; }
    int32_t T = (np < room ? np : room) + maxc;
    et_ctx_mark mark = et_ctx_get_mark(lm->ctx);
    et_llama_batch b;
    bool ok = et_llama_batch_new(&b, &lm->m, T, n_cands, P);
    if (ok) {   /* valid indices, so the builder sees a well-formed batch (values are not read) */
        memset(b.ids->data, 0, (size_t)T * (size_t)n_cands * sizeof(int32_t));
        for (int32_t p = 0; p < P; p++) ((int32_t *)b.sel->data)[p] = 0, ((int32_t *)b.targets->data)[p] = 0;
    }
    ok = ok ? et__graph_cost(lm, et_llama_nll(&lm->m, &b), c, err, errlen)
            : (snprintf(err, errlen, "score cost: %s", et_ctx_error(lm->ctx)), false);
    et_ctx_reset(lm->ctx, mark);
    return ok ? 0 : -1;
}

/* one decode step: T new tokens after n_past cached ones */
static bool et__step_cost(et_lm *lm, et_llama_cache *cache, int32_t T, int32_t n_past, et_lm_cost *c, char *err,
                          size_t errlen) {
    et_ctx_mark mark = et_ctx_get_mark(lm->ctx);
    et_tensor *ids = et_new_1d(lm->ctx, ET_I32, T, ET_FLAG_INPUT, "ids"),
              *pos = et_new_1d(lm->ctx, ET_I32, T, ET_FLAG_INPUT, "pos");
    bool ok = ids && pos;
    if (ok) {
        memset(ids->data, 0, (size_t)T * sizeof(int32_t));
        for (int32_t i = 0; i < T; i++) ((int32_t *)pos->data)[i] = n_past + i;
        ok = et__graph_cost(lm, et_llama_decode(&lm->m, cache, ids, pos, n_past), c, err, errlen);
    } else {
        snprintf(err, errlen, "generate cost: %s", et_ctx_error(lm->ctx));
    }
    et_ctx_reset(lm->ctx, mark);
    return ok;
}

int et_lm_generate_cost(et_lm *lm, const char *prompt, int max_new, int n_steps, et_lm_cost *c, char *err,
                        size_t errlen) {
    memset(c, 0, sizeof *c);
    if (max_new < 1 || n_steps < 1 || n_steps > max_new) {
        snprintf(err, errlen, "generate cost: %d steps of at most %d", n_steps, max_new);
        return -1;
    }
    int32_t np = 0, *pids = et__lm_tokenize(lm, prompt, true, &np);
    free(pids);
    if (!pids) { snprintf(err, errlen, "generate cost: cannot tokenize the prompt"); return -1; }
    int32_t room = lm->n_ctx - max_new;
    if (room < 1) { snprintf(err, errlen, "generate cost: %d new tokens leave no room in the context", max_new); return -1; }
    int32_t keep = np < room ? np : room;   /* as the decoder: the prompt cut from the left */
    et_ctx_mark outer = et_ctx_get_mark(lm->ctx);
    et_llama_cache cache;
    bool ok = et_llama_cache_new(&cache, &lm->m, lm->ctx, keep + max_new);
    if (!ok) snprintf(err, errlen, "generate cost: %s", et_ctx_error(lm->ctx));
    ok = ok && et__step_cost(lm, &cache, keep, 0, c, err, errlen);
    if (ok && n_steps > 1) {   /* decode steps at n_past = keep .. keep + n_steps - 2 */
        et_lm_cost first = {0}, last = {0};
        ok = et__step_cost(lm, &cache, 1, keep, &first, err, errlen) &&
             et__step_cost(lm, &cache, 1, keep + n_steps - 2, &last, err, errlen);
        c->flops += (first.flops + last.flops) * 0.5 * (n_steps - 1);
        c->bytes += (first.bytes + last.bytes) * 0.5 * (n_steps - 1);
    }
    et_ctx_reset(lm->ctx, outer);
    return ok ? 0 : -1;
}

int et_lm_weight_types(const et_lm *lm, char *buf, size_t n) {
    enum { MAXT = 16 };
    et_type types[MAXT];
    int counts[MAXT], nt = 0;
    const et_llama *m = &lm->m;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const et_llama_layer *L = &m->layers[l];
        const et_tensor *w[ET_LIN_COUNT + 1] = { L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down,
                                                  l == 0 && m->output != m->tok_emb ? m->output : NULL };
        for (int i = 0; i < ET_LIN_COUNT + 1; i++) {
            if (!w[i]) continue;
            int k = 0;
            while (k < nt && types[k] != w[i]->type) k++;
            if (k == nt && nt < MAXT) types[nt] = w[i]->type, counts[nt++] = 0;
            if (k < nt) counts[k]++;
        }
    }
    int len = snprintf(buf, n, "linear");
    for (int k = 0; k < nt; k++)
        len += snprintf(buf + (len < (int)n ? len : (int)n), len < (int)n ? n - (size_t)len : 0, "%s %s x%d",
                        k ? "," : "", et_type_get(types[k])->name, counts[k]);
    len += snprintf(buf + (len < (int)n ? len : (int)n), len < (int)n ? n - (size_t)len : 0, "; embedding %s",
                    m->tok_emb ? et_type_get(m->tok_emb->type)->name : "none");
    return len;
}
