/* Adapters on the Llama builder (LoRA, IA3, prompt tuning, full fine-tuning), merging them
 * into the base, and compressing the base (pruning, quantization).  Each adapter's tensors
 * are the only PARAM leaves, so autodiff creates gradients for them alone while the input
 * gradient still flows through the frozen (possibly quantized) base. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "llama.h"
#include "ref/quant_ref.h"

static uint64_t et__mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double et__unif(uint64_t *s) { return (et__mix(s) >> 11) * (1.0 / 9007199254740992.0); }

uint32_t et_llama_parse_targets(const char *s, char *err, size_t errlen) {
    if (!s || !*s) { snprintf(err, errlen, "lora targets: empty list"); return 0; }
    if (!strcmp(s, "all")) return (1u << ET_LIN_COUNT) - 1;
    uint32_t mask = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < ET_LIN_COUNT; i++)
            if (strlen(et_llama_lin_names[i]) == n && !strncmp(p, et_llama_lin_names[i], n)) found = i;
        if (found < 0) {
            snprintf(err, errlen, "lora targets: unknown module '%.*s' (choose from q,k,v,o,gate,up,down or all)",
                     (int)n, p);
            return 0;
        }
        mask |= 1u << found;
        p += n;
        if (*p == ',') p++;
    }
    return mask;
}

static et_tensor **et__lin(et_llama_layer *L, int which) {
    switch (which) {
    case ET_LIN_Q: return &L->wq;
    case ET_LIN_K: return &L->wk;
    case ET_LIN_V: return &L->wv;
    case ET_LIN_O: return &L->wo;
    case ET_LIN_GATE: return &L->w_gate;
    case ET_LIN_UP: return &L->w_up;
    default: return &L->w_down;
    }
}

static bool et__no_adapter(et_llama *m) {
    if (m->ad.kind == ET_ADAPTER_NONE) return true;
    et_ctx_fail(m->ctx, "the model already has an adapter (one at a time)");
    return false;
}

static bool et__seed_tensor(et_llama *m) {
    if (m->ad.seed) return true;
    m->ad.seed = et_new_1d(m->ctx, ET_I32, 1, ET_FLAG_INPUT, "dropout_seed");
    return m->ad.seed != NULL;
}

bool et_llama_add_lora(et_llama *m, int rank, float alpha, float dropout, const char *targets, uint64_t seed) {
    char err[200];
    if (!et__no_adapter(m)) return false;
    uint32_t mask = et_llama_parse_targets(targets, err, sizeof err);
    if (!mask) { et_ctx_fail(m->ctx, "%s", err); return false; }
    if (rank < 1 || rank > 4096 || !(alpha > 0) || !(dropout >= 0 && dropout < 1)) {
        et_ctx_fail(m->ctx, "lora: rank %d (1..4096), alpha %g (> 0), dropout %g ([0, 1)) out of range", rank, alpha,
                    dropout);
        return false;
    }
    m->ad = (et_llama_adapter){ .kind = ET_ADAPTER_LORA, .rank = rank, .alpha = alpha, .dropout = dropout,
                                .targets = mask };
    if (dropout > 0 && !et__seed_tensor(m)) return false;
    uint64_t s = seed;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        et_llama_layer *L = &m->layers[l];
        for (int w = 0; w < ET_LIN_COUNT; w++) {
            if (!(mask & (1u << w))) continue;
            et_tensor *W = *et__lin(L, w);
            int64_t in = W->ne[0], out = W->ne[1];
            L->lora_a[w] = et_new_2d(m->ctx, ET_F32, in, rank, ET_FLAG_PARAM, "lora_a");
            L->lora_b[w] = et_new_2d(m->ctx, ET_F32, rank, out, ET_FLAG_PARAM, "lora_b");
            if (!L->lora_a[w] || !L->lora_b[w]) return false;
            /* names as in a GGUF LoRA adapter: blk.N.attn_q.weight.lora_a */
            et_set_name(L->lora_a[w], "%s.lora_a", W->name);
            et_set_name(L->lora_b[w], "%s.lora_b", W->name);
            float bound = 1.0f / sqrtf((float)in), *a = L->lora_a[w]->data;
            for (int64_t i = 0; i < in * rank; i++) a[i] = (float)((2 * et__unif(&s) - 1) * bound);
        }
    }
    return true;
}

