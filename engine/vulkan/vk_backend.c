/* The Vulkan backend: engine/backend.h's function table over the op helpers of vk_ops.c and
 * vk_ops_nn.c.
 *
 * Memory: every tensor the graph touches gets its own device buffer (weights as et_vk_weight,
 * row-chunked; activations one binding each); contiguous views share their root's buffer,
 * bound at their offset (et_vk_buf_view) when it is not 0.  The planner's single-buffer
 * offsets are not used yet: a device buffer per tensor costs more memory than the plan, never
 * less (later: bind the step buffer with offsets aligned to minStorageBufferOffsetAlignment).
 *
 * supports_op says which nodes run here, with the reason when not: ops without a shader (none
 * in today's op table; a new row gets "no Vulkan shader" until it has one), and shapes the
 * shaders do not cover (strided views, broadcasts other than a leading block, partial rope, an
 * activation larger than one storage binding: named, with the limit).
 *
 * The fused head + cross-entropy is chunked over the vocabulary as on the CPU: logits of C rows
 * of W at a time (P·C floats, at most one binding and 32 MiB) feed a running log-sum-exp, so a
 * real LM head (32000+ rows) fits the 128 MiB and the mobile 1 MiB binding limits; backward
 * recomputes each chunk's logits and adds its slice of dh (or writes rows v0.. of dW).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "profile.h"
#include "vk_backend.h"
#include "vk_ops.h"

typedef struct et__vkt {          /* per tensor id */
    et_vk_buf   *buf;             /* plain buffer (activations, f32/i32 leaves), or NULL */
    et_vk_weight w;               /* weight view for MATMUL / MATMUL_DX / GET_ROWS sources */
    et_vk_buf   *scratch;         /* lse (ATTN), rstd (RMSNORM_BACK), delta (ATTN_BACK) */
    et_vk_buf   *parts[3];        /* ATTN_BACK: views of dq | dk | dv in the packed output;
                                     CROSS_ENTROPY(_BACK): a logits chunk [P][C], m/lse [P], s [P]
                                     (scratch: zt/rowloss [P]) */
    et_vk_buf  **dw_views;        /* CROSS_ENTROPY_BACK to W: rows v0.. of dW per chunk */
    int32_t      n_dw_views;
    int64_t      ce_chunk;        /* CROSS_ENTROPY(_BACK): vocabulary rows per chunk (C) */
    bool         owns;            /* buf is ours (not an alias of a view source) */
    bool         is_view;         /* buf is an et_vk_buf_view into the root's buffer */
} et__vkt;

typedef struct et__vkbe {
    et_backend  be;
    et_vk_ctx  *ctx;
    et__vkt    *t;                /* indexed by tensor id */
    int32_t     nt;
    et_vk_buf  *ones;             /* rmsnorm's unit gain */
    int64_t     ones_n;
} et__vkbe;

static const et_tensor *et__root(const et_tensor *t) {
    while (t->view_src) t = t->view_src;
    return t;
}
/* Byte offset of a view in its root. */
static size_t et__offs(const et_tensor *t) {
    size_t o = 0;
    for (const et_tensor *v = t; v->view_src; v = v->view_src) o += v->view_offs;
    return o;
}
/* A tensor the shaders can read as a dense array: contiguous, and if a view, a contiguous
 * window of a contiguous root (bound at an offset: et_vk_buf_view). */
static bool et__dense(const et_tensor *t) {
    if (!et_is_contiguous(t)) return false;
    for (const et_tensor *v = t; v->view_src; v = v->view_src)
        if (!et_is_contiguous(v->view_src)) return false;
    return true;
}
static bool et__is_f32(const et_tensor *t) { return t->type == ET_F32 && et__dense(t); }
static bool et__is_i32(const et_tensor *t) { return t->type == ET_I32 && et__dense(t); }
static bool et__is_weight(const et_tensor *w) {
    return et_vk_weight_type_ok(w->type) && w->ne[2] == 1 && w->ne[3] == 1 && !w->view_src &&
           et_is_contiguous(w) && w->op == ET_OP_NONE;
}
/* b broadcast over a as out[i] = a[i] op b[i % nb]: b's leading dims equal a's, the rest 1. */
static bool et__cyclic_bcast(const et_tensor *a, const et_tensor *b) {
    int k = 0;
    while (k < ET_MAX_DIMS && b->ne[k] == a->ne[k]) k++;
    for (int j = k; j < ET_MAX_DIMS; j++)
        if (b->ne[j] != 1) return false;
    return true;
}

#define WHY(...) do { snprintf(why, n, __VA_ARGS__); return false; } while (0)

#define ET__CE_MAX_BYTES (32u << 20)   /* a logits chunk: at most 32 MiB (and one binding) */

static uint64_t et__gcd(uint64_t a, uint64_t b) { while (b) { uint64_t r = a % b; a = b; b = r; } return a; }

/* Vocabulary rows per chunk of a CROSS_ENTROPY(_BACK) node: as many as P·C floats fit one
 * binding (and 32 MiB); for dW a multiple of the rows whose byte offset the device can bind
 * a view at.  0 when not even one such step fits. */
static int64_t et__ce_chunk(et__vkbe *b, const et_tensor *t) {
    const et_vk_limits *l = et_vk_get_limits(b->ctx);
    int64_t P = t->src[0]->ne[1], D = t->src[0]->ne[0], V = t->src[1]->ne[1];
    uint64_t cap = l->max_binding_bytes - 256 < ET__CE_MAX_BYTES ? l->max_binding_bytes - 256 : ET__CE_MAX_BYTES;
    int64_t C = (int64_t)(cap / (4 * (uint64_t)(P > 0 ? P : 1)));
    if (C >= V) return V;
    int64_t unit = 4;   /* float4 loads of the chunk's rows */
    if (t->op == ET_OP_CROSS_ENTROPY_BACK && t->params[1] == 1) {
        uint64_t al = et_vk_info(b->ctx)->min_storage_align, row = (uint64_t)D * 4;
        unit = (int64_t)(al / et__gcd(row, al));
        if (unit < 4) unit = 4;
    }
    return C / unit * unit;
}

