/* Op builders (record a node, check shapes, compute nothing) and the generated op tables.
 *
 * Conventions: activations are [features, tokens, ...] with ne[0] = features, so a linear
 * layer's weight W is [in, out] (ne[0] = in: rows of W are output features, as in GGUF and
 * Hugging Face checkpoints) and et_matmul(W, x) computes y = x·Wᵀ of shape [out, tokens...].
 * Attention tensors are [head_dim, heads, T, B].
 */
#ifndef ET_OPS_H
#define ET_OPS_H

#include "tensor.h"

/* ---- the op table (engine/op_table.c, generated from ops.def) ---- */
typedef struct et_exec {
    void  *work;          /* scratch shared by all nodes: max of the nodes' work sizes */
    size_t work_size;
    int    nthreads;
    bool   backward;      /* the executed range includes backward nodes (a fused forward may
                           * then prepare its gradient: CROSS_ENTROPY) */
    int    failed;        /* set by an op that meets bad data (e.g. a token id out of range) */
    char   err[256];
} et_exec;

typedef void   (*et_fwd_fn)(et_tensor *t, et_exec *ex);
typedef bool   (*et_bwd_fn)(et_ctx *ctx, et_tensor *t);     /* emits grads of t's sources */
typedef size_t (*et_work_fn)(const et_tensor *t, int nthreads);
/* FLOPs and bytes moved (reads of sources + write of the result) of one execution. */
typedef void   (*et_cost_fn)(const et_tensor *t, double *flops, double *bytes);

typedef struct et_op_info {
    const char *name;
    int         n_src;
    bool        inplace;   /* may write its output over src[0] when src[0] dies here */
    et_fwd_fn   forward;
    et_bwd_fn   backward;  /* NULL: the op has no gradient rule */
    et_work_fn  work;      /* NULL: needs no scratch */
    et_cost_fn  cost;      /* NULL: not yet counted (views and leaves cost nothing) */
} et_op_info;

