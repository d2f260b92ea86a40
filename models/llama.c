/* Llama-family graph builder (see llama.h).  Activations are [dim, T, B]; attention tensors
 * [head_dim, heads, T, B].  Reading order: config checks, weights, one block, the model.
 *
 * One block, with the gemma3 switches in brackets:
 *   h = rmsnorm(x)·attn_norm;  q, k, v = linear(h) (+ qwen2 biases)
 *   [q, k = rmsnorm over each head·q_norm / k_norm]   q, k = rope(q, k; the layer's base)
 *   o = wo·attention(q, k, v; the layer's window)    [o = rmsnorm(o)·post_attn_norm]
 *   x = x + o;  h = rmsnorm(x)·ffn_norm
 *   f = down(act(gate(h))·up(h)), act silu [gelu_tanh]   [f = rmsnorm(f)·post_ffn_norm]
 *   x = x + f
 * with the token embeddings [scaled by emb_scale] in front and rmsnorm·output_norm, then the
 * head, behind. */
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
    ET__REQ(c->arch >= 0 && c->arch < ET_ARCH_COUNT, "arch", c->arch);
    ET__REQ(c->ffn_act == ET_FFN_SWIGLU || c->ffn_act == ET_FFN_GEGLU, "ffn_act", c->ffn_act);
    ET__REQ(c->swa_period >= 0 && c->swa_period <= ET_LLAMA_MAX_LAYERS, "swa_period", c->swa_period);
#undef ET__REQ
    if (!(c->rope_theta > 1.0f) || !(c->rms_eps >= 0.0f)) {
        snprintf(err, errlen, "model config: rope_theta = %g / rms_eps = %g invalid", c->rope_theta, c->rms_eps);
        return false;
    }
    if (!(c->emb_scale >= 0.0f && c->emb_scale < 1e6f) || !(c->rope_theta_swa == 0.0f || c->rope_theta_swa > 1.0f) ||
        !(c->attn_scale >= 0.0f && c->attn_scale < 1e3f)) {
        snprintf(err, errlen, "model config: emb_scale = %g (0 or positive) / rope_theta_swa = %g (0 or > 1) / "
                 "attn_scale = %g (0 or positive) invalid", c->emb_scale, c->rope_theta_swa, c->attn_scale);
        return false;
    }
    return true;
}

const char *const et_llama_arch_names[ET_ARCH_COUNT] = {"llama", "mistral", "qwen2", "gemma3"};

void et_llama_layer_attn(const et_llama_config *c, int l, int32_t *window, float *theta) {
    if (c->swa_period <= 0) {        /* one kind of layer: mistral's window everywhere, or none */
        *window = c->sliding_window;
        *theta = c->rope_theta;
        return;
    }
    bool global = (l + 1) % c->swa_period == 0;
    *window = global ? 0 : c->sliding_window;
    *theta = global || !(c->rope_theta_swa > 0.0f) ? c->rope_theta : c->rope_theta_swa;
}