static bool et__vk_supports(et_backend *be, const et_tensor *t, char *why, size_t n) {
    et__vkbe *b = (et__vkbe *)be;
    const et_vk_limits *l = et_vk_get_limits(b->ctx);
    if (t->op == ET_OP_NONE || t->op == ET_OP_VIEW) return true;
    char lbl[96];
    if ((uint64_t)et_nbytes(t) + 256 > l->max_binding_bytes)
        WHY("its output '%s' of %zu bytes exceeds one storage binding (%llu bytes on this device)",
            et_profile_node_label(t, lbl, sizeof lbl), et_nbytes(t),
            (unsigned long long)l->max_binding_bytes);
    if (t->type != ET_F32 || !et_is_contiguous(t)) WHY("output must be dense f32");
    const et_tensor *s0 = t->src[0], *s1 = t->src[1];
    for (int i = 0; i < ET_MAX_SRC && t->src[i]; i++) {
        const et_tensor *s = t->src[i];
        bool as_weight = (i == 0 && (t->op == ET_OP_MATMUL || t->op == ET_OP_MATMUL_DX ||
                                     (t->op == ET_OP_GET_ROWS && et__is_weight(s)))) ||
                         (i == 1 && (t->op == ET_OP_CROSS_ENTROPY ||
                                     t->op == ET_OP_CROSS_ENTROPY_BACK));
        if (!as_weight && (uint64_t)et_nbytes(s) + 256 > l->max_binding_bytes)
            WHY("source %d '%s' of %zu bytes exceeds one storage binding (%llu bytes on this "
                "device)", i, et_profile_node_label(s, lbl, sizeof lbl), et_nbytes(s),
                (unsigned long long)l->max_binding_bytes);
        bool strided_ok = t->op == ET_OP_CONT && i == 0;   /* CONT reads any float strides */
        if (!as_weight && !strided_ok && !et__dense(s))
            WHY("source %d ('%s') is a strided view", i, s->name);
        if (!as_weight && !strided_ok && et__offs(s) % et_vk_info(b->ctx)->min_storage_align)
            WHY("source %d ('%s') is a view at byte offset %zu, not a multiple of the device's "
                "storage alignment %llu", i, s->name, et__offs(s),
                (unsigned long long)et_vk_info(b->ctx)->min_storage_align);
    }
    switch (t->op) {
    case ET_OP_ADD: case ET_OP_MUL:
        if (!et__is_f32(s0) || !et__is_f32(s1) || !et__cyclic_bcast(s0, s1))
            WHY("only same-shape or leading-block broadcast f32 operands");
        return true;
    case ET_OP_SCALE: case ET_OP_SILU: case ET_OP_GELU: case ET_OP_RMSNORM:
        if (!et__is_f32(s0)) WHY("f32 input needed");
        return true;
    case ET_OP_SILU_BACK: case ET_OP_GELU_BACK: case ET_OP_SWIGLU: case ET_OP_GEGLU:
    case ET_OP_RMSNORM_BACK:
        if (!et__is_f32(s0) || !et__is_f32(s1) || !et_same_shape(s0, s1))
            WHY("two same-shape f32 inputs needed");
        return true;
    case ET_OP_MATMUL: case ET_OP_MATMUL_DX:
        if (!et__is_weight(s0))
            WHY("weight '%s' (%s) must be a 2-D leaf of a type the shaders dequantize", s0->name,
                et_type_get(s0->type)->name);
        if (!et__is_f32(s1)) WHY("activations must be dense f32");
        if (s0->ne[0] % 4) WHY("K=%lld is not a multiple of 4", (long long)s0->ne[0]);
        return true;
    case ET_OP_MATMUL_DW:
        if (!et__is_f32(s0) || !et__is_f32(s1) || et_nrows(s0) != et_nrows(s1))
            WHY("dense f32 dy and x with the same token count needed");
        return true;
    case ET_OP_ADAMW:
        for (int i = 0; i < 6 && t->src[i]; i++)
            if (!et__is_f32(t->src[i])) WHY("source %d must be dense f32", i);
        return true;
    case ET_OP_ATTN_BACK: {
        const et_tensor *q = s0, *k = s1, *v = t->src[2], *o = t->src[3], *dO = t->src[4];
        if (!et__is_f32(q) || !et__is_f32(k) || !et__is_f32(v) || !et__is_f32(dO))
            WHY("dense f32 q, k, v, dO needed");
        if (o->op != ET_OP_ATTN) WHY("source 3 must be the attention node itself");
        if (q->ne[0] > 4 * (int64_t)et_vk_tuning_get(b->ctx)->wg) WHY("head dim too large");
        uint64_t al = et_vk_info(b->ctx)->min_storage_align;
        size_t nq = (size_t)et_nelements(q) * 4, nk = (size_t)et_nelements(k) * 4;
        if (nq % al || (nq + nk) % al)
            WHY("packed dq|dk|dv offsets %zu, %zu not multiples of the storage alignment %llu",
                nq, nq + nk, (unsigned long long)al);
        return true;
    }
    case ET_OP_CONT: {
        if (s0->type != ET_F32) WHY("f32 source needed");
        for (int k = 0; k < 4; k++)
            if (s0->nb[k] % 4) WHY("byte stride %zu of dim %d is not a whole float", s0->nb[k], k);
        const et_tensor *r = et__root(s0);
        if (!et_is_contiguous(r) || r->type != ET_F32) WHY("the view's root must be dense f32");
        return true;
    }
    case ET_OP_REPEAT: case ET_OP_REPEAT_BACK: case ET_OP_SUM: case ET_OP_VIEW_BACK:
        if (!et__is_f32(s0)) WHY("dense f32 source needed");
        for (int k = 0; k < 4 && t->op == ET_OP_REPEAT; k++)
            if (t->ne[k] % s0->ne[k]) WHY("dim %d: %lld does not repeat %lld", k,
                                          (long long)t->ne[k], (long long)s0->ne[k]);
        for (int k = 0; k < 4 && t->op == ET_OP_REPEAT_BACK; k++)
            if (s0->ne[k] % t->ne[k]) WHY("dim %d: %lld is not a repeat of %lld", k,
                                          (long long)s0->ne[k], (long long)t->ne[k]);
        return true;
    case ET_OP_GET_ROWS_BACK:
        if (!et__is_f32(s0) || !et__is_i32(s1)) WHY("dense f32 dy and i32 ids needed");
        return true;
    case ET_OP_SUMSQ: case ET_OP_CLIP_SCALE:
        if (!et__is_f32(s0)) WHY("dense f32 source needed");
        return true;
    case ET_OP_DROPOUT:
        if (!et__is_f32(s0) || !et__is_i32(s1)) WHY("dense f32 x and an i32 seed needed");
        return true;
    case ET_OP_CONCAT:
        if (!et__is_f32(s0) || !et__is_f32(s1)) WHY("dense f32 sources needed");
        return true;
    case ET_OP_KV_STORE:
        if (!et__is_f32(s0) || s1->type != ET_F32 || !et_is_contiguous(s1))
            WHY("dense f32 keys and a contiguous f32 cache needed");
        return true;
    case ET_OP_CROSS_ENTROPY: case ET_OP_CROSS_ENTROPY_BACK: {
        const et_tensor *h = s0, *w = s1, *tg = t->src[2];
        if (!et__is_f32(h) || !et__is_i32(tg)) WHY("dense f32 h and i32 targets needed");
        if (!et__is_weight(w) || w->ne[0] % 4) WHY("W must be a supported 2-D leaf, K %% 4 == 0");
        if (et__ce_chunk(b, t) < 1)
            WHY("%lld positions of '%s' leave no room for a vocabulary chunk in one storage binding "
                "(%llu bytes)", (long long)h->ne[1], h->name, (unsigned long long)l->max_binding_bytes);
        if (t->op == ET_OP_CROSS_ENTROPY_BACK && !et__is_f32(t->src[3])) WHY("dense f32 dloss");
        return true;
    }
    case ET_OP_GET_ROWS:
        if (!(et__is_weight(s0) || (et__is_f32(s0) && s0->ne[2] == 1 && s0->ne[3] == 1)) ||
            !et__is_i32(s1))
            WHY("table must be a supported 2-D leaf or a dense f32 matrix, ids i32");
        if (s0->ne[0] % 4) WHY("row length %lld is not a multiple of 4", (long long)s0->ne[0]);
        return true;
    case ET_OP_ROPE:
        if (!et__is_f32(s0) || !et__is_i32(s1)) WHY("f32 x and i32 positions needed");
        if (t->params[0] != s0->ne[0]) WHY("partial rotation (n_rot %d of %lld)", t->params[0],
                                           (long long)s0->ne[0]);
        return true;
    case ET_OP_ATTN: {
        const et_tensor *k = t->src[1], *v = t->src[2];
        if (!et__is_f32(s0) || !et__is_f32(k) || !et__is_f32(v)) WHY("dense f32 q, k, v needed");
        if (s0->ne[0] > 4 * (int64_t)et_vk_tuning_get(b->ctx)->wg) WHY("head dim too large");
        return true;
    }
    default:
        WHY("no Vulkan shader for this op yet");
    }
}

