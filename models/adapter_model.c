/* Adapters and models: take a trained adapter out of an et_llama, put one back in, and fold
 * one into a base GGUF file (`edgetune merge`).  The file formats are models/adapter_io.c's;
 * this is the glue to models/llama.h.
 *
 * Merging works on the base file rather than on a built model so that everything else in it
 * — architecture, tokenizer, any tensor the builder does not know — is copied unchanged, and
 * a quantized base can be merged (dequantized to f32, merged, written back in its own type or
 * the one asked for). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_io.h"
#include "kernels.h"
#include "llama.h"
#include "lm_internal.h"
#include "ref/quant_ref.h"

_Static_assert(ET_ADAPTER_IO_LORA == (int)ET_ADAPTER_LORA && ET_ADAPTER_IO_IA3 == (int)ET_ADAPTER_IA3 &&
               ET_ADAPTER_IO_PROMPT == (int)ET_ADAPTER_PROMPT, "adapter_io.h kinds are llama.h's et_adapter_kind");
_Static_assert(ET_LIN_COUNT == 7, "adapter_io.h names seven linear modules in ET_LIN_* order");

et_adapter_layout et_adapter_layout_of(const et_llama_config *c) {
    return (et_adapter_layout){ .n_layers = c->n_layers, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads,
                                .head_dim = c->head_dim, .permute_qk = c->rope_mode == ET_ROPE_NORM };
}

static bool et__add_t(et_adapter *a, const et_tensor *t) {
    return et_adapter_add(a, t->name, t->ne[1] > 1 || strstr(t->name, ".lora_") ? 2 : 1, t->ne, t->data);
}

int et_adapter_from_llama(const et_llama *m, et_adapter *a, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    const et_llama_adapter *ad = &m->ad;
    a->kind = ad->kind;
    a->rank = ad->rank; a->alpha = ad->alpha; a->targets = ad->targets; a->n_prompt = ad->n_prompt;
    snprintf(a->base_type, sizeof a->base_type, "stored");
    snprintf(a->method, sizeof a->method, "%s", ad->kind == ET_ADAPTER_LORA ? "lora" : ad->kind == ET_ADAPTER_IA3 ? "ia3"
                                                : "prompt");
    bool ok = true;
    if (ad->kind == ET_ADAPTER_PROMPT) ok = et__add_t(a, ad->soft_prompt);
    else if (ad->kind == ET_ADAPTER_NONE) {
        snprintf(err, errlen, "the model has no adapter");
        return -1;
    }
    for (int l = 0; ok && l < m->cfg.n_layers; l++) {
        const et_llama_layer *L = &m->layers[l];
        for (int w = 0; ok && w < ET_LIN_COUNT; w++)
            if (L->lora_a[w]) ok = et__add_t(a, L->lora_a[w]) && et__add_t(a, L->lora_b[w]);
        const et_tensor *ia3[3] = {L->ia3_k, L->ia3_v, L->ia3_ff};
        for (int i = 0; ok && i < 3; i++)
            if (ia3[i]) ok = et__add_t(a, ia3[i]);
    }
    if (!ok) { snprintf(err, errlen, "adapter: out of memory or a duplicate tensor name"); et_adapter_free(a); return -1; }
    if (et_adapter_check(a, "model adapter", err, errlen)) { et_adapter_free(a); return -1; }
    return 0;
}

static int et__copy_in(et_tensor *dst, const et_adapter_tensor *src, char *err, size_t errlen) {
    if (!dst || dst->type != ET_F32 || dst->ne[0] != src->ne[0] || dst->ne[1] != src->ne[1]) {
        snprintf(err, errlen, "adapter tensor %s [%lld, %lld] does not fit the model (%s [%lld, %lld])", src->name,
                 (long long)src->ne[0], (long long)src->ne[1], dst ? dst->name : "no such tensor",
                 dst ? (long long)dst->ne[0] : 0LL, dst ? (long long)dst->ne[1] : 0LL);
        return -1;
    }
    memcpy(dst->data, src->data, (size_t)(src->ne[0] * src->ne[1]) * sizeof(float));
    return 0;
}

int et_adapter_attach(const et_adapter *a, et_llama *m, char *err, size_t errlen) {
    if (et_adapter_check(a, "adapter", err, errlen)) return -1;
    bool ok;
    if (a->kind == ET_ADAPTER_IO_LORA) {
        char targets[64] = "";
        for (int w = 0; w < ET_LIN_COUNT; w++)
            if (a->targets & (1u << w))
                snprintf(targets + strlen(targets), sizeof targets - strlen(targets), "%s%s", targets[0] ? "," : "",
                         et_llama_lin_names[w]);
        ok = et_llama_add_lora(m, a->rank, a->alpha, 0.0f, targets, 0);
    } else if (a->kind == ET_ADAPTER_IO_IA3) ok = et_llama_add_ia3(m);
    else ok = et_llama_add_prompt(m, a->n_prompt, 0);
    if (!ok) { snprintf(err, errlen, "adapter: %s", et_ctx_error(m->ctx)); return -1; }
    for (int64_t i = 0; i < a->n; i++) {
        const et_adapter_tensor *t = &a->t[i];
        et_tensor *dst = NULL;
        int layer, mod, part;
        if (a->kind == ET_ADAPTER_IO_PROMPT) dst = m->ad.soft_prompt;
        else if (et_adapter_parse_name(t->name, &layer, &mod, &part) && layer < m->cfg.n_layers) {
            et_llama_layer *L = &m->layers[layer];
            if (part == 0) dst = L->lora_a[mod];
            else if (part == 1) dst = L->lora_b[mod];
            else dst = mod == ET_LIN_K ? L->ia3_k : mod == ET_LIN_V ? L->ia3_v : L->ia3_ff;
        }
        if (et__copy_in(dst, t, err, errlen)) return -1;
    }
    return 0;
}

int et_adapter_attach_lm(const et_adapter *a, et_lm *lm, char *err, size_t errlen) {
    et_lm_reset_adapter(lm);
    if (et_adapter_attach(a, &lm->m, err, errlen)) {
        et_lm_reset_adapter(lm);
        et_ctx_clear_error(lm->ctx);
        return -1;
    }
    lm->adapter_mark = et_ctx_get_mark(lm->ctx);   /* graphs start after the adapter (models/lm_internal.h) */
    return 0;
}