extern const et_op_info et_op_table[ET_OP_COUNT];
static inline const char *et_op_name(et_op op) { return et_op_table[op].name; }
/* Set an error from inside a forward (first wins); the executor reports it. */
void et_exec_fail(et_exec *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- views (no compute, no storage) ---- */
et_tensor *et_reshape(et_ctx *ctx, et_tensor *a, int n_dims, const int64_t *ne);
et_tensor *et_reshape_2d(et_ctx *ctx, et_tensor *a, int64_t ne0, int64_t ne1);
et_tensor *et_reshape_4d(et_ctx *ctx, et_tensor *a, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3);
/* Result dimension i is source dimension axes[i] (a permutation of 0..3). */
et_tensor *et_permute(et_ctx *ctx, et_tensor *a, int ax0, int ax1, int ax2, int ax3);
et_tensor *et_transpose(et_ctx *ctx, et_tensor *a);  /* swap dims 0 and 1 */
/* A strided window: shape ne, strides nb (bytes), starting `offset` bytes into a. */
et_tensor *et_view(et_ctx *ctx, et_tensor *a, int n_dims, const int64_t *ne, const size_t *nb,
                   size_t offset);
et_tensor *et_cont(et_ctx *ctx, et_tensor *a);
et_tensor *et_view_back(et_ctx *ctx, et_tensor *dy, et_tensor *view);

/* ---- elementwise and reductions (f32) ---- */
et_tensor *et_add(et_ctx *ctx, et_tensor *a, et_tensor *b);   /* b broadcast to a's shape */
et_tensor *et_mul(et_ctx *ctx, et_tensor *a, et_tensor *b);
et_tensor *et_scale(et_ctx *ctx, et_tensor *a, float s);
et_tensor *et_sum(et_ctx *ctx, et_tensor *a);                 /* scalar */
et_tensor *et_mean(et_ctx *ctx, et_tensor *a);                /* scalar */
et_tensor *et_repeat(et_ctx *ctx, et_tensor *a, et_tensor *like);
et_tensor *et_repeat_back(et_ctx *ctx, et_tensor *a, et_tensor *like);
et_tensor *et_silu(et_ctx *ctx, et_tensor *a);
et_tensor *et_gelu(et_ctx *ctx, et_tensor *a);
et_tensor *et_silu_back(et_ctx *ctx, et_tensor *x, et_tensor *dy);
et_tensor *et_gelu_back(et_ctx *ctx, et_tensor *x, et_tensor *dy);
et_tensor *et_swiglu(et_ctx *ctx, et_tensor *gate, et_tensor *up);  /* silu(gate)·up */
et_tensor *et_geglu(et_ctx *ctx, et_tensor *gate, et_tensor *up);   /* gelu(gate)·up */

/* ---- linear algebra ---- */
et_tensor *et_matmul(et_ctx *ctx, et_tensor *w, et_tensor *x);      /* x·Wᵀ, any W type */
et_tensor *et_matmul_dx(et_ctx *ctx, et_tensor *w, et_tensor *dy);  /* dy·W */
et_tensor *et_matmul_dw(et_ctx *ctx, et_tensor *dy, et_tensor *x);  /* dyᵀ·x, f32 [in,out] */

/* ---- model ops ---- */
et_tensor *et_get_rows(et_ctx *ctx, et_tensor *table, et_tensor *ids);  /* [D,V] x i32[n] → [D,n] */
et_tensor *et_get_rows_back(et_ctx *ctx, et_tensor *dy, et_tensor *ids, et_tensor *table);
et_tensor *et_concat(et_ctx *ctx, et_tensor *a, et_tensor *b);          /* along dim 1 */
et_tensor *et_rmsnorm(et_ctx *ctx, et_tensor *x, float eps);            /* over ne[0] */
et_tensor *et_rmsnorm_back(et_ctx *ctx, et_tensor *x, et_tensor *dy, float eps);

enum { ET_ROPE_NORM = 0, ET_ROPE_NEOX = 2 };
/* x [hd, heads, T, B], pos i32 [T]; rotates the first n_rot dims of each head. */
et_tensor *et_rope(et_ctx *ctx, et_tensor *x, et_tensor *pos, int n_rot, int mode, float theta);
et_tensor *et_rope_inverse(et_ctx *ctx, et_tensor *x, et_tensor *pos, int n_rot, int mode,
                           float theta);

/* Causal attention with grouped-query heads.  q [hd, nh, T, B], k and v [hd, nkv, S, B]
 * (nh a multiple of nkv).  Query t sits at absolute position n_past + t and sees keys
 * s <= n_past + t (and s > n_past + t - window when window > 0).  No T×S buffer is kept:
 * backward recomputes the probabilities row by row. */
et_tensor *et_attention(et_ctx *ctx, et_tensor *q, et_tensor *k, et_tensor *v, float scale,
                        int n_past, int window);

/* Mean cross-entropy of the logits h·Wᵀ (h [D, P] at the P selected positions, W [D, V]) against
 * targets i32 [P], computed in chunks of the vocabulary: no P×V matrix is ever stored. */
et_tensor *et_cross_entropy(et_ctx *ctx, et_tensor *h, et_tensor *w, et_tensor *targets);

/* AdamW, in place on p, m, v.  hp is an f32 [8] leaf the trainer rewrites each step:
 * lr, beta1, beta2, eps, weight_decay, 1-beta1^t, 1-beta2^t, grad_scale. */
enum { ET_HP_LR, ET_HP_BETA1, ET_HP_BETA2, ET_HP_EPS, ET_HP_WD, ET_HP_BC1, ET_HP_BC2,
       ET_HP_GSCALE, ET_HP_COUNT };
et_tensor *et_adamw(et_ctx *ctx, et_tensor *p, et_tensor *g, et_tensor *m, et_tensor *v,
                    et_tensor *hp);

/* Dropout with a mask hashed from seed (an i32 input leaf, bumped per step), site (which
 * dropout layer) and element index; backward reuses the mask. */
et_tensor *et_dropout(et_ctx *ctx, et_tensor *x, et_tensor *seed, float p, int site);
/* Gradient clipping: Σx², and min(1, max_norm / sqrt(total)) (torch's clip_grad_norm_). */
et_tensor *et_sumsq(et_ctx *ctx, et_tensor *a);
et_tensor *et_clip_scale(et_ctx *ctx, et_tensor *total_sumsq, float max_norm);
/* KV cache: write k [hd, nkv, T, B] at n_past into cache [hd, nkv, S_max, B] (an f32 leaf);
 * returns the filled prefix [hd, nkv, n_past+T, B] for attention. */
et_tensor *et_kv_store(et_ctx *ctx, et_tensor *cache, et_tensor *k, int n_past);
/* Per-position negative log-likelihood [P] (0 at negative targets), same fused chunked head. */
et_tensor *et_cross_entropy_none(et_ctx *ctx, et_tensor *h, et_tensor *w, et_tensor *targets);
/* AdamW with the gradient also multiplied by a scalar tensor (the clip scale). */
et_tensor *et_adamw_clipped(et_ctx *ctx, et_tensor *p, et_tensor *g, et_tensor *m, et_tensor *v,
                            et_tensor *hp, et_tensor *clip);

/* ---- helpers for op files ---- */
/* Row r (flat over dims 1..3) of a tensor with any strides. */
static inline float *et__row(const et_tensor *t, int64_t r) {
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return (float *)((char *)t->data + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3]);
}
/* Gradient accumulation used by backward rules: src->grad += contrib (new nodes). */
void et__acc_grad(et_ctx *ctx, et_tensor *src, et_tensor *contrib);
static inline bool et__needs_grad(const et_tensor *t) {
    return t && (t->flags & ET_FLAG_NEEDS_GRAD);
}
/* Builders' argument checks: fail the context with the op and the tensors' shapes. */
bool et__check(et_ctx *ctx, bool cond, const char *op, const et_tensor *a, const et_tensor *b,
               const char *what);
bool et__check_f32(et_ctx *ctx, const char *op, const et_tensor *t);
/* Broadcast check: every dim of b is 1 or equal to a's. */
bool et__can_broadcast(const et_tensor *a, const et_tensor *b);

#endif