bool et_llama_add_ia3(et_llama *m) {
    if (!et__no_adapter(m)) return false;
    m->ad = (et_llama_adapter){ .kind = ET_ADAPTER_IA3 };
    for (int l = 0; l < m->cfg.n_layers; l++) {
        et_llama_layer *L = &m->layers[l];
        L->ia3_k = et_new_1d(m->ctx, ET_F32, L->wk->ne[1], ET_FLAG_PARAM, "ia3_k");
        L->ia3_v = et_new_1d(m->ctx, ET_F32, L->wv->ne[1], ET_FLAG_PARAM, "ia3_v");
        L->ia3_ff = et_new_1d(m->ctx, ET_F32, L->w_up->ne[1], ET_FLAG_PARAM, "ia3_ff");
        if (!L->ia3_k || !L->ia3_v || !L->ia3_ff) return false;
        et_set_name(L->ia3_k, "blk.%d.attn_k.ia3", l);
        et_set_name(L->ia3_v, "blk.%d.attn_v.ia3", l);
        et_set_name(L->ia3_ff, "blk.%d.ffn_up.ia3", l);
        et_tensor *v3[3] = {L->ia3_k, L->ia3_v, L->ia3_ff};
        for (int i = 0; i < 3; i++)
            for (int64_t j = 0; j < et_nelements(v3[i]); j++) ((float *)v3[i]->data)[j] = 1.0f;
    }
    return true;
}

bool et_llama_add_prompt(et_llama *m, int n, uint64_t seed) {
    if (!et__no_adapter(m)) return false;
    if (n < 1 || n >= m->cfg.max_seq) {
        et_ctx_fail(m->ctx, "prompt tuning: %d virtual tokens (1..%d)", n, m->cfg.max_seq - 1);
        return false;
    }
    m->ad = (et_llama_adapter){ .kind = ET_ADAPTER_PROMPT, .n_prompt = n };
    m->ad.soft_prompt = et_new_2d(m->ctx, ET_F32, m->cfg.dim, n, ET_FLAG_PARAM, "soft_prompt");
    if (!m->ad.soft_prompt) return false;
    uint64_t s = seed;
    const et_type_traits *tr = et_type_get(m->tok_emb->type);
    for (int i = 0; i < n; i++) {
        int64_t tok = (int64_t)(et__mix(&s) % (uint64_t)m->cfg.vocab);
        float *row = (float *)m->ad.soft_prompt->data + (int64_t)i * m->cfg.dim;
        tr->to_f32((const char *)m->tok_emb->data + (size_t)tok * m->tok_emb->nb[1], row, m->cfg.dim);
        /* the soft prompt enters unscaled, so start it where a scaled token embedding is */
        if (m->cfg.emb_scale > 0.0f)
            for (int j = 0; j < m->cfg.dim; j++) row[j] *= m->cfg.emb_scale;
    }
    return true;
}

bool et_llama_train_all(et_llama *m) {
    int32_t n = et_ctx_n_tensors(m->ctx);
    for (int32_t id = 0; id < n; id++) {
        et_tensor *t = et_ctx_tensor(m->ctx, id);
        if (t->op != ET_OP_NONE || !(t->flags & ET_FLAG_PERSIST) || (t->flags & ET_FLAG_INPUT)) continue;
        if (t->type != ET_F32) {
            et_ctx_fail(m->ctx, "full fine-tuning needs f32 weights; '%s' is %s", t->name, et_type_get(t->type)->name);
            return false;
        }
    }
    for (int32_t id = 0; id < n; id++) {
        et_tensor *t = et_ctx_tensor(m->ctx, id);
        if (t->op == ET_OP_NONE && (t->flags & ET_FLAG_PERSIST) && !(t->flags & ET_FLAG_INPUT) &&
            !strstr(t->name, "cache_")) {
            if (t->flags & ET_FLAG_FROZEN) {
                /* wrapped from a file (et_llama_from_gguf), possibly a read-only mapping: the
                 * optimizer updates in place, so the weight gets bytes of its own */
                et_tensor *own = et_new(m->ctx, t->type, et_n_dims(t), t->ne, 0, "owned");
                if (!own) return false;
                memcpy(own->data, t->data, et_nbytes(t));
                t->data = own->data;
                t->flags &= ~ET_FLAG_FROZEN;
            }
            t->flags |= ET_FLAG_PARAM;
        }
    }
    return true;
}