/* ---------------------------------------------------------------- merging into a base file */

typedef struct et__merged { float *f; void *bytes; } et__merged;

/* The adapter's change to base tensor `name` (a weight [K, N] or a bias [N], f32 in place);
 * returns how many adapter tensors it used, -1 on a shape mismatch. */
static int et__apply(const et_adapter *a, const char *name, float *f, int64_t K, int64_t N, bool bias, char *err,
                     size_t errlen) {
    char n[192];
    int used = 0;
    if (!bias && a->kind == ET_ADAPTER_IO_LORA) {
        snprintf(n, sizeof n, "%s.lora_a", name);
        const et_adapter_tensor *A = et_adapter_find(a, n);
        snprintf(n, sizeof n, "%s.lora_b", name);
        const et_adapter_tensor *B = et_adapter_find(a, n);
        if (A && B) {
            if (A->ne[0] != K || B->ne[1] != N) {
                snprintf(err, errlen, "adapter tensors %s.lora_a/b ([%lld, %d] / [%d, %lld]) do not fit %s [%lld, %lld]",
                         name, (long long)A->ne[0], a->rank, a->rank, (long long)B->ne[1], name, (long long)K,
                         (long long)N);
                return -1;
            }
            /* W[N,K] += (alpha/r) · B[N,r] · A[r,K] */
            et_sgemm(false, false, N, K, a->rank, a->alpha / (float)a->rank, B->data, a->rank, A->data, K, 1.0f, f, K);
            used += 2;
        }
    }
    if (a->kind == ET_ADAPTER_IO_IA3) {
        /* blk.N.attn_k.weight / .bias -> blk.N.attn_k.ia3 */
        size_t len = strlen(name), sfx = bias ? 5 : 7;
        if (len > sfx && len - sfx < 150) {
            snprintf(n, sizeof n, "%.*s.ia3", (int)(len - sfx), name);
            const et_adapter_tensor *s = et_adapter_find(a, n);
            if (s) {
                if (s->ne[0] != N) {
                    snprintf(err, errlen, "adapter tensor %s [%lld] does not fit %s (%lld outputs)", n,
                             (long long)s->ne[0], name, (long long)N);
                    return -1;
                }
                for (int64_t r = 0; r < N; r++)
                    for (int64_t k = 0; k < K; k++) f[r * K + k] *= s->data[r];
                used++;
            }
        }
    }
    return used;
}