/* ---- memory ---------------------------------------------------------------------------- */
static bool et__fail(et__vkbe *b, et_ctx *ctx, const char *what, const et_tensor *t) {
    if (ctx) et_ctx_fail(ctx, "vulkan: %s '%s': %s", what, t ? t->name : "", et_vk_error(b->ctx));
    return false;
}

static et_vk_buf *et__plain(et__vkbe *b, et_tensor *t);

/* A view at a non-zero offset: its own et_vk_buf_view of the root's buffer. */
static et_vk_buf *et__view(et__vkbe *b, et_tensor *t) {
    et__vkt *e = &b->t[t->id];
    if (!e->buf) {
        et_vk_buf *root = et__plain(b, (et_tensor *)et__root(t));
        if (!root) return NULL;
        e->buf = et_vk_buf_view(b->ctx, root, et__offs(t), et_nbytes(t));
        e->owns = e->is_view = e->buf != NULL;
    }
    return e->buf;
}

static et_vk_buf *et__plain(et__vkbe *b, et_tensor *t) {
    if (t->view_src && et__offs(t) != 0) return et__view(b, t);
    const et_tensor *r = et__root(t);
    et__vkt *e = &b->t[r->id];
    if (!e->buf) {
        e->buf = et_vk_buf_alloc_bytes(b->ctx, et_nbytes(r) + 16);
        e->owns = true;
        if (e->buf && r->op == ET_OP_NONE && r->data &&
            et_vk_buf_upload(b->ctx, e->buf, 0, r->data, et_nbytes(r)))
            return NULL;
    }
    return e->buf;
}

/* A weight source on the device.  An f32 weight that fits one binding is a row view of its
 * plain buffer, so a trained matrix (LoRA's A and B, every weight of full fine-tuning) has one
 * device copy that AdamW updates and the matrix shaders read; other weights are uploaded as
 * row-chunked et_vk_weight objects (they are frozen: nothing on the device writes them). */
