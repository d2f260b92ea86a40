/* Quantization quality as llama.cpp's `perplexity --kl-divergence` measures it: run a model
 * and its base (typically the f32 original of a quantized file) over the same token windows,
 * and at every scored position compare the two next-token distributions:
 *
 *   KL(base || model) = sum_v p_base(v) · (log p_base(v) − log p_model(v))     (nats, ≥ 0)
 *
 * plus each model's NLL of the actual next token (both perplexities) and whether the two
 * argmax tokens agree (llama.cpp's "same top p").  The windows and scored positions are
 * et_lm_nll's (full: every token after the first; llama: BOS first, second half scored), so
 * the perplexity printed with the KL figures is the plain perplexity of the model.
 *
 * One window at a time: both models' log-probabilities at the window's P positions (2 × P ×
 * vocab floats), compared position by position.  Log-softmax and sums in double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lm_internal.h"

/* Same vocabulary: size and every token string. */
static int et__same_vocab(et_lm *a, et_lm *b, char *err, size_t errlen) {
    int32_t va = a->m.cfg.vocab, vb = b->m.cfg.vocab;
    if (va != vb) {
        snprintf(err, errlen, "kl: the model has %d tokens and the base model %d: KL divergence needs the same "
                              "vocabulary", va, vb);
        return -1;
    }
    int32_t ta = et_tok_n_vocab(a->tok), tb = et_tok_n_vocab(b->tok);
    if (ta != tb) {
        snprintf(err, errlen, "kl: the model's tokenizer has %d tokens and the base model's %d", ta, tb);
        return -1;
    }
    for (int32_t i = 0; i < ta; i++) {
        uint32_t la, lb;
        const char *pa = et_tok_piece(a->tok, i, &la), *pb = et_tok_piece(b->tok, i, &lb);
        if (la != lb || (la && memcmp(pa, pb, la))) {
            snprintf(err, errlen, "kl: token %d is '%.*s' in the model but '%.*s' in the base model: the "
                                  "vocabularies differ", i, (int)(la < 40 ? la : 40), pa, (int)(lb < 40 ? lb : 40), pb);
            return -1;
        }
    }
    return 0;
}

/* Logits [V, P] of one window on model lm, as log-probabilities into lp (float: the
 * difference of two log-probabilities keeps ~1e-7 of |log p|, far below the KL of any
 * quantized model; identical models give identical floats and KL exactly 0). */
static int et__window_logprobs(et_lm *lm, const int32_t *ids, int64_t T, int64_t first, int64_t P, int32_t bos,
                               float *lp, char *err, size_t errlen) {
    int32_t V = lm->m.cfg.vocab;
    et_ctx_mark mk = et_ctx_get_mark(lm->ctx);
    et_llama_batch b;
    int rc = -1;
    if (!et_llama_batch_new(&b, &lm->m, T, 1, P)) { snprintf(err, errlen, "kl: %s", et_ctx_error(lm->ctx)); goto done; }
    memcpy(b.ids->data, ids, (size_t)T * sizeof *ids);
    if (bos >= 0) ((int32_t *)b.ids->data)[0] = bos;
    for (int64_t p = 0; p < P; p++) {
        ((int32_t *)b.sel->data)[p] = et_llama_sel_index(&lm->m, &b, first + p, 0);
        ((int32_t *)b.targets->data)[p] = ids[first + p + 1];
    }
    et_tensor *lg = et_llama_logits(&lm->m, &b);
    et_graph *g = NULL;
    et_plan plan = {0};
    if (lg && et__lm_compute(lm, &lg, 1, lm->base_mark, &g, &plan)) {
        const float *l = lg->data;
        for (int64_t p = 0; p < P; p++) {
            const float *row = l + p * V;
            double mx = row[0], s = 0;
            for (int32_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int32_t v = 0; v < V; v++) s += exp(row[v] - mx);
            double lse = mx + log(s);
            for (int32_t v = 0; v < V; v++) lp[p * V + v] = (float)(row[v] - lse);
        }
        rc = 0;
    } else {
        snprintf(err, errlen, "kl%s: %s", lm->be ? " (device)" : "",
                 et_ctx_failed(lm->ctx) ? et_ctx_error(lm->ctx) : "out of memory");
    }
    et_plan_free(&plan);
    et_graph_free(g);
done:
    et_ctx_reset(lm->ctx, mk);
    return rc;
}