int et_adapter_merge_gguf(const et_adapter *a, const et_gguf *base, int type, const char *out_path, char *err,
                          size_t errlen) {
    const char *fn = et_gguf_name(base);
    if (a->kind == ET_ADAPTER_IO_PROMPT) {
        snprintf(err, errlen, "%s: a soft prompt has no weights to fold into the model", fn);
        return -1;
    }
    if (et_adapter_check(a, "adapter", err, errlen)) return -1;
    if (type != ET_TYPE_COUNT && (type < 0 || type > ET_TYPE_COUNT || type == ET_I32 || type == ET_Q8_K)) {
        snprintf(err, errlen, "%s: merge type %d cannot hold weights", fn, type);
        return -1;
    }
    int64_t nt = et_gguf_n_tensors(base), used = 0;
    int changed = 0, rc = -1;
    et__merged *mg = calloc((size_t)nt + 1, sizeof *mg);
    et_gguf_writer *w = et_gguf_writer_new();
    if (!mg || !w) { snprintf(err, errlen, "%s: out of memory", fn); goto done; }
    for (int64_t i = 0; i < et_gguf_n_kv(base); i++) {
        const et_gguf_kv *kv = et_gguf_kv_at(base, i);
        et_gguf_writer_set_value(w, kv->key, &kv->value);
    }
    for (int64_t i = 0; i < nt; i++) {
        const et_gguf_tensor *t = et_gguf_tensor_at(base, i);
        size_t len = strlen(t->name);
        bool bias = len > 5 && !strcmp(t->name + len - 5, ".bias");
        bool weight = len > 7 && !strcmp(t->name + len - 7, ".weight");
        bool is2d = t->ne[2] == 1 && t->ne[3] == 1 && (bias ? t->ne[1] == 1 : true);
        int u = 0;
        int64_t K = bias ? 1 : t->ne[0], N = bias ? t->ne[0] : t->ne[1];
        if ((bias || weight) && is2d && !strncmp(t->name, "blk.", 4) && t->type != ET_I32 && t->type != ET_Q8_K) {
            mg[i].f = malloc((size_t)(K * N) * sizeof(float));
            if (!mg[i].f) { snprintf(err, errlen, "%s: %s: out of memory", fn, t->name); goto done; }
            et_kern_to_f32(t->type, t->data, mg[i].f, t->ne[0], bias ? 1 : N, et_type_row_size(t->type, t->ne[0]));
            if ((u = et__apply(a, t->name, mg[i].f, K, N, bias, err, errlen)) < 0) goto done;
        }
        if (u == 0) {
            free(mg[i].f);
            mg[i].f = NULL;
            et_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, t->nbytes);
            continue;
        }
        used += bias ? 0 : u;   /* an IA3 vector counts once, at its weight */
        changed++;
        et_type out = bias || type == ET_TYPE_COUNT ? t->type : (et_type)type;
        if (bias) out = ET_F32;
        if (t->ne[0] % et_type_get(out)->blck_size) {
            snprintf(err, errlen, "%s: tensor %s has rows of %lld, not a multiple of %s's block of %d", fn, t->name,
                     (long long)t->ne[0], et_type_get(out)->name, et_type_get(out)->blck_size);
            goto done;
        }
        size_t nb = et_type_nbytes(out, t->ne[0], bias ? 1 : N);
        if (!(mg[i].bytes = malloc(nb))) { snprintf(err, errlen, "%s: %s: out of memory", fn, t->name); goto done; }
        if (out == ET_NF4) et_ref_quantize_nf4(mg[i].f, mg[i].bytes, K * N);
        else et_type_get(out)->from_f32(mg[i].f, mg[i].bytes, K * N);
        free(mg[i].f);
        mg[i].f = NULL;
        et_gguf_writer_add_tensor(w, t->name, out, t->n_dims, t->ne, mg[i].bytes, nb);
    }
    if (used != a->n) {
        for (int64_t j = 0; j < a->n; j++) {   /* name the first adapter tensor with no base weight */
            int layer, mod, part;
            char wn[192];
            et_adapter_parse_name(a->t[j].name, &layer, &mod, &part);
            snprintf(wn, sizeof wn, "blk.%d.%s.weight", layer, et_adapter_module_names[mod]);
            if (!et_gguf_tensor_find(base, wn)) {
                snprintf(err, errlen, "%s: no base weight %s for adapter tensor %s", fn, wn, a->t[j].name);
                goto done;
            }
        }
        snprintf(err, errlen, "%s: only %lld of the adapter's %lld tensors have a base weight", fn, (long long)used,
                 (long long)a->n);
        goto done;
    }
    if (et_gguf_writer_write(w, out_path, err, errlen)) goto done;
    rc = changed;
done:
    et_gguf_writer_free(w);
    for (int64_t i = 0; mg && i < nt; i++) { free(mg[i].f); free(mg[i].bytes); }
    free(mg);
    return rc;
}
