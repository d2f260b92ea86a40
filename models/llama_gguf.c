/* Llama-family models in GGUF: read a config and the weights (used in place from the mapped
 * file), and write a model (our own small base models, merged models) that llama.cpp loads.
 * Architectures: "llama" and "mistral" (rope pairs (2i, 2i+1): llama.cpp's converter already
 * permuted q/k for it), "qwen2" (neox rope, q/k/v biases) and "gemma3" (neox rope, per-head
 * q/k norms, post-attention / post-MLP norms, GEGLU, embeddings scaled by sqrt(dim), local
 * layers with a sliding window and rope base 10000 between global ones every 6th layer --
 * the pattern and the local base as llama.cpp reads them: gemma3.attention.sliding_window_pattern
 * and gemma3.rope.freq_base_swa, with those defaults when absent).  Gemma's RMSNorm scales by
 * (1 + w); GGUF stores the shifted weight, so every norm here is a plain multiplier.
 *
 * Writing: llama.cpp has no "mistral" architecture (its converter writes Mistral models as
 * "llama"), so a mistral model is written as "llama" with its llama.attention.sliding_window
 * (llama.cpp ignores the key, edgetune reads it back); the others under their own name and
 * keys. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "io/gguf.h"
#include "llama_gguf.h"

static int et__u32(const et_gguf *g, const char *arch, const char *key, uint32_t *out, bool required, char *err,
                   size_t errlen) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int rc = et_gguf_get_u32(g, k, out, err, errlen);
    if (rc == ET_GGUF_MISSING && !required) return 0;
    return rc;
}

static int et__f32(const et_gguf *g, const char *arch, const char *key, float *out, char *err, size_t errlen) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return et_gguf_get_f32(g, k, out, err, errlen) < 0 ? -1 : 0;   /* absent: *out unchanged */
}

/* Gemma 3's switches and the features edgetune does not implement (refused by name). */
static int et__gemma3_config(const et_gguf *g, et_llama_config *c, char *err, size_t errlen) {
    const char *a = "gemma3";
    c->rope_mode = ET_ROPE_NEOX;
    c->qk_norm = c->post_norms = true;
    c->ffn_act = ET_FFN_GEGLU;
    c->emb_scale = sqrtf((float)c->dim);
    /* llama.cpp (from gemma_pytorch's configs): query_pre_attn_scalar is head_dim, except for
     * the 27B model (62 layers), where it is dim / heads; GGUF has no key for it */
    if (c->n_layers == 62) c->attn_scale = 1.0f / sqrtf((float)(c->dim / c->n_heads));
    uint32_t period = 6;
    if (et__u32(g, a, "attention.sliding_window_pattern", &period, false, err, errlen)) return -1;
    c->swa_period = c->sliding_window > 0 ? (int32_t)period : 0;   /* no window: every layer global */
    if (c->swa_period == 0 && c->sliding_window > 0) {
        snprintf(err, errlen, "%s: gemma3.attention.sliding_window_pattern = 0 (every layer local) is not supported",
                 et_gguf_name(g));
        return -1;
    }
    c->rope_theta_swa = 10000.0f;
    if (et__f32(g, a, "rope.freq_base_swa", &c->rope_theta_swa, err, errlen)) return -1;
    float cap = 0.0f, factor = 1.0f;
    if (et__f32(g, a, "final_logit_softcapping", &cap, err, errlen)) return -1;
    if (et__f32(g, a, "attn_logit_softcapping", &cap, err, errlen)) return -1;
    if (et__f32(g, a, "rope.scaling.factor", &factor, err, errlen)) return -1;
    if (cap != 0.0f || factor != 1.0f) {
        snprintf(err, errlen, "%s: gemma3 with logit softcapping (%g) or rope scaling (factor %g) is not supported",
                 et_gguf_name(g), cap, factor);
        return -1;
    }
    uint32_t vlen = (uint32_t)c->head_dim;
    if (et__u32(g, a, "attention.value_length", &vlen, false, err, errlen)) return -1;
    if (vlen != (uint32_t)c->head_dim) {
        snprintf(err, errlen, "%s: gemma3.attention.value_length = %u differs from key_length %d (unsupported)",
                 et_gguf_name(g), vlen, c->head_dim);
        return -1;
    }
    return 0;
}