static int et__weight(et__vkbe *b, et_tensor *w) {
    et__vkt *e = &b->t[w->id];
    if (e->w.buf) return 0;
    if (w->type == ET_F32 &&
        (uint64_t)et_nbytes(w) + 256 <= et_vk_get_limits(b->ctx)->max_binding_bytes) {
        et_vk_buf *p = et__plain(b, w);
        if (!p) return -1;
        e->w = (et_vk_weight){ .type = ET_F32, .K = w->ne[0], .N = w->ne[1] };
        e->w.buf = et_vk_buf_view_rows(b->ctx, p, 0, (uint64_t)w->ne[1], (uint64_t)w->ne[0] * 4);
        return e->w.buf ? 0 : -1;
    }
    return et_vk_weight_upload(b->ctx, w->type, w->data, w->ne[0], w->ne[1], &e->w);
}

static bool et__vk_prepare(et_backend *be, et_graph *g, et_plan *plan) {
    et__vkbe *b = (et__vkbe *)be;
    int32_t nt = et_ctx_n_tensors(g->ctx);
    if (nt > b->nt) {
        et__vkt *nw = realloc(b->t, (size_t)nt * sizeof *nw);
        if (!nw) { et_ctx_fail(g->ctx, "vulkan: out of memory"); return false; }
        memset(nw + b->nt, 0, (size_t)(nt - b->nt) * sizeof *nw);
        b->t = nw;
        b->nt = nt;
    }
    if (!et_backend_check(be, g)) return false;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        et_tensor *t = g->nodes[i];
        if (t->op == ET_OP_NONE) continue;
        for (int s = 0; s < ET_MAX_SRC && t->src[s]; s++) {
            et_tensor *src = t->src[s];
            bool as_weight = (s == 0 && (t->op == ET_OP_MATMUL || t->op == ET_OP_MATMUL_DX ||
                                         (t->op == ET_OP_GET_ROWS && et__is_weight(src)))) ||
                             (s == 1 && (t->op == ET_OP_CROSS_ENTROPY ||
                                         t->op == ET_OP_CROSS_ENTROPY_BACK));
            if (as_weight) {
                if (et__weight(b, src)) return et__fail(b, g->ctx, "uploading weight", src);
            } else if (!et__plain(b, t->op == ET_OP_CONT ? (et_tensor *)et__root(src) : src)) {
                /* CONT reads its (strided) source through the root's buffer */
                return et__fail(b, g->ctx, "buffer for", src);
            }
        }
        /* views get their buffer when a consumer binds them (a strided view never does) */
        if (t->op != ET_OP_VIEW && !et__plain(b, t)) return et__fail(b, g->ctx, "buffer for", t);
        et__vkt *e = &b->t[t->id];
        if ((t->op == ET_OP_CROSS_ENTROPY || t->op == ET_OP_CROSS_ENTROPY_BACK) && !e->parts[0]) {
            uint64_t P = (uint64_t)t->src[0]->ne[1], V = (uint64_t)t->src[1]->ne[1];
            uint64_t D = (uint64_t)t->src[0]->ne[0];
            int64_t C = e->ce_chunk = et__ce_chunk(b, t);
            e->parts[0] = et_vk_buf_alloc_bytes(b->ctx, P * (uint64_t)C * 4 + 16);
            e->parts[1] = et_vk_buf_alloc_bytes(b->ctx, P * 4 + 16);
            e->parts[2] = et_vk_buf_alloc_bytes(b->ctx, P * 4 + 16);
            e->scratch = et_vk_buf_alloc_bytes(b->ctx, P * 4 + 16);
            if (!e->parts[0] || !e->parts[1] || !e->parts[2] || !e->scratch)
                return et__fail(b, g->ctx, "cross-entropy scratch for", t);
            if (t->op == ET_OP_CROSS_ENTROPY_BACK && t->params[1] == 1) {   /* rows of dW */
                int32_t nv = (int32_t)((V + (uint64_t)C - 1) / (uint64_t)C);
                e->dw_views = calloc((size_t)nv, sizeof *e->dw_views);
                if (!e->dw_views) { et_ctx_fail(g->ctx, "vulkan: out of memory"); return false; }
                e->n_dw_views = nv;
                for (int32_t k = 0; k < nv; k++) {
                    uint64_t v0 = (uint64_t)k * (uint64_t)C, nc = V - v0 < (uint64_t)C ? V - v0 : (uint64_t)C;
                    e->dw_views[k] = et_vk_buf_view(b->ctx, et__plain(b, t), v0 * D * 4, nc * D * 4);
                    if (!e->dw_views[k]) return et__fail(b, g->ctx, "dW rows of", t);
                }
            }
        }
        if (t->op == ET_OP_ATTN_BACK && !e->parts[0]) {
            const et_tensor *q = t->src[0], *k = t->src[1];
            uint64_t nq = (uint64_t)et_nelements(q) * 4, nk = (uint64_t)et_nelements(k) * 4;
            et_vk_buf *packed = et__plain(b, t);
            e->parts[0] = et_vk_buf_view(b->ctx, packed, 0, nq);
            e->parts[1] = et_vk_buf_view(b->ctx, packed, nq, nk);
            e->parts[2] = et_vk_buf_view(b->ctx, packed, nq + nk, nk);
            e->scratch = et_vk_buf_alloc_bytes(b->ctx,
                                               (uint64_t)(q->ne[1] * q->ne[2] * q->ne[3]) * 4 + 16);
            if (!e->parts[0] || !e->parts[1] || !e->parts[2] || !e->scratch)
                return et__fail(b, g->ctx, "packed gradient views for", t);
        }
        if (!e->scratch && (t->op == ET_OP_ATTN || t->op == ET_OP_RMSNORM_BACK)) {
            int64_t rows = t->op == ET_OP_ATTN ? t->ne[1] * t->ne[2] * t->ne[3] : et_nrows(t);
            e->scratch = et_vk_buf_alloc_bytes(b->ctx, (uint64_t)rows * 4 + 16);
            if (!e->scratch) return et__fail(b, g->ctx, "scratch for", t);
        }
        if ((t->op == ET_OP_RMSNORM || t->op == ET_OP_RMSNORM_BACK) && t->ne[0] > b->ones_n) {
            et_vk_buf_free(b->ctx, b->ones);
            float *one = malloc((size_t)t->ne[0] * 4);
            if (!one) { et_ctx_fail(g->ctx, "vulkan: out of memory"); return false; }
            for (int64_t j = 0; j < t->ne[0]; j++) one[j] = 1.0f;
            b->ones = et_vk_buf_alloc_bytes(b->ctx, (uint64_t)t->ne[0] * 4);
            int bad = !b->ones || et_vk_buf_upload(b->ctx, b->ones, 0, one, (uint64_t)t->ne[0] * 4);
            free(one);
            if (bad) return et__fail(b, g->ctx, "rmsnorm gain", t);
            b->ones_n = t->ne[0];
        }
    }
    return true;
}