bool et_llama_merge_adapter(et_llama *m) {
    if (m->ad.kind == ET_ADAPTER_PROMPT) {
        et_ctx_fail(m->ctx, "merge: a soft prompt has no weights to fold into the base");
        return false;
    }
    for (int l = 0; l < m->cfg.n_layers; l++) {
        et_llama_layer *L = &m->layers[l];
        for (int w = 0; w < ET_LIN_COUNT; w++) {
            et_tensor **W = et__lin(L, w);
            bool lora = L->lora_a[w] != NULL;
            et_tensor *scale = w == ET_LIN_K ? L->ia3_k : w == ET_LIN_V ? L->ia3_v : w == ET_LIN_UP ? L->ia3_ff : NULL;
            if (!lora && !scale) continue;
            if ((*W)->type != ET_F32) {
                et_ctx_fail(m->ctx, "merge: '%s' is %s; merging needs an f32 base", (*W)->name,
                            et_type_get((*W)->type)->name);
                return false;
            }
            int64_t K = (*W)->ne[0], N = (*W)->ne[1];
            /* merge into an owned copy: a loaded model's weights may be a read-only mapping */
            et_tensor *own = et_new(m->ctx, ET_F32, 2, (int64_t[]){K, N}, (*W)->flags & ~ET_FLAG_PERSIST, (*W)->name);
            if (!own) return false;
            et_kern_to_f32(ET_F32, (*W)->data, own->data, K, N, (*W)->nb[1]);
            *W = own;
            float *wd = (*W)->data;
            if (lora)   /* W[N,K] += (alpha/r) · B[N,r] · A[r,K] */
                et_sgemm(false, false, N, K, m->ad.rank, m->ad.alpha / (float)m->ad.rank, L->lora_b[w]->data,
                         m->ad.rank, L->lora_a[w]->data, K, 1.0f, wd, K);
            if (scale)  /* (W x) ⊙ l  ==  rows of W scaled by l */
                for (int64_t n = 0; n < N; n++)
                    for (int64_t k = 0; k < K; k++) wd[n * K + k] *= ((float *)scale->data)[n];
            L->lora_a[w] = L->lora_b[w] = NULL;
        }
        L->ia3_k = L->ia3_v = L->ia3_ff = NULL;
    }
    m->ad.kind = ET_ADAPTER_NONE;
    return true;
}

/* ---------------------------------------------------------------- compression */

static int et__cmp_abs(const void *a, const void *b) {
    float x = fabsf(*(const float *)a), y = fabsf(*(const float *)b);
    return x < y ? -1 : x > y;
}

/* Zero weights in place; returns the count zeroed. */
static int64_t et__prune(float *w, int64_t K, int64_t N, const char *how) {
    int64_t n = K * N, zeroed = 0;
    if (!strcmp(how, "2:4")) {
        for (int64_t r = 0; r < N; r++)
            for (int64_t g = 0; g + 4 <= K; g += 4) {
                float *q = w + r * K + g;
                /* keep the two largest |w| of each group of four */
                int lo1 = 0, lo2 = 1;
                if (fabsf(q[lo2]) < fabsf(q[lo1])) { lo1 = 1; lo2 = 0; }
                for (int i = 2; i < 4; i++) {
                    if (fabsf(q[i]) < fabsf(q[lo1])) { lo2 = lo1; lo1 = i; }
                    else if (fabsf(q[i]) < fabsf(q[lo2])) lo2 = i;
                }
                zeroed += (q[lo1] != 0) + (q[lo2] != 0);
                q[lo1] = q[lo2] = 0;
            }
        return zeroed;
    }
    double frac = atof(how) / 100.0;
    float *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp) return -1;
    memcpy(tmp, w, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, et__cmp_abs);
    int64_t kth = (int64_t)(frac * (double)n);
    float thr = kth > 0 ? fabsf(tmp[kth - 1]) : -1.0f;
    free(tmp);
    for (int64_t i = 0; i < n && zeroed < kth; i++)
        if (fabsf(w[i]) <= thr && w[i] != 0) { w[i] = 0; zeroed++; }
    return zeroed;
}