int et_llama_config_from_gguf(const et_gguf *g, et_llama_config *c, char *err, size_t errlen) {
    et_gguf_str arch;
    if (et_gguf_get_str(g, "general.architecture", &arch, err, errlen)) return -1;
    char a[32];
    snprintf(a, sizeof a, "%.*s", (int)(arch.len < 31 ? arch.len : 31), arch.ptr);
    memset(c, 0, sizeof *c);
    c->arch = ET_ARCH_COUNT;
    for (int i = 0; i < ET_ARCH_COUNT; i++)
        if (!strcmp(a, et_llama_arch_names[i])) c->arch = i;
    if (c->arch == ET_ARCH_COUNT) {
        snprintf(err, errlen, "%s: general.architecture = '%s' is not supported (llama, mistral, qwen2, gemma3)",
                 et_gguf_name(g), a);
        return -1;
    }
    uint32_t v = 0;
    if (et__u32(g, a, "embedding_length", &v, true, err, errlen)) return -1;
    c->dim = (int32_t)v;
    if (et__u32(g, a, "block_count", &v, true, err, errlen)) return -1;
    c->n_layers = (int32_t)v;
    if (et__u32(g, a, "feed_forward_length", &v, true, err, errlen)) return -1;
    c->ffn = (int32_t)v;
    if (et__u32(g, a, "attention.head_count", &v, true, err, errlen)) return -1;
    c->n_heads = (int32_t)v;
    v = (uint32_t)c->n_heads;
    if (et__u32(g, a, "attention.head_count_kv", &v, false, err, errlen)) return -1;
    c->n_kv_heads = (int32_t)v;
    if (et__u32(g, a, "context_length", &v, true, err, errlen)) return -1;
    c->max_seq = (int32_t)v;
    v = c->n_heads ? (uint32_t)(c->dim / c->n_heads) : 0;
    if (et__u32(g, a, "attention.key_length", &v, false, err, errlen)) return -1;
    c->head_dim = (int32_t)v;
    v = 0;
    if (et__u32(g, a, "attention.sliding_window", &v, false, err, errlen)) return -1;
    c->sliding_window = (int32_t)v;
    char k[128];
    c->rope_theta = 10000.0f;
    snprintf(k, sizeof k, "%s.rope.freq_base", a);
    if (et_gguf_get_f32(g, k, &c->rope_theta, err, errlen) < 0) return -1;
    c->rms_eps = 1e-5f;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", a);
    if (et_gguf_get_f32(g, k, &c->rms_eps, err, errlen) < 0) return -1;
    const et_gguf_tensor *emb = et_gguf_tensor_find(g, "token_embd.weight");
    if (!emb) { snprintf(err, errlen, "%s: tensor token_embd.weight is missing", et_gguf_name(g)); return -1; }
    c->vocab = (int32_t)emb->ne[1];
    c->tied_embeddings = et_gguf_tensor_find(g, "output.weight") == NULL;
    c->qkv_bias = et_gguf_tensor_find(g, "blk.0.attn_q.bias") != NULL;
    c->rope_mode = c->arch == ET_ARCH_QWEN2 ? ET_ROPE_NEOX : ET_ROPE_NORM;
    if (c->arch == ET_ARCH_GEMMA3 && et__gemma3_config(g, c, err, errlen)) return -1;
    return et_llama_config_check(c, err, errlen) ? 0 : -1;
}