static bool et__vk_upload(et_backend *be, et_tensor *t) {
    et__vkbe *b = (et__vkbe *)be;
    const et_tensor *r = et__root(t);
    if (r->id >= b->nt || !t->data) return false;
    et__vkt *e = &b->t[r->id];
    if (e->w.buf && et_vk_buf_upload(b->ctx, e->w.buf, 0, r->data,
                                     et_type_nbytes(r->type, r->ne[0], r->ne[1])))
        return false;
    if (e->buf && et_vk_buf_upload(b->ctx, e->buf, 0, r->data, et_nbytes(r))) return false;
    return e->w.buf || e->buf;
}

static et_vk_buf *B(et__vkbe *b, const et_tensor *t);

static bool et__vk_download(et_backend *be, et_tensor *t) {
    et__vkbe *b = (et__vkbe *)be;
    if (t->id >= b->nt || et__root(t)->id >= b->nt || !t->data) return false;
    et_vk_buf *buf = t->view_src && et__offs(t) ? et__plain(b, t) : B(b, t);
    return buf && et_vk_buf_download(b->ctx, buf, 0, t->data, et_nbytes(t)) == 0;
}

/* ---- recording ------------------------------------------------------------------------- */
static et_vk_buf *B(et__vkbe *b, const et_tensor *t) {
    return b->t[t->id].is_view ? b->t[t->id].buf : b->t[et__root(t)->id].buf;
}

static uint64_t et__u64(const et_tensor *t, int i) {   /* engine/ops/view.c's encoding */
    return (uint64_t)(uint32_t)t->params[i] | ((uint64_t)(uint32_t)t->params[i + 1] << 32);
}