int64_t et_llama_n_params(const et_llama_config *c, bool with_embeddings) {
    int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t layer = 2 * (int64_t)c->dim + (int64_t)c->dim * (q + 2 * kv) + q * c->dim + 3 * (int64_t)c->dim * c->ffn;
    if (c->qkv_bias) layer += q + 2 * kv;
    if (c->qk_norm) layer += 2 * (int64_t)c->head_dim;
    if (c->post_norms) layer += 2 * (int64_t)c->dim;
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
        if (c->qk_norm) {
            L->q_norm = et__w(ctx, c->head_dim, 0, flags, "blk.%d.attn_q_norm.weight", l);
            L->k_norm = et__w(ctx, c->head_dim, 0, flags, "blk.%d.attn_k_norm.weight", l);
        }
        if (c->post_norms) {
            L->post_attn_norm = et__w(ctx, c->dim, 0, flags, "blk.%d.post_attention_norm.weight", l);
            L->post_ffn_norm = et__w(ctx, c->dim, 0, flags, "blk.%d.post_ffw_norm.weight", l);
        }
        if (et_ctx_failed(ctx)) return false;
        et__fill_const(L->attn_norm, 1.0f);
        et__fill_const(L->ffn_norm, 1.0f);
        et_tensor *extra[4] = {L->q_norm, L->k_norm, L->post_attn_norm, L->post_ffn_norm};
        for (int i = 0; i < 4; i++)
            if (extra[i]) et__fill_const(extra[i], 1.0f);
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

const char *const et_llama_lin_names[ET_LIN_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};

bool et_llama_batch_new(et_llama_batch *b, et_llama *m, int64_t T, int64_t B, int64_t P) {
    et_ctx *ctx = m->ctx;
    int64_t Tt = T + (m->ad.kind == ET_ADAPTER_PROMPT ? m->ad.n_prompt : 0);
    b->ids = et_new_2d(ctx, ET_I32, T, B, ET_FLAG_INPUT, "ids");
    b->pos = et_new_1d(ctx, ET_I32, Tt, ET_FLAG_INPUT, "pos");
    b->sel = et_new_1d(ctx, ET_I32, P, ET_FLAG_INPUT, "loss_positions");
    b->targets = et_new_1d(ctx, ET_I32, P, ET_FLAG_INPUT, "targets");
    if (et_ctx_failed(ctx)) return false;
    for (int64_t t = 0; t < Tt; t++) ((int32_t *)b->pos->data)[t] = (int32_t)t;
    return true;
}

int32_t et_llama_sel_index(const et_llama *m, const et_llama_batch *b, int64_t t, int64_t j) {
    int64_t np = m->ad.kind == ET_ADAPTER_PROMPT ? m->ad.n_prompt : 0;
    return (int32_t)(np + t + (np + b->ids->ne[0]) * j);
}

/* x·Wᵀ (+ bias) (+ LoRA: scale · B·(A·dropout(x)), the scale applied to the rank-r
 * activation A·x — r values a token instead of the layer's width, in the forward and in
 * the backward) */
static et_tensor *et__linear(et_llama *m, const et_llama_layer *L, int which, et_tensor *w, et_tensor *bias,
                             et_tensor *x, int site) {
    et_ctx *ctx = m->ctx;
    et_tensor *y = et_matmul(ctx, w, x);
    if (bias) y = et_add(ctx, y, bias);
    if (L && L->lora_a[which]) {
        et_tensor *xin = x;
        if (m->ad.dropout > 0 && m->ad.seed)
            xin = et_dropout(ctx, et_is_contiguous(x) ? x : et_cont(ctx, x), m->ad.seed, m->ad.dropout, site);
        et_tensor *ax = et_scale(ctx, et_matmul(ctx, L->lora_a[which], xin), m->ad.alpha / (float)m->ad.rank);
        y = et_add(ctx, y, et_matmul(ctx, L->lora_b[which], ax));
    }
    return y;
}

/* Flag y and the nodes between it and x (one linear's products, its LoRA branch) as
 * recomputable: the MLP's gate and up outputs are its largest activations (2 × ffn floats a
 * token) and cost two matmuls to redo, against a whole layer for checkpointing. */
static void et__mark_recomputable(et_tensor *y, const et_tensor *x) {
    if (!y || y == x || y->op == ET_OP_NONE || y->view_src || (y->flags & ET_FLAG_RECOMPUTABLE)) return;
    y->flags |= ET_FLAG_RECOMPUTABLE;
    for (int i = 0; i < ET_MAX_SRC; i++) et__mark_recomputable(y->src[i], x);
}

/* One block.  Training/scoring: cache == NULL, keys are this call's tokens.  Decoding: keys
 * and values go into the cache at n_past and attention reads the cache's prefix. */
static et_tensor *et__block(et_llama *m, int l, et_tensor *x, et_tensor *pos, et_llama_cache *cache, int n_past) {
    et_ctx *ctx = m->ctx;
    const et_llama_config *c = &m->cfg;
    et_llama_layer *L = &m->layers[l];
    int64_t T = x->ne[1], B = x->ne[2];
    int site = l * ET_LIN_COUNT;
    int32_t window;
    float theta;
    et_llama_layer_attn(c, l, &window, &theta);
    et_tensor *h = et_mul(ctx, et_rmsnorm(ctx, x, c->rms_eps), L->attn_norm);
    et_tensor *q = et__linear(m, L, ET_LIN_Q, L->wq, L->bq, h, site + ET_LIN_Q);
    et_tensor *k = et__linear(m, L, ET_LIN_K, L->wk, L->bk, h, site + ET_LIN_K);
    et_tensor *v = et__linear(m, L, ET_LIN_V, L->wv, L->bv, h, site + ET_LIN_V);
    if (L->ia3_k) k = et_mul(ctx, k, L->ia3_k);
    if (L->ia3_v) v = et_mul(ctx, v, L->ia3_v);
    q = et_reshape_4d(ctx, q, c->head_dim, c->n_heads, T, B);
    k = et_reshape_4d(ctx, k, c->head_dim, c->n_kv_heads, T, B);
    if (L->q_norm) q = et_mul(ctx, et_rmsnorm(ctx, q, c->rms_eps), L->q_norm);   /* over each head */
    if (L->k_norm) k = et_mul(ctx, et_rmsnorm(ctx, k, c->rms_eps), L->k_norm);
    q = et_rope(ctx, q, pos, c->head_dim, c->rope_mode, theta);
    k = et_rope(ctx, k, pos, c->head_dim, c->rope_mode, theta);
    v = et_reshape_4d(ctx, v, c->head_dim, c->n_kv_heads, T, B);
    if (cache) {
        k = et_kv_store(ctx, cache->k[l], k, n_past);
        v = et_kv_store(ctx, cache->v[l], v, n_past);
    }
    const float scale = c->attn_scale > 0.0f ? c->attn_scale : 1.0f / sqrtf((float)c->head_dim);
    et_tensor *o = et_attention(ctx, q, k, v, scale, cache ? n_past : 0, window);
    o = et_reshape_4d(ctx, o, (int64_t)c->head_dim * c->n_heads, T, B, 1);
    o = et__linear(m, L, ET_LIN_O, L->wo, NULL, o, site + ET_LIN_O);
    if (L->post_attn_norm) o = et_mul(ctx, et_rmsnorm(ctx, o, c->rms_eps), L->post_attn_norm);
    x = et_add(ctx, x, o);
    h = et_mul(ctx, et_rmsnorm(ctx, x, c->rms_eps), L->ffn_norm);
    et_tensor *up = et__linear(m, L, ET_LIN_UP, L->w_up, NULL, h, site + ET_LIN_UP);
    if (L->ia3_ff) up = et_mul(ctx, up, L->ia3_ff);
    et_tensor *gate = et__linear(m, L, ET_LIN_GATE, L->w_gate, NULL, h, site + ET_LIN_GATE);
    et__mark_recomputable(up, h);
    et__mark_recomputable(gate, h);
    et_tensor *g = c->ffn_act == ET_FFN_GEGLU ? et_geglu(ctx, gate, up) : et_swiglu(ctx, gate, up);
    et_tensor *f = et__linear(m, L, ET_LIN_DOWN, L->w_down, NULL, g, site + ET_LIN_DOWN);
    if (L->post_ffn_norm) f = et_mul(ctx, et_rmsnorm(ctx, f, c->rms_eps), L->post_ffn_norm);
    x = et_add(ctx, x, f);
    if (x) et_set_name(x, "blk.%d.out", l);
    return x;
}

/* Token embeddings [dim, ...ids' shape], times emb_scale when the model has one. */
static et_tensor *et__embed(et_llama *m, et_tensor *ids) {
    et_tensor *x = et_get_rows(m->ctx, m->tok_emb, ids);
    return m->cfg.emb_scale > 0.0f ? et_scale(m->ctx, x, m->cfg.emb_scale) : x;
}

/* Embeddings (+ soft prompt) through every block to the final norm: [dim, T', B]. */
static et_tensor *et__trunk(et_llama *m, const et_llama_batch *b, bool checkpoint) {
    et_ctx *ctx = m->ctx;
    const et_llama_config *c = &m->cfg;
    int64_t T = b->ids->ne[0], B = b->ids->ne[1];
    int64_t Tt = b->pos->ne[0];
    if (Tt > c->max_seq)
        return et_ctx_fail(ctx, "batch: %lld positions exceed the model's context of %d", (long long)Tt, c->max_seq);
    et_tensor *x = et__embed(m, b->ids);                   /* [dim, T, B] */
    if (m->ad.kind == ET_ADAPTER_PROMPT) {     /* the soft prompt enters as is (HF inputs_embeds) */
        et_tensor *sp = et_reshape_4d(ctx, m->ad.soft_prompt, c->dim, m->ad.n_prompt, 1, 1);
        et_tensor *like = et__new_node(ctx, ET_OP_NONE, ET_F32, 4, (int64_t[]){c->dim, m->ad.n_prompt, B, 1});
        x = et_concat(ctx, B > 1 ? et_repeat(ctx, sp, like) : sp, x);
    }
    (void)T;
    for (int l = 0; l < c->n_layers && x; l++) {
        if (checkpoint) x->flags |= ET_FLAG_CHECKPOINT;
        x = et__block(m, l, x, b->pos, NULL, 0);
    }
    return et_mul(ctx, et_rmsnorm(ctx, x, c->rms_eps), m->out_norm);
}

static et_tensor *et__head_input(et_llama *m, const et_llama_batch *b, et_tensor *x) {
    /* the head runs only where the loss counts */
    return et_get_rows(m->ctx, et_reshape_2d(m->ctx, x, m->cfg.dim, et_nrows(x)), b->sel);
}

et_tensor *et_llama_loss(et_llama *m, const et_llama_batch *b, bool checkpoint) {
    et_tensor *x = et__trunk(m, b, checkpoint);
    if (!x) return NULL;
    et_tensor *loss = et_cross_entropy(m->ctx, et__head_input(m, b, x), m->output, b->targets);
    if (loss) et_set_name(loss, "loss");
    return loss;
}

et_tensor *et_llama_nll(et_llama *m, const et_llama_batch *b) {
    et_tensor *x = et__trunk(m, b, false);
    if (!x) return NULL;
    et_tensor *nll = et_cross_entropy_none(m->ctx, et__head_input(m, b, x), m->output, b->targets);
    if (nll) et_set_name(nll, "nll");
    return nll;
}

et_tensor *et_llama_logits(et_llama *m, const et_llama_batch *b) {
    et_tensor *x = et__trunk(m, b, false);
    if (!x) return NULL;
    et_tensor *lg = et_matmul(m->ctx, m->output, et__head_input(m, b, x));
    if (lg) et_set_name(lg, "logits");
    return lg;
}

/* ---------------------------------------------------------------- decoding */

bool et_llama_cache_new(et_llama_cache *c, et_llama *m, et_ctx *ctx, int32_t n_ctx) {
    const et_llama_config *cf = &m->cfg;
    if (n_ctx <= 0 || n_ctx > cf->max_seq) {
        et_ctx_fail(ctx, "kv cache: n_ctx %d must be in 1..%d (the model's context)", n_ctx, cf->max_seq);
        return false;
    }
    c->n_ctx = n_ctx;
    for (int l = 0; l < cf->n_layers; l++) {
        int64_t ne[4] = {cf->head_dim, cf->n_kv_heads, n_ctx, 1};
        c->k[l] = et_new(ctx, ET_F32, 4, ne, 0, "cache_k");
        c->v[l] = et_new(ctx, ET_F32, 4, ne, 0, "cache_v");
        if (!c->k[l] || !c->v[l]) return false;
        et_set_name(c->k[l], "cache_k.%d", l);
        et_set_name(c->v[l], "cache_v.%d", l);
    }
    return true;
}

static et_tensor *et__decode(et_llama *m, et_llama_cache *c, et_tensor *ids, et_tensor *pos, int n_past,
                             bool all) {
    et_ctx *ctx = m->ctx;
    const et_llama_config *cf = &m->cfg;
    if (!ids || !pos) return NULL;
    int64_t T = et_nelements(ids);
    et_tensor *x = et__embed(m, et_reshape_4d(ctx, ids, T, 1, 1, 1));   /* [dim, T, 1] */
    for (int l = 0; l < cf->n_layers && x; l++) x = et__block(m, l, x, pos, c, n_past);
    x = et_mul(ctx, et_rmsnorm(ctx, x, cf->rms_eps), m->out_norm);
    if (!x) return NULL;
    et_tensor *h;
    if (all) {
        h = et_reshape_2d(ctx, x, cf->dim, T);
    } else {
        size_t nb[4] = {4, x->nb[1], x->nb[1], x->nb[1]};
        h = et_cont(ctx, et_view(ctx, x, 2, (int64_t[]){cf->dim, 1}, nb, (size_t)(T - 1) * x->nb[1]));
    }
    et_tensor *logits = et_matmul(ctx, m->output, h);
    if (logits) { et_set_name(logits, "logits"); logits->flags |= ET_FLAG_OUTPUT; }
    return logits;
}

et_tensor *et_llama_decode(et_llama *m, et_llama_cache *c, et_tensor *ids, et_tensor *pos, int n_past) {
    return et__decode(m, c, ids, pos, n_past, false);
}

et_tensor *et_llama_decode_all(et_llama *m, et_llama_cache *c, et_tensor *ids, et_tensor *pos, int n_past) {
    return et__decode(m, c, ids, pos, n_past, true);
}