/* Wrap one GGUF tensor, checking its shape against what the config implies. */
static et_tensor *et__take(et_llama *m, const et_gguf *g, const char *name, int64_t ne0, int64_t ne1, bool required,
                           char *err, size_t errlen) {
    const et_gguf_tensor *t = et_gguf_tensor_find(g, name);
    if (!t) {
        if (required) snprintf(err, errlen, "%s: tensor %s is missing", et_gguf_name(g), name);
        return NULL;
    }
    if (t->ne[0] != ne0 || t->ne[1] != (ne1 ? ne1 : 1) || t->ne[2] != 1 || t->ne[3] != 1) {
        snprintf(err, errlen, "%s: tensor %s has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", et_gguf_name(g),
                 name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                 (long long)ne0, (long long)(ne1 ? ne1 : 1));
        return NULL;
    }
    et_tensor *x = et_new_external(m->ctx, t->type, ne1 ? 2 : 1, (int64_t[]){ne0, ne1 ? ne1 : 1}, (void *)t->data,
                                   ET_FLAG_FROZEN, name);
    if (!x) snprintf(err, errlen, "%s: tensor %s: %s", et_gguf_name(g), name, et_ctx_error(m->ctx));
    return x;
}

int et_llama_from_gguf(et_llama *m, et_ctx *ctx, const et_gguf *g, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    if (et_llama_config_from_gguf(g, &m->cfg, err, errlen)) return -1;
    m->ctx = ctx;
    const et_llama_config *c = &m->cfg;
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    err[0] = 0;
#define ET__T(dst, name, a, b, req) do { dst = et__take(m, g, name, a, b, req, err, errlen); \
        if (!dst && (req || err[0])) return -1; } while (0)
    ET__T(m->tok_emb, "token_embd.weight", c->dim, c->vocab, true);
    ET__T(m->out_norm, "output_norm.weight", c->dim, 0, true);
    if (c->tied_embeddings) m->output = m->tok_emb;
    else ET__T(m->output, "output.weight", c->dim, c->vocab, true);
    char n[96];
    for (int l = 0; l < c->n_layers; l++) {
        et_llama_layer *L = &m->layers[l];
#define ET__L(dst, suffix, a, b, req) do { snprintf(n, sizeof n, "blk.%d.%s", l, suffix); ET__T(dst, n, a, b, req); } while (0)
        ET__L(L->attn_norm, "attn_norm.weight", c->dim, 0, true);
        ET__L(L->wq, "attn_q.weight", c->dim, q, true);
        ET__L(L->wk, "attn_k.weight", c->dim, kv, true);
        ET__L(L->wv, "attn_v.weight", c->dim, kv, true);
        ET__L(L->wo, "attn_output.weight", q, c->dim, true);
        ET__L(L->ffn_norm, "ffn_norm.weight", c->dim, 0, true);
        ET__L(L->w_gate, "ffn_gate.weight", c->dim, c->ffn, true);
        ET__L(L->w_up, "ffn_up.weight", c->dim, c->ffn, true);
        ET__L(L->w_down, "ffn_down.weight", c->ffn, c->dim, true);
        if (c->qkv_bias) {
            ET__L(L->bq, "attn_q.bias", q, 0, true);
            ET__L(L->bk, "attn_k.bias", kv, 0, true);
            ET__L(L->bv, "attn_v.bias", kv, 0, true);
        }
        if (c->qk_norm) {
            ET__L(L->q_norm, "attn_q_norm.weight", c->head_dim, 0, true);
            ET__L(L->k_norm, "attn_k_norm.weight", c->head_dim, 0, true);
        }
        if (c->post_norms) {
            ET__L(L->post_attn_norm, "post_attention_norm.weight", c->dim, 0, true);
            ET__L(L->post_ffn_norm, "post_ffw_norm.weight", c->dim, 0, true);
        }
#undef ET__L
    }
#undef ET__T
    /* norms and biases are computed with in f32 */
    for (int l = 0; l < c->n_layers; l++) {
        const et_llama_layer *L = &m->layers[l];
        et_tensor *f32s[9] = {L->attn_norm, L->ffn_norm, L->bq, L->bk, L->bv, L->q_norm, L->k_norm, L->post_attn_norm,
                              L->post_ffn_norm};
        for (int i = 0; i < 9; i++)
            if (f32s[i] && f32s[i]->type != ET_F32) {
                snprintf(err, errlen, "%s: %s must be f32, is %s", et_gguf_name(g), f32s[i]->name,
                         et_type_get(f32s[i]->type)->name);
                return -1;
            }
    }
    if (m->out_norm->type != ET_F32) {
        snprintf(err, errlen, "%s: output_norm.weight must be f32", et_gguf_name(g));
        return -1;
    }
    return 0;
}