static int et__record(et__vkbe *b, et_tensor *t) {
    et_vk_ctx *c = b->ctx;
    et_tensor *s0 = t->src[0], *s1 = t->src[1];
    int64_t n = et_nelements(t);
    switch (t->op) {
    case ET_OP_NONE: case ET_OP_VIEW: return 0;
    case ET_OP_ADD: case ET_OP_MUL:
        return et_vk_op_ew(c, t->op == ET_OP_ADD ? ET_VK_EW_ADD : ET_VK_EW_MUL, B(b, s0),
                           B(b, s1), B(b, t), n, et_nelements(s1), 0);
    case ET_OP_SCALE:
        return et_vk_op_ew(c, ET_VK_EW_SCALE, B(b, s0), NULL, B(b, t), n, n, et_param_f32(t, 0));
    case ET_OP_SILU: return et_vk_op_ew(c, ET_VK_EW_SILU, B(b, s0), NULL, B(b, t), n, n, 0);
    case ET_OP_GELU: return et_vk_op_ew(c, ET_VK_EW_GELU, B(b, s0), NULL, B(b, t), n, n, 0);
    case ET_OP_SILU_BACK:
        return et_vk_op_ew(c, ET_VK_EW_SILU_BACK, B(b, s0), B(b, s1), B(b, t), n, n, 0);
    case ET_OP_GELU_BACK:
        return et_vk_op_ew(c, ET_VK_EW_GELU_BACK, B(b, s0), B(b, s1), B(b, t), n, n, 0);
    case ET_OP_SWIGLU: return et_vk_op_ew(c, ET_VK_EW_SWIGLU, B(b, s0), B(b, s1), B(b, t), n, n, 0);
    case ET_OP_GEGLU: return et_vk_op_ew(c, ET_VK_EW_GEGLU, B(b, s0), B(b, s1), B(b, t), n, n, 0);
    case ET_OP_RMSNORM:
        return et_vk_op_rmsnorm(c, B(b, s0), b->ones, B(b, t), et_nrows(t), t->ne[0],
                                et_param_f32(t, 0));
    case ET_OP_RMSNORM_BACK:
        return et_vk_op_rmsnorm_back(c, B(b, s0), b->ones, B(b, s1), B(b, t), NULL,
                                     b->t[t->id].scratch, et_nrows(t), t->ne[0],
                                     et_param_f32(t, 0), false);
    case ET_OP_MATMUL:
        return et_vk_op_matmul(c, &b->t[s0->id].w, B(b, s1), B(b, t), et_nrows(s1), false);
    case ET_OP_MATMUL_DX:
        return et_vk_op_matmul_dx(c, &b->t[s0->id].w, B(b, s1), B(b, t), et_nrows(s1), false);
    case ET_OP_MATMUL_DW:
        return et_vk_op_matmul_dw(c, B(b, s0), B(b, s1), B(b, t), et_nrows(s0), s1->ne[0],
                                  s0->ne[0], false);
    case ET_OP_ADAMW:   /* the node is a view of p: p, m, v are updated in place */
        return et_vk_op_adamw(c, B(b, s0), B(b, s1), B(b, t->src[2]), B(b, t->src[3]),
                              B(b, t->src[4]), t->src[5] ? B(b, t->src[5]) : NULL, n);
    case ET_OP_ATTN_BACK: {
        const et_tensor *q = s0, *k = s1, *fw = t->src[3];
        et__vkt *e = &b->t[t->id];
        et_vk_attn a = { .T = q->ne[2], .S = k->ne[2], .Hq = q->ne[1], .Hkv = k->ne[1],
                         .D = q->ne[0], .scale = et_param_f32(t, 0), .n_past = t->params[1],
                         .window = t->params[2], .B = q->ne[3] };
        return et_vk_op_attention_back(c, &a, B(b, q), B(b, k), B(b, t->src[2]), B(b, fw),
                                       b->t[fw->id].scratch, B(b, t->src[4]), e->parts[0],
                                       e->parts[1], e->parts[2], e->scratch);
    }
    case ET_OP_CONT: case ET_OP_REPEAT: case ET_OP_REPEAT_BACK: case ET_OP_SUM: {
        et_vk_layout_args a = { .off = 0 };
        for (int k = 0; k < 4; k++) {
            a.ne[k] = t->op == ET_OP_SUM ? (k ? 1 : et_nelements(s0)) : t->ne[k];
            a.sne[k] = s0->ne[k];
            a.sst[k] = (int64_t)(s0->nb[k] / 4);
        }
        if (t->op == ET_OP_CONT) {      /* strided read from the root buffer */
            a.off = (int64_t)(et__offs(s0) / 4);
            return et_vk_op_layout(c, ET_VK_LAYOUT_GATHER, &a, b->t[et__root(s0)->id].buf, B(b, t));
        }
        et_vk_layout mode = t->op == ET_OP_REPEAT ? ET_VK_LAYOUT_GATHER
                          : t->op == ET_OP_SUM ? ET_VK_LAYOUT_SUM : ET_VK_LAYOUT_REPEAT_BACK;
        return et_vk_op_layout(c, mode, &a, B(b, s0), B(b, t));
    }
    case ET_OP_VIEW_BACK: {           /* zeros, then dy scattered through the view's strides */
        et_vk_layout_args a = { .off = (int64_t)(et__u64(t, 8) / 4) };
        for (int k = 0; k < 4; k++) {
            a.ne[k] = s0->ne[k];
            a.sne[k] = 1;
            a.dst[k] = (int64_t)(et__u64(t, 2 * k) / 4);
        }
        int rc = et_vk_op_ew(c, ET_VK_EW_FILL, NULL, NULL, B(b, t), n, n, 0.0f);
        return rc ? rc : et_vk_op_layout(c, ET_VK_LAYOUT_SCATTER, &a, B(b, s0), B(b, t));
    }
    case ET_OP_SUMSQ: {
        et_vk_layout_args a = { .ne = { et_nelements(s0), 1, 1, 1 }, .sne = { 1, 1, 1, 1 } };
        return et_vk_op_layout(c, ET_VK_LAYOUT_SUMSQ, &a, B(b, s0), B(b, t));
    }
    case ET_OP_DROPOUT:
        return et_vk_op_dropout(c, B(b, s0), B(b, s1), B(b, t), n, et_param_f32(t, 0),
                                t->params[1]);
    case ET_OP_CLIP_SCALE:
        return et_vk_op_ew(c, ET_VK_EW_CLIP_SCALE, B(b, s0), NULL, B(b, t), 1, 1,
                           et_param_f32(t, 0));
    case ET_OP_CONCAT: {          /* a then b into the dense output, along dim 1 */
        const int64_t n1 = t->ne[1];
        int rc = 0;
        for (int part = 0; part < 2 && !rc; part++) {
            const et_tensor *src = part ? s1 : s0;
            et_vk_layout_args a = { .off = part ? s0->ne[1] * t->ne[0] : 0,
                                    .dst = { 1, t->ne[0], t->ne[0] * n1, t->ne[0] * n1 * t->ne[2] } };
            for (int k = 0; k < 4; k++) { a.ne[k] = src->ne[k]; a.sne[k] = 1; }
            rc = et_vk_op_layout(c, ET_VK_LAYOUT_SCATTER, &a, B(b, src), B(b, t));
        }
        return rc;
    }
    case ET_OP_KV_STORE: {        /* k into the cache at positions n_past.. (the node views it) */
        et_vk_layout_args a = { .off = (int64_t)t->params[0] * (int64_t)(s1->nb[2] / 4) };
        for (int k = 0; k < 4; k++) {
            a.ne[k] = s0->ne[k];
            a.sne[k] = 1;
            a.dst[k] = (int64_t)(s1->nb[k] / 4);
        }
        return et_vk_op_layout(c, ET_VK_LAYOUT_SCATTER, &a, B(b, s0), B(b, s1));
    }
    case ET_OP_GET_ROWS_BACK: {
        int rc = et_vk_op_ew(c, ET_VK_EW_FILL, NULL, NULL, B(b, t), n, n, 0.0f);
        return rc ? rc : et_vk_op_get_rows_back(c, B(b, s0), B(b, s1), B(b, t),
                                                et_nelements(s1), t->ne[1], t->ne[0]);
    }
    case ET_OP_CROSS_ENTROPY: case ET_OP_CROSS_ENTROPY_BACK: {
        /* per vocabulary chunk: logits = h·W[v0..]ᵀ into a running log-sum-exp (vk_ops_nn.c) */
        const et_tensor *h = s0;
        const et_vk_weight *w = &b->t[s1->id].w;
        et__vkt *e = &b->t[t->id];
        int64_t P = h->ne[1], V = s1->ne[1], C = e->ce_chunk;
        bool per_pos = t->params[0] == 1, fwd = t->op == ET_OP_CROSS_ENTROPY;
        et_vk_buf *tg = B(b, t->src[2]), *lg = e->parts[0];
        int rc = 0;
        for (int64_t v0 = 0; v0 < V && !rc; v0 += C) {
            int64_t nc = V - v0 < C ? V - v0 : C;
            rc = et_vk_op_matmul_rows(c, w, B(b, h), lg, P, v0, nc, false);
            rc = rc ? rc : et_vk_op_cross_entropy_chunk(c, lg, tg, e->parts[1], e->parts[2], e->scratch,
                                                        P, nc, v0, v0 == 0);
        }
        /* lse over m; rowloss (over zt, or the per-position output) and the mean */
        rc = rc ? rc : et_vk_op_cross_entropy_finish(c, tg, e->parts[1], e->parts[2], e->scratch,
                                                     fwd && per_pos ? B(b, t) : e->scratch,
                                                     fwd && !per_pos ? B(b, t) : NULL, P, V);
        if (rc || fwd) return rc;
        /* backward, chunk by chunk: g = softmax − onehot (scaled) in place over the logits, then
         * dh (+)= g·W[v0..] or dW[v0..] = gᵀ·h */
        for (int64_t v0 = 0, k = 0; v0 < V && !rc; v0 += C, k++) {
            int64_t nc = V - v0 < C ? V - v0 : C;
            rc = et_vk_op_matmul_rows(c, w, B(b, h), lg, P, v0, nc, false);
            rc = rc ? rc : et_vk_op_cross_entropy_back_chunk(c, lg, tg, e->parts[1], B(b, t->src[3]), lg,
                                                             P, nc, v0, per_pos, false);
            if (rc) break;
            if (t->params[1] == 1) rc = et_vk_op_matmul_dw(c, lg, B(b, h), e->dw_views[k], P, h->ne[0], nc, false);
            else rc = et_vk_op_matmul_dx_rows(c, w, lg, B(b, t), P, v0, nc, v0 > 0);
        }
        return rc;
    }
    case ET_OP_GET_ROWS:
        if (!et__is_weight(s0))   /* rows of an activation, e.g. the positions the loss scores */
            return et_vk_op_get_rows_dense(c, B(b, s0), B(b, s1), B(b, t), et_nelements(s1),
                                           s0->ne[0], s0->ne[1]);
        return et_vk_op_get_rows(c, &b->t[s0->id].w, B(b, s1), B(b, t), et_nelements(s1));
    case ET_OP_ROPE:
        return et_vk_op_rope(c, B(b, s0), B(b, s1), B(b, t), s0->ne[2] * s0->ne[3], s0->ne[1],
                             s0->ne[0], et_param_f32(t, 2), t->params[1] == ET_ROPE_NEOX,
                             t->params[3], s0->ne[2]);
    case ET_OP_ATTN: {
        const et_tensor *k = t->src[1];
        et_vk_attn a = { .T = s0->ne[2], .S = k->ne[2], .Hq = s0->ne[1], .Hkv = k->ne[1],
                         .D = s0->ne[0], .scale = et_param_f32(t, 0), .n_past = t->params[1],
                         .window = t->params[2], .B = s0->ne[3] };
        return et_vk_op_attention(c, &a, B(b, s0), B(b, k), B(b, t->src[2]), B(b, t),
                                  b->t[t->id].scratch);
    }
    default:
        return -1;
    }
}