static int et__dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of sorted x[0..n) (linear interpolation between order statistics). */
static double et__quantile(const double *x, int64_t n, double q) {
    double at = q * (double)(n - 1);
    int64_t i = (int64_t)at;
    return i + 1 < n ? x[i] + (at - (double)i) * (x[i + 1] - x[i]) : x[n - 1];
}

static int32_t et__argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

int et_lm_kl(et_lm *lm, et_lm *base, const int32_t *ids, int64_t n, int mode, int n_ctx, et_lm_kl_stats *st,
             char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    if (et__same_vocab(lm, base, err, errlen)) return -1;
    int32_t cap = lm->n_ctx < base->n_ctx ? lm->n_ctx : base->n_ctx, V = lm->m.cfg.vocab;
    if (n_ctx <= 1 || n_ctx > cap) n_ctx = cap;
    if (n < 2) { snprintf(err, errlen, "kl: need at least 2 tokens, got %lld", (long long)n); return -1; }
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            snprintf(err, errlen, "kl: token %lld is %d, outside the vocabulary [0, %d)", (long long)i, ids[i], V);
            return -1;
        }
    int32_t bos = mode == 1 ? et_tok_bos(lm->tok) : -1;
    if (mode == 1 && bos < 0) {
        snprintf(err, errlen, "kl: --ppl-mode llama puts BOS first in each window, but the model's tokenizer has "
                              "no BOS token: use --ppl-mode full");
        return -1;
    }
    float *lpb = malloc((size_t)n_ctx * (size_t)V * sizeof *lpb), *lpm = malloc((size_t)n_ctx * (size_t)V * sizeof *lpm);
    double *kl = malloc((size_t)n * sizeof *kl);
    int rc = -1;
    int64_t agree = 0;
    double sum = 0, sum2 = 0;
    if (!lpb || !lpm || !kl) {
        snprintf(err, errlen, "kl: out of memory for 2 x %d x %d log-probabilities (a smaller --ctx needs less)", n_ctx, V);
        goto done;
    }
    int64_t step = mode == 1 ? n_ctx : n_ctx - 1;   /* as et_lm_nll */
    for (int64_t w0 = 0; w0 + 1 < n; w0 += step) {
        int64_t T = n - w0 < n_ctx ? n - w0 : n_ctx;
        if (mode == 1 && T < n_ctx) break;
        int64_t first = mode == 1 ? T / 2 : 0, P = T - 1 - first;
        if (P <= 0) break;
        if (et__window_logprobs(base, ids + w0, T, first, P, bos, lpb, err, errlen) ||
            et__window_logprobs(lm, ids + w0, T, first, P, bos, lpm, err, errlen))
            goto done;
        for (int64_t p = 0; p < P; p++) {
            const float *b = lpb + p * V, *m = lpm + p * V;
            double d = 0;
            for (int32_t v = 0; v < V; v++) d += exp((double)b[v]) * ((double)b[v] - (double)m[v]);
            d = d > 0 ? d : 0;   /* rounding can leave -1e-17 for identical distributions */
            int32_t tgt = ids[w0 + first + p + 1];
            st->nll -= m[tgt];
            st->nll_base -= b[tgt];
            agree += et__argmax(b, V) == et__argmax(m, V);
            kl[st->n++] = d;
            sum += d;
            sum2 += d * d;
        }
        if (w0 + T >= n) break;
    }
    if (st->n == 0) { snprintf(err, errlen, "kl: %lld tokens fill no window of %d", (long long)n, n_ctx); goto done; }
    st->kl_mean = sum / (double)st->n;
    double var = st->n > 1 ? (sum2 - sum * st->kl_mean) / (double)(st->n - 1) : 0;
    st->kl_stderr = var > 0 ? sqrt(var / (double)st->n) : 0;
    qsort(kl, (size_t)st->n, sizeof *kl, et__dcmp);
    st->kl_median = et__quantile(kl, st->n, 0.5);
    st->kl_p90 = et__quantile(kl, st->n, 0.9);
    st->kl_p99 = et__quantile(kl, st->n, 0.99);
    st->kl_max = kl[st->n - 1];
    st->top1 = (double)agree / (double)st->n;
    rc = 0;
done:
    free(lpb);
    free(lpm);
    free(kl);
    return rc;
}
