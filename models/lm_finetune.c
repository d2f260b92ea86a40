/* et_lm_finetune: one adapter per call (the study trains one per user), on (prompt, answer)
 * pairs tokenized with the model's tokenizer: ids = BOS prompt answer EOS, loss on the answer
 * and EOS only.  The adapter's tensors live after the base mark and the training graph after
 * the adapter mark, so the next call (or et_lm_reset_adapter) reclaims both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lm_internal.h"
#include "trainer.h"

int et_lm_finetune(et_lm *lm, const et_finetune_cfg *cfg, const char *const *prompts, const char *const *answers, int n,
                   et_finetune_stats *stats, char *err, size_t errlen) {
    if (stats) memset(stats, 0, sizeof *stats);
    if (n < 1) { snprintf(err, errlen, "finetune: no examples"); return -1; }
    if (cfg->steps < 1) { snprintf(err, errlen, "finetune: steps = %d (need >= 1)", cfg->steps); return -1; }
    et_lm_reset_adapter(lm);
    et_llama *m = &lm->m;
    bool ok = false;
    switch (cfg->method) {
    case ET_METHOD_LORA:
        ok = et_llama_add_lora(m, cfg->rank > 0 ? cfg->rank : 8, cfg->alpha > 0 ? cfg->alpha : 16.0f, 0.0f,
                               cfg->targets ? cfg->targets : "q,k,v,o,gate,up,down", cfg->seed);
        break;
    case ET_METHOD_IA3: ok = et_llama_add_ia3(m); break;
    case ET_METHOD_PROMPT: ok = et_llama_add_prompt(m, cfg->n_prompt_tokens > 0 ? cfg->n_prompt_tokens : 8, cfg->seed); break;
    default:
        snprintf(err, errlen, "finetune: method %d is not an adapter (full fine-tuning: edgetune finetune --method full)",
                 (int)cfg->method);
        return -1;
    }
    if (!ok) { snprintf(err, errlen, "finetune: %s", et_ctx_error(lm->ctx)); et_lm_reset_adapter(lm); return -1; }
    lm->adapter_mark = et_ctx_get_mark(lm->ctx);

    int32_t **ids = calloc((size_t)n, sizeof *ids);
    et_example *ex = calloc((size_t)n, sizeof *ex);
    int rc = -1, maxlen = 0;
    if (!ids || !ex) { snprintf(err, errlen, "finetune: out of memory"); goto done; }
    int32_t eos = et_tok_eos(lm->tok);
    for (int i = 0; i < n; i++) {
        int32_t np = 0, na = 0;
        int32_t *p = et__lm_tokenize(lm, prompts[i], true, &np), *a = et__lm_tokenize(lm, answers[i], false, &na);
        ids[i] = p && a ? malloc(((size_t)np + na + 1) * sizeof **ids) : NULL;
        if (!ids[i]) { free(p); free(a); snprintf(err, errlen, "finetune: cannot tokenize example %d", i); goto done; }
        memcpy(ids[i], p, (size_t)np * sizeof *p);
        memcpy(ids[i] + np, a, (size_t)na * sizeof *a);
        int32_t len = np + na;
        if (eos >= 0) ids[i][len++] = eos;
        free(p);
        free(a);
        if (len - np < 1) { snprintf(err, errlen, "finetune: example %d has an empty answer", i); goto done; }
        ex[i] = (et_example){ ids[i], len, len - np };
        if (len > maxlen) maxlen = len;
    }
    et_train_cfg tc = et_train_defaults();
    tc.opt.lr = cfg->lr > 0 ? cfg->lr : tc.opt.lr;
    tc.steps = cfg->steps;
    tc.batch = cfg->batch > 0 ? cfg->batch : 4;
    tc.seed = cfg->seed;
    tc.n_threads = lm->n_threads;
    tc.backend = lm->be;   /* the model's device (et_lm_opts.device), or NULL: the CPU */
    int32_t room = lm->n_ctx - (m->ad.kind == ET_ADAPTER_PROMPT ? m->ad.n_prompt : 0);
    tc.seq_len = maxlen < room ? maxlen : room;
    et_train_result res;
    if (et_train(m, &tc, ex, n, NULL, 0, &res, err, errlen) == 0) {
        rc = 0;
        if (stats) {
            stats->seconds = res.seconds;
            stats->tokens_per_s = res.tokens_per_s;
            stats->flops = res.flops;
            stats->bytes = res.bytes;
            stats->planned_peak_bytes = res.planned_peak_bytes;
            stats->measured_peak_rss = res.peak_rss_bytes;
            stats->first_loss = res.first_loss;
            stats->final_loss = res.final_loss;
        }
    }
done:
    for (int i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
    free(ex);
    /* keep the adapter, drop the training graph and optimizer state */
    et_ctx_reset(lm->ctx, lm->adapter_mark);
    if (rc != 0) et_lm_reset_adapter(lm);
    return rc;
}