/* The last submit's timestamps into the profile: one execution per node, its dispatches'
 * GPU times summed, placed at the submit's host time plus the GPU offset of its first
 * dispatch (queue id 1 is the trace's GPU track); the node's variant is its first shader. */
static void et__profile(et__vkbe *b, et_profile *p, double t_host) {
    const et_vk_timing *tm;
    int n = et_vk_timings(b->ctx, &tm);
    p->backend = "vulkan";
    for (int k = 0; k < n;) {
        int32_t node = tm[k].tag;
        double start = tm[k].start_ns, ns = 0;
        const char *shader = tm[k].shader;
        for (; k < n && tm[k].tag == node; k++) ns += tm[k].ns;
        if (node < 0 || node >= p->n_nodes) continue;
        if (shader) p->variant[node] = shader;
        et_profile_record(p, node, 1, t_host + start, ns);
    }
}

static bool et__vk_run(et_backend *be, et_graph *g, et_plan *plan, int32_t from, int32_t to) {
    et__vkbe *b = (et__vkbe *)be;
    /* AdamW's hyperparameters (and clip scale) are host leaves the trainer rewrites every step:
     * refresh them here (a few bytes) so callers need not upload them explicitly. */
    for (int32_t i = from; i < to; i++) {
        et_tensor *t = g->nodes[i];
        for (int s = 4; t->op == ET_OP_ADAMW && s < 6; s++)
            if (t->src[s] && t->src[s]->op == ET_OP_NONE && t->src[s]->data &&
                et_vk_buf_upload(b->ctx, B(b, t->src[s]), 0, t->src[s]->data, et_nbytes(t->src[s])))
                return et__fail(b, g->ctx, "uploading AdamW hyperparameters", t->src[s]);
    }
    if (et_vk_begin(b->ctx)) return et__fail(b, g->ctx, "begin", NULL);
    for (int32_t i = from; i < to; i++) {
        et_tensor *t = g->nodes[i];
        if (t->id >= b->nt || (t->op != ET_OP_NONE && t->op != ET_OP_VIEW && !B(b, t))) {
            et_vk_submit(b->ctx);
            et_ctx_fail(g->ctx, "vulkan: node %d '%s' was not prepared", i, t->name);
            return false;
        }
        et_vk_set_label(b->ctx, t->name[0] ? t->name : et_op_name(t->op));
        et_vk_set_tag(b->ctx, i);
        int rc = et__record(b, t);
        et_vk_set_label(b->ctx, NULL);
        et_vk_set_tag(b->ctx, -1);
        if (rc) {
            et_vk_submit(b->ctx);
            et_ctx_fail(g->ctx, "vulkan: node %d '%s' (op %s): %s", i, t->name,
                        et_op_name(t->op), et_vk_error(b->ctx));
            return false;
        }
    }
    double t_host = be->prof ? et_profile_now_ns(be->prof) : 0;
    if (et_vk_submit(b->ctx)) return et__fail(b, g->ctx, "submit", NULL);
    if (be->prof) et__profile(b, be->prof, t_host);
    return true;
}

