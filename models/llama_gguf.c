/* Llama-family models in GGUF: read a config and the weights (used in place from the mapped
 * file), and write a model (our own small base models, merged models) that llama.cpp loads.
 * Architectures: "llama" and "mistral" (rope pairs (2i, 2i+1): llama.cpp's converter already
 * permuted q/k for it) and "qwen2" (neox rope, q/k/v biases). */
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

int et_llama_config_from_gguf(const et_gguf *g, et_llama_config *c, char *err, size_t errlen) {
    et_gguf_str arch;
    if (et_gguf_get_str(g, "general.architecture", &arch, err, errlen)) return -1;
    char a[32];
    snprintf(a, sizeof a, "%.*s", (int)(arch.len < 31 ? arch.len : 31), arch.ptr);
    if (strcmp(a, "llama") && strcmp(a, "mistral") && strcmp(a, "qwen2")) {
        snprintf(err, errlen, "%s: general.architecture = '%s' is not supported (llama, mistral, qwen2)",
                 et_gguf_name(g), a);
        return -1;
    }
    memset(c, 0, sizeof *c);
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
    c->rope_mode = !strcmp(a, "qwen2") ? ET_ROPE_NEOX : ET_ROPE_NORM;
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
#undef ET__L
    }
#undef ET__T
    /* norms and biases are computed with in f32 */
    for (int l = 0; l < c->n_layers; l++) {
        et_tensor *f32s[5] = {m->layers[l].attn_norm, m->layers[l].ffn_norm, m->layers[l].bq, m->layers[l].bk,
                              m->layers[l].bv};
        for (int i = 0; i < 5; i++)
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
    et_gguf_writer_set_str(w, "general.architecture", "llama");
    if (name) et_gguf_writer_set_str(w, "general.name", name);
    et_gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->max_seq);
    et_gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    et_gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    et_gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->ffn);
    et_gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    et_gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    et_gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_dim);
    et_gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)c->head_dim);
    et_gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)c->head_dim);
    et_gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->vocab);
    et_gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_theta);
    et_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->rms_eps);
    const et_tensor *ts[3] = {m->tok_emb, m->out_norm, c->tied_embeddings ? NULL : m->output};
    for (int i = 0; i < 3; i++)
        if (ts[i])
            et_gguf_writer_add_tensor(w, ts[i]->name, ts[i]->type, ts[i]->ne[1] > 1 ? 2 : 1, ts[i]->ne, ts[i]->data,
                                      et_nbytes(ts[i]));
    for (int l = 0; l < c->n_layers; l++) {
        const et_llama_layer *L = &m->layers[l];
        const et_tensor *lt[12] = {L->attn_norm, L->wq, L->wk, L->wv, L->wo, L->ffn_norm, L->w_gate, L->w_up,
                                   L->w_down, L->bq, L->bk, L->bv};
        for (int i = 0; i < 12; i++)
            if (lt[i])
                et_gguf_writer_add_tensor(w, lt[i]->name, lt[i]->type, lt[i]->ne[1] > 1 ? 2 : 1, lt[i]->ne, lt[i]->data,
                                          et_nbytes(lt[i]));
    }
}