void et_llama_to_gguf(const et_llama *m, et_gguf_writer *w, const char *name) {
    const et_llama_config *c = &m->cfg;
    /* llama.cpp knows no "mistral": its models are "llama" with the window key (see above) */
    const char *a = c->arch == ET_ARCH_MISTRAL || c->arch < 0 || c->arch >= ET_ARCH_COUNT ? "llama"
                                                                                         : et_llama_arch_names[c->arch];
    char k[128];
#define ET__KEY(key) (snprintf(k, sizeof k, "%s.%s", a, key), k)
    et_gguf_writer_set_str(w, "general.architecture", a);
    if (name) et_gguf_writer_set_str(w, "general.name", name);
    et_gguf_writer_set_u32(w, ET__KEY("context_length"), (uint32_t)c->max_seq);
    et_gguf_writer_set_u32(w, ET__KEY("embedding_length"), (uint32_t)c->dim);
    et_gguf_writer_set_u32(w, ET__KEY("block_count"), (uint32_t)c->n_layers);
    et_gguf_writer_set_u32(w, ET__KEY("feed_forward_length"), (uint32_t)c->ffn);
    et_gguf_writer_set_u32(w, ET__KEY("attention.head_count"), (uint32_t)c->n_heads);
    et_gguf_writer_set_u32(w, ET__KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    et_gguf_writer_set_u32(w, ET__KEY("rope.dimension_count"), (uint32_t)c->head_dim);
    et_gguf_writer_set_u32(w, ET__KEY("attention.key_length"), (uint32_t)c->head_dim);
    et_gguf_writer_set_u32(w, ET__KEY("attention.value_length"), (uint32_t)c->head_dim);
    et_gguf_writer_set_u32(w, ET__KEY("vocab_size"), (uint32_t)c->vocab);
    et_gguf_writer_set_f32(w, ET__KEY("rope.freq_base"), c->rope_theta);
    et_gguf_writer_set_f32(w, ET__KEY("attention.layer_norm_rms_epsilon"), c->rms_eps);
    if (c->sliding_window > 0) et_gguf_writer_set_u32(w, ET__KEY("attention.sliding_window"), (uint32_t)c->sliding_window);
    if (c->arch == ET_ARCH_GEMMA3 && c->swa_period > 0) {
        et_gguf_writer_set_u32(w, ET__KEY("attention.sliding_window_pattern"), (uint32_t)c->swa_period);
        et_gguf_writer_set_f32(w, ET__KEY("rope.freq_base_swa"), c->rope_theta_swa > 0 ? c->rope_theta_swa : c->rope_theta);
    }
#undef ET__KEY
    const et_tensor *ts[3] = {m->tok_emb, m->out_norm, c->tied_embeddings ? NULL : m->output};
    for (int i = 0; i < 3; i++)
        if (ts[i])
            et_gguf_writer_add_tensor(w, ts[i]->name, ts[i]->type, ts[i]->ne[1] > 1 ? 2 : 1, ts[i]->ne, ts[i]->data,
                                      et_nbytes(ts[i]));
    for (int l = 0; l < c->n_layers; l++) {
        const et_llama_layer *L = &m->layers[l];
        const et_tensor *lt[16] = {L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->ffn_norm, L->w_gate, L->w_up,
                                   L->w_down, L->bq, L->bk, L->bv, L->q_norm, L->k_norm, L->post_attn_norm,
                                   L->post_ffn_norm};
        for (int i = 0; i < 16; i++)
            if (lt[i])
                et_gguf_writer_add_tensor(w, lt[i]->name, lt[i]->type, lt[i]->ne[1] > 1 ? 2 : 1, lt[i]->ne, lt[i]->data,
                                          et_nbytes(lt[i]));
    }
}