static void et__vk_free(et_backend *be) {
    et__vkbe *b = (et__vkbe *)be;
    if (!b) return;
    for (int32_t i = 0; i < b->nt; i++) {        /* views first: they borrow the VkBuffers */
        for (int j = 0; j < 3; j++) et_vk_buf_free(b->ctx, b->t[i].parts[j]);
        for (int j = 0; j < b->t[i].n_dw_views; j++) et_vk_buf_free(b->ctx, b->t[i].dw_views[j]);
        free(b->t[i].dw_views);
        if (b->t[i].is_view) et_vk_buf_free(b->ctx, b->t[i].buf);
    }
    for (int32_t i = 0; i < b->nt; i++) {
        if (b->t[i].owns && !b->t[i].is_view) et_vk_buf_free(b->ctx, b->t[i].buf);
        et_vk_weight_free(b->ctx, &b->t[i].w);
        et_vk_buf_free(b->ctx, b->t[i].scratch);
    }
    et_vk_buf_free(b->ctx, b->ones);
    free(b->t);
    et_vk_close(b->ctx);
    free(b);
}

void et_vk_backend_forget(et_backend *be, int32_t first_id) {
    if (!be || !be->name || strcmp(be->name, "vulkan")) return;
    et__vkbe *b = (et__vkbe *)be;
    if (first_id < 0) first_id = 0;
    for (int32_t i = first_id; i < b->nt; i++) {   /* views first: they borrow the VkBuffers */
        for (int j = 0; j < 3; j++) et_vk_buf_free(b->ctx, b->t[i].parts[j]);
        for (int j = 0; j < b->t[i].n_dw_views; j++) et_vk_buf_free(b->ctx, b->t[i].dw_views[j]);
        free(b->t[i].dw_views);
        if (b->t[i].is_view) et_vk_buf_free(b->ctx, b->t[i].buf);
    }
    for (int32_t i = first_id; i < b->nt; i++) {
        if (b->t[i].owns && !b->t[i].is_view) et_vk_buf_free(b->ctx, b->t[i].buf);
        et_vk_weight_free(b->ctx, &b->t[i].w);
        et_vk_buf_free(b->ctx, b->t[i].scratch);
        memset(&b->t[i], 0, sizeof b->t[i]);
    }
}

et_backend *et_vk_backend_new(int device, char *err, size_t err_len) {
    et__vkbe *b = calloc(1, sizeof *b);
    if (!b) { snprintf(err, err_len, "out of memory"); return NULL; }
    b->ctx = et_vk_open(device, err, err_len);
    if (!b->ctx) { free(b); return NULL; }
    b->be = (et_backend){ .name = "vulkan", .supports_op = et__vk_supports,
                          .prepare = et__vk_prepare, .upload = et__vk_upload,
                          .download = et__vk_download, .run = et__vk_run, .free = et__vk_free,
                          .priv = b };
    return &b->be;
}

/* -2: cpu, -3: auto, -1: vulkan (the default device), N >= 0: vulkan:N; -4: not a device. */
static int et__spec(const char *spec) {
    if (!spec || !strcmp(spec, "cpu")) return -2;
    if (!strcmp(spec, "auto")) return -3;
    if (!strcmp(spec, "vulkan")) return -1;
    if (!strncmp(spec, "vulkan:", 7)) {
        char *end;
        long n = strtol(spec + 7, &end, 10);
        if (spec[7] >= '0' && spec[7] <= '9' && !*end && n >= 0 && n < 64) return (int)n;
    }
    return -4;
}

bool et_backend_spec_ok(const char *spec, char *err, size_t err_len) {
    if (et__spec(spec) != -4) return true;
    snprintf(err, err_len, "--device '%s' is not cpu, auto, vulkan or vulkan:N (N = 0..63, the "
             "index `edgetune devices` lists)", spec);
    return false;
}

et_backend *et_backend_open(const char *spec, char *err, size_t err_len) {
    int d = et__spec(spec);
    if (d == -2) return et_backend_cpu();
    if (d == -3) {
        char why[256];
        if (!et_vk_available(why, sizeof why)) return et_backend_cpu();   /* said once */
        et_backend *be = et_vk_backend_new(-1, err, err_len);
        if (!be) fprintf(stderr, "edgetune: Vulkan device did not open (%s): running on the CPU\n",
                         err);
        return be ? be : et_backend_cpu();
    }
    if (d >= -1) return et_vk_backend_new(d, err, err_len);
    et_backend_spec_ok(spec, err, err_len);
    return NULL;
}

int et_vk_backend_timings(et_backend *be, const et_vk_timing **out) {
    *out = NULL;
    if (!be || !be->name || strcmp(be->name, "vulkan")) return 0;
    return et_vk_timings(((et__vkbe *)be)->ctx, out);
}

const char *et_vk_backend_device(et_backend *be) {
    if (!be || !be->name || strcmp(be->name, "vulkan")) return NULL;
    return et_vk_info(((et__vkbe *)be)->ctx)->name;
}