bool et_llama_compress(et_llama *m, et_type type, const char *prune, double *sparsity) {
    et_ctx *ctx = m->ctx;
    if (type >= ET_TYPE_COUNT || type == ET_I32 || type == ET_Q8_K) {
        et_ctx_fail(ctx, "compress: type %d cannot hold weights", (int)type);
        return false;
    }
    if (prune && strcmp(prune, "2:4")) {
        char *end;
        double pct = strtod(prune, &end);
        if (end == prune || (*end && strcmp(end, "%")) || !(pct > 0 && pct < 100)) {
            et_ctx_fail(ctx, "prune: '%s' is not a percentage in (0, 100) or 2:4", prune);
            return false;
        }
    }
    int64_t total = 0, zeros = 0;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        for (int w = 0; w < ET_LIN_COUNT; w++) {
            et_tensor **W = et__lin(&m->layers[l], w);
            et_tensor *src = *W;
            int64_t K = src->ne[0], N = src->ne[1];
            /* like llama.cpp: rows that hold no whole 256-block fall back to a 32-block type of
             * the same bit budget (q4_k -> iq4_nl, q6_k -> q8_0) */
            et_type tt = type;
            if (K % et_type_get(type)->blck_size && type == ET_Q4_K) tt = ET_IQ4_NL;
            if (K % et_type_get(type)->blck_size && type == ET_Q6_K) tt = ET_Q8_0;
            if (K % et_type_get(tt)->blck_size) {
                et_ctx_fail(ctx, "compress: '%s' has rows of %lld, not a multiple of %s's block of %d", src->name,
                            (long long)K, et_type_get(type)->name, et_type_get(type)->blck_size);
                return false;
            }
            float *f = malloc((size_t)(K * N) * sizeof *f);
            if (!f) { et_ctx_fail(ctx, "compress: out of memory"); return false; }
            et_kern_to_f32(src->type, src->data, f, K, N, src->nb[1]);
            if (prune) {
                int64_t z = et__prune(f, K, N, prune);
                if (z < 0) { free(f); et_ctx_fail(ctx, "prune: out of memory"); return false; }
            }
            for (int64_t i = 0; i < K * N; i++) zeros += f[i] == 0.0f;
            total += K * N;
            et_tensor *dst = et_new(ctx, tt, 2, (int64_t[]){K, N}, src->flags & ~ET_FLAG_PARAM, src->name);
            if (!dst) { free(f); return false; }
            if (tt == ET_NF4) et_ref_quantize_nf4(f, dst->data, K * N);
            else et_type_get(tt)->from_f32(f, dst->data, K * N);
            free(f);
            *W = dst;
        }
    }
    if (sparsity) *sparsity = total ? (double)zeros / (double)total : 0;
    return true;
}

/* A frozen vocabulary table converted to `type` a row at a time (no f32 copy of a
 * vocab-sized matrix); NULL with the context's error set on failure. */
static et_tensor *et__convert_table(et_ctx *ctx, et_tensor *src, et_type type, const char *what) {
    if (type >= ET_TYPE_COUNT || type == ET_I32 || type == ET_Q8_K || type == ET_NF4) {
        /* NF4's double quantization groups 256 blocks across rows: neither the loss's
         * vocabulary chunks nor the embedding lookup can read a slice of it */
        et_ctx_fail(ctx, "compress %s: type %s cannot hold '%s'", what,
                    type < ET_TYPE_COUNT ? et_type_get(type)->name : "?", src->name);
        return NULL;
    }
    if (src->flags & ET_FLAG_PARAM) {
        et_ctx_fail(ctx, "compress %s: '%s' is trained (full fine-tuning): it must stay f32", what, src->name);
        return NULL;
    }
    if (src->type == type) return src;
    int64_t K = src->ne[0], N = src->ne[1];
    if (K % et_type_get(type)->blck_size) {
        et_ctx_fail(ctx, "compress %s: '%s' has rows of %lld, not a multiple of %s's block of %d", what, src->name,
                    (long long)K, et_type_get(type)->name, et_type_get(type)->blck_size);
        return NULL;
    }
    et_tensor *dst = et_new(ctx, type, 2, (int64_t[]){K, N}, src->flags, src->name);
    float *row = dst ? malloc((size_t)K * sizeof *row) : NULL;
    if (!row) { if (dst) et_ctx_fail(ctx, "compress %s: out of memory", what); return NULL; }
    const et_type_traits *to = et_type_get(type);
    for (int64_t n = 0; n < N; n++) {
        et_kern_to_f32(src->type, (const char *)src->data + (size_t)n * src->nb[1], row, K, 1, src->nb[1]);
        to->from_f32(row, (char *)dst->data + (size_t)n * dst->nb[1], K);
    }
    free(row);
    return dst;
}

/* *slot (the head or the embeddings) converted; the tied other follows it. */
static bool et__compress_table(et_llama *m, et_tensor **slot, et_type type, const char *what) {
    const bool tied = m->output == m->tok_emb;
    et_tensor *dst = et__convert_table(m->ctx, *slot, type, what);
    if (!dst) return false;
    *slot = dst;
    if (tied) m->output = m->tok_emb = dst;
    return true;
}

bool et_llama_compress_head(et_llama *m, et_type type) { return et__compress_table(m, &m->output, type, "head"); }

bool et_llama_compress_embeddings(et_llama *m, et_type type) {
    return et__compress_table(m, &m->tok_emb, type, "embeddings");
}

bool et_llama_frozen_tables_bf16(et_llama *m) {
    return et_llama_compress_head(m, ET_BF16) && et_llama_compress_embeddings(m, ET_BF16);
}
