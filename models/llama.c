/* Llama-family graph builder (see llama.h).  Activations are [dim, T, B]; attention tensors
 * [head_dim, heads, T, B].  Reading order: config checks, weights, one block, the model. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "llama.h"

/* ---------------------------------------------------------------- config */

bool et_llama_config_check(const et_llama_config *c, char *err, size_t errlen) {
#define ET__REQ(cond, field, val)                                                            \
    if (!(cond)) { snprintf(err, errlen, "model config: %s = %lld is invalid (%s)", field,   \
                            (long long)(val), #cond); return false; }
    ET__REQ(c->vocab > 0 && c->vocab < (1 << 24), "vocab", c->vocab);
    ET__REQ(c->dim > 0 && c->dim <= 65536, "dim", c->dim);
    ET__REQ(c->n_layers > 0 && c->n_layers <= ET_LLAMA_MAX_LAYERS, "n_layers", c->n_layers);
    ET__REQ(c->n_heads > 0, "n_heads", c->n_heads);
    ET__REQ(c->n_kv_heads > 0 && c->n_heads % c->n_kv_heads == 0, "n_kv_heads", c->n_kv_heads);
    ET__REQ(c->head_dim > 0 && c->head_dim % 2 == 0 && c->head_dim <= 1024, "head_dim", c->head_dim);
    ET__REQ(c->ffn > 0, "ffn", c->ffn);
    ET__REQ(c->max_seq > 0, "max_seq", c->max_seq);
    ET__REQ(c->sliding_window >= 0, "sliding_window", c->sliding_window);
    ET__REQ(c->rope_mode == ET_ROPE_NORM || c->rope_mode == ET_ROPE_NEOX, "rope_mode", c->rope_mode);
#undef ET__REQ
    if (!(c->rope_theta > 1.0f) || !(c->rms_eps >= 0.0f)) {
        snprintf(err, errlen, "model config: rope_theta = %g / rms_eps = %g invalid", c->rope_theta, c->rms_eps);
        return false;
    }
    return true;
}

int64_t et_llama_n_params(const et_llama_config *c, bool with_embeddings) {
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t layer = 2 * (int64_t)c->dim + (int64_t)c->dim * (q + 2 * kv) + q * c->dim + 3 * (int64_t)c->dim * c->ffn;
    if (c->qkv_bias) layer += q + 2 * kv;
    int64_t n = layer * c->n_layers + c->dim;
    if (with_embeddings) n += (int64_t)c->vocab * c->dim * (c->tied_embeddings ? 1 : 2);
    return n;
}

/* ---------------------------------------------------------------- weights */

/* Box-Muller over splitmix64: a fixed stream per seed, identical on every machine. */
static uint64_t et__splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static void et__fill_normal(et_tensor *t, uint64_t *s, float std) {
    float *d = t->data;
    int64_t n = et_nelements(t);
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = ((et__splitmix(s) >> 11) + 1.0) / 9007199254740993.0;
        double u2 = (et__splitmix(s) >> 11) / 9007199254740992.0;
        double r = sqrt(-2.0 * log(u1));
        d[i] = (float)(std * r * cos(2 * M_PI * u2));
        if (i + 1 < n) d[i + 1] = (float)(std * r * sin(2 * M_PI * u2));
    }
}
static void et__fill_const(et_tensor *t, float v) {
    float *d = t->data;
    for (int64_t i = 0; i < et_nelements(t); i++) d[i] = v;
}

static et_tensor *et__w(et_ctx *ctx, int64_t in, int64_t out, uint32_t flags, const char *fmt, int layer) {
    char name[ET_NAME_LEN];
    snprintf(name, sizeof name, fmt, layer);
    return out > 0 ? et_new_2d(ctx, ET_F32, in, out, flags, name) : et_new_1d(ctx, ET_F32, in, flags, name);
}

bool et_llama_init(et_llama *m, et_ctx *ctx, const et_llama_config *cfg, uint64_t seed, uint32_t flags) {
    char err[256];
    if (!et_llama_config_check(cfg, err, sizeof err)) { et_ctx_fail(ctx, "%s", err); return false; }
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->ctx = ctx;
    const et_llama_config *c = cfg;
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    uint64_t s = seed;
    float std = 0.02f, std_res = 0.02f / sqrtf(2.0f * (float)c->n_layers);
    m->tok_emb = et_new_2d(ctx, ET_F32, c->dim, c->vocab, flags, "token_embd.weight");
    if (!m->tok_emb) return false;
    et__fill_normal(m->tok_emb, &s, std);
    for (int l = 0; l < c->n_layers; l++) {
        et_llama_layer *L = &m->layers[l];
        L->attn_norm = et__w(ctx, c->dim, 0, flags, "blk.%d.attn_norm.weight", l);
        L->wq = et__w(ctx, c->dim, q, flags, "blk.%d.attn_q.weight", l);
        L->wk = et__w(ctx, c->dim, kv, flags, "blk.%d.attn_k.weight", l);
        L->wv = et__w(ctx, c->dim, kv, flags, "blk.%d.attn_v.weight", l);
        L->wo = et__w(ctx, q, c->dim, flags, "blk.%d.attn_output.weight", l);
        L->ffn_norm = et__w(ctx, c->dim, 0, flags, "blk.%d.ffn_norm.weight", l);
        L->w_gate = et__w(ctx, c->dim, c->ffn, flags, "blk.%d.ffn_gate.weight", l);
        L->w_up = et__w(ctx, c->dim, c->ffn, flags, "blk.%d.ffn_up.weight", l);
        L->w_down = et__w(ctx, c->ffn, c->dim, flags, "blk.%d.ffn_down.weight", l);
        if (c->qkv_bias) {
            L->bq = et__w(ctx, q, 0, flags, "blk.%d.attn_q.bias", l);
            L->bk = et__w(ctx, kv, 0, flags, "blk.%d.attn_k.bias", l);
            L->bv = et__w(ctx, kv, 0, flags, "blk.%d.attn_v.bias", l);
        }
        if (et_ctx_failed(ctx)) return false;
        et__fill_const(L->attn_norm, 1.0f);
        et__fill_const(L->ffn_norm, 1.0f);
        et__fill_normal(L->wq, &s, std);
        et__fill_normal(L->wk, &s, std);
        et__fill_normal(L->wv, &s, std);
        et__fill_normal(L->wo, &s, std_res);
        et__fill_normal(L->w_gate, &s, std);
        et__fill_normal(L->w_up, &s, std);
        et__fill_normal(L->w_down, &s, std_res);
        /* biases start at zero (et_new zeroes) */
    }
    m->out_norm = et_new_1d(ctx, ET_F32, c->dim, flags, "output_norm.weight");
    if (!m->out_norm) return false;
    et__fill_const(m->out_norm, 1.0f);
    if (c->tied_embeddings) {
        m->output = m->tok_emb;
    } else {
        m->output = et_new_2d(ctx, ET_F32, c->dim, c->vocab, flags, "output.weight");
        if (!m->output) return false;
        et__fill_normal(m->output, &s, std);
    }
    return !et_ctx_failed(ctx);
}

/* ---------------------------------------------------------------- graph */

bool et_llama_batch_new(et_llama_batch *b, et_ctx *ctx, int64_t T, int64_t B, int64_t P) {
    b->ids = et_new_2d(ctx, ET_I32, T, B, ET_FLAG_INPUT, "ids");
    b->pos = et_new_1d(ctx, ET_I32, T, ET_FLAG_INPUT, "pos");
    b->sel = et_new_1d(ctx, ET_I32, P, ET_FLAG_INPUT, "loss_positions");
    b->targets = et_new_1d(ctx, ET_I32, P, ET_FLAG_INPUT, "targets");
    if (et_ctx_failed(ctx)) return false;
    for (int64_t t = 0; t < T; t++) ((int32_t *)b->pos->data)[t] = (int32_t)t;
    return true;
}

et_tensor *et_llama_linear(et_llama *m, et_tensor *w, et_tensor *bias, et_tensor *x) {
    et_tensor *y = et_matmul(m->ctx, w, x);
    return bias ? et_add(m->ctx, y, bias) : y;
}

static et_tensor *et__block(et_llama *m, int l, et_tensor *x, et_tensor *pos) {
    et_ctx *ctx = m->ctx;
    const et_llama_config *c = &m->cfg;
    et_llama_layer *L = &m->layers[l];
    int64_t T = x->ne[1], B = x->ne[2];
    et_tensor *h = et_mul(ctx, et_rmsnorm(ctx, x, c->rms_eps), L->attn_norm);
    et_tensor *q = et_llama_linear(m, L->wq, L->bq, h);
    et_tensor *k = et_llama_linear(m, L->wk, L->bk, h);
    et_tensor *v = et_llama_linear(m, L->wv, L->bv, h);
    q = et_rope(ctx, et_reshape_4d(ctx, q, c->head_dim, c->n_heads, T, B), pos, c->head_dim, c->rope_mode, c->rope_theta);
    k = et_rope(ctx, et_reshape_4d(ctx, k, c->head_dim, c->n_kv_heads, T, B), pos, c->head_dim, c->rope_mode, c->rope_theta);
    v = et_reshape_4d(ctx, v, c->head_dim, c->n_kv_heads, T, B);
    et_tensor *o = et_attention(ctx, q, k, v, 1.0f / sqrtf((float)c->head_dim), 0, c->sliding_window);
    o = et_reshape_4d(ctx, o, (int64_t)c->head_dim * c->n_heads, T, B, 1);
    x = et_add(ctx, x, et_llama_linear(m, L->wo, NULL, o));
    h = et_mul(ctx, et_rmsnorm(ctx, x, c->rms_eps), L->ffn_norm);
    et_tensor *g = et_swiglu(ctx, et_llama_linear(m, L->w_gate, NULL, h), et_llama_linear(m, L->w_up, NULL, h));
    x = et_add(ctx, x, et_llama_linear(m, L->w_down, NULL, g));
    if (x) et_set_name(x, "blk.%d.out", l);
    return x;
}

et_tensor *et_llama_loss(et_llama *m, const et_llama_batch *b, bool checkpoint) {
    et_ctx *ctx = m->ctx;
    const et_llama_config *c = &m->cfg;
    int64_t T = b->ids->ne[0], B = b->ids->ne[1];
    if (T > c->max_seq)
        return et_ctx_fail(ctx, "batch: %lld tokens exceed the model's context of %d", (long long)T, c->max_seq);
    et_tensor *x = et_get_rows(ctx, m->tok_emb, b->ids);   /* [dim, T, B] */
    for (int l = 0; l < c->n_layers && x; l++) {
        if (checkpoint) x->flags |= ET_FLAG_CHECKPOINT;
        x = et__block(m, l, x, b->pos);
    }
    x = et_mul(ctx, et_rmsnorm(ctx, x, c->rms_eps), m->out_norm);
    /* the head runs only where the loss counts */
    et_tensor *hsel = et_get_rows(ctx, et_reshape_2d(ctx, x, c->dim, T * B), b->sel);
    et_tensor *loss = et_cross_entropy(ctx, hsel, m->output, b->targets);
    if (loss) et_set_name(loss, "loss");
    return loss;
}
