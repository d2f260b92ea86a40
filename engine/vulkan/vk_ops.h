/* Op helpers of the Vulkan backend: each records the dispatches of one op into the open
 * recording (et_vk_begin .. et_vk_submit), choosing the shader variant the device supports
 * (subgroup or shared-memory reductions, fp16 or fp32 arithmetic) and splitting the work over
 * a weight's row chunks.  Activations are f32 buffers of one chunk each, row-major and dense;
 * the shapes are given in elements.  Every helper returns 0 or a negative status with
 * et_vk_error() naming the op, the argument and the bad value.
 *
 * Integer dot products: Debian's glslc lacks GL_EXT_integer_dot_product, so quantized weights
 * are dequantized to float on the fly (the portable path) on every device; there is no packed
 * int8 variant yet.
 */
#ifndef ET_VK_OPS_H
#define ET_VK_OPS_H

#include "dtype.h"
#include "vk.h"

/* A weight W[N][K] of any supported type on the device: rows tiled into chunks, NF4's tables
 * and double-quantization scales in the buffer's tail chunk. */
typedef struct et_vk_weight {
    et_type    type;
    int64_t    K, N;
    et_vk_buf *buf;
} et_vk_weight;

/* F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q6_K IQ4_NL NF4: every weight type the CPU has */
bool et_vk_weight_type_ok(et_type t);
/* `data` holds the whole tensor as kernels/quant.h lays it out (et_type_nbytes bytes). */
int  et_vk_weight_upload(et_vk_ctx *ctx, et_type type, const void *data, int64_t K, int64_t N,
                         et_vk_weight *out);
void et_vk_weight_free(et_vk_ctx *ctx, et_vk_weight *w);

/* y[T][N] (+)= x[T][K] · Wᵀ  — matvec for T <= tuning.matvec_max_tokens, tiled otherwise. */
int et_vk_op_matmul(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *x, et_vk_buf *y,
                    int64_t T, bool accumulate);
/* dx[T][K] (+)= dy[T][N] · W */
int et_vk_op_matmul_dx(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *dy,
                       et_vk_buf *dx, int64_t T, bool accumulate);
/* The same over rows [v0, v0 + nv) of W only (the cross-entropy head's vocabulary chunks):
 * y[T][nv] (+)= x · W[v0 .. v0+nv)ᵀ, and dx[T][K] (+)= dy[T][nv] · W[v0 .. v0+nv).  The range
 * may span several of the weight's row chunks. */
int et_vk_op_matmul_rows(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *x, et_vk_buf *y,
                         int64_t T, int64_t v0, int64_t nv, bool accumulate);
int et_vk_op_matmul_dx_rows(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *dy,
                            et_vk_buf *dx, int64_t T, int64_t v0, int64_t nv, bool accumulate);

/* Elementwise over n floats (vk_ops_nn.c).  Binary ops broadcast b cyclically (b has nb
 * elements, n a multiple of nb): out[i] = a[i] op b[i % nb].  out may be a (in place). */
typedef enum et_vk_ew {
    ET_VK_EW_ADD = 0, ET_VK_EW_MUL, ET_VK_EW_SCALE, ET_VK_EW_SILU, ET_VK_EW_GELU,
    ET_VK_EW_SILU_BACK, ET_VK_EW_GELU_BACK, ET_VK_EW_SWIGLU, ET_VK_EW_GEGLU, ET_VK_EW_FILL,
    ET_VK_EW_CLIP_SCALE, ET_VK_EW_COUNT
} et_vk_ew;
/* SCALE: out = a * s.  SILU/GELU: out = f(a).  *_BACK: out = b * f'(a) (a = x, b = dy).
 * SWIGLU/GEGLU: out = f(a) * b.  FILL: out = s (a and b unused: pass out).
 * CLIP_SCALE: out = min(1, s / (sqrt(a) + 1e-6)) (a = a sum of squares, s = max norm). */
int et_vk_op_ew(et_vk_ctx *ctx, et_vk_ew op, const et_vk_buf *a, const et_vk_buf *b,
                et_vk_buf *out, int64_t n, int64_t nb, float s);
/* Backward of SWIGLU/GEGLU: da = dy*b*f'(a), db = dy*f(a) (accumulate: += instead). */
int et_vk_op_glu_back(et_vk_ctx *ctx, bool gelu, const et_vk_buf *a, const et_vk_buf *b,
                      const et_vk_buf *dy, et_vk_buf *da, et_vk_buf *db, int64_t n,
                      bool accumulate);

/* y[r] = x[r] / sqrt(mean(x[r]²) + eps) * w, rows of n. */
int et_vk_op_rmsnorm(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *w, et_vk_buf *y,
                     int64_t rows, int64_t n, float eps);
/* dx (+)= ∂/∂x, dw (+)= Σ_rows dy·x·rstd (dw may be NULL for a frozen norm weight);
 * rstd is scratch of `rows` floats. */
int et_vk_op_rmsnorm_back(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *w,
                          const et_vk_buf *dy, et_vk_buf *dx, et_vk_buf *dw, et_vk_buf *rstd,
                          int64_t rows, int64_t n, float eps, bool accumulate);

/* Rotary embedding of x[B][T][H][D] in place or into y; pos[T] int32 (the same positions for
 * every sequence; T here counts all B·T rows, npos = T of one sequence, 0 meaning all).  neox: pairs (i, i+D/2),
 * else llama's interleaved pairs (2i, 2i+1).  backward rotates by -θ (the exact gradient). */
int et_vk_op_rope(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *pos, et_vk_buf *y,
                  int64_t T, int64_t H, int64_t D, float freq_base, bool neox, bool backward,
                  int64_t npos);

/* Row softmax of x*scale; backward: dx = y·(dy − Σ dy·y). */
int et_vk_op_softmax(et_vk_ctx *ctx, const et_vk_buf *x, et_vk_buf *y, int64_t rows, int64_t n,
                     float scale);
int et_vk_op_softmax_back(et_vk_ctx *ctx, const et_vk_buf *y, const et_vk_buf *dy,
                          et_vk_buf *dx, int64_t rows, int64_t n, bool accumulate);

/* Causal attention with grouped-query heads: q[T][Hq][D], k,v[S][Hkv][D] -> o[T][Hq][D] and
 * lse[T][Hq] (log-sum-exp of each row's scores, kept for backward).  Hq % Hkv == 0.  Query t
 * is at position n_past + t and sees keys [lo, n_past + t] (lo = 0, or n_past + t − window + 1
 * when window > 0); n_past + T <= S. */
typedef struct et_vk_attn {
    int64_t T, S, Hq, Hkv, D;
    float   scale;
    int64_t n_past, window;
    int64_t B;                    /* independent sequences (0 is taken as 1) */
} et_vk_attn;
int et_vk_op_attention(et_vk_ctx *ctx, const et_vk_attn *a, const et_vk_buf *q,
                       const et_vk_buf *k, const et_vk_buf *v, et_vk_buf *o, et_vk_buf *lse);
/* dq, dk, dv (overwritten) from do; delta is scratch of T*Hq floats. */
int et_vk_op_attention_back(et_vk_ctx *ctx, const et_vk_attn *a, const et_vk_buf *q,
                            const et_vk_buf *k, const et_vk_buf *v, const et_vk_buf *o,
                            const et_vk_buf *lse, const et_vk_buf *dout, et_vk_buf *dq,
                            et_vk_buf *dk, et_vk_buf *dv, et_vk_buf *delta);

/* out[i][:] = table[ids[i]][:] for a table of any weight type (ids int32, checked: an id out
 * of range yields a row of NaN, never a read outside the buffer). */
int et_vk_op_get_rows(et_vk_ctx *ctx, const et_vk_weight *table, const et_vk_buf *ids,
                      et_vk_buf *out, int64_t n);
/* The same from a dense f32 buffer of N rows of K floats (an activation, not a weight). */
int et_vk_op_get_rows_dense(et_vk_ctx *ctx, const et_vk_buf *table, const et_vk_buf *ids,
                            et_vk_buf *out, int64_t n, int64_t K, int64_t N);
/* dtable[ids[i]][:] += dy[i][:] (f32 table of N rows × D; deterministic, no atomics). */
int et_vk_op_get_rows_back(et_vk_ctx *ctx, const et_vk_buf *dy, const et_vk_buf *ids,
                           et_vk_buf *dtable, int64_t n, int64_t N, int64_t D);

/* Cross-entropy over the positions whose target >= 0: logits[T][V], targets[T] int32.
 * loss[0] = mean over selected rows of (logsumexp − logit[target]); rowloss/lse scratch of T.
 * Rows are processed in vocabulary chunks of the workgroup's stride (any V). */
int et_vk_op_cross_entropy(et_vk_ctx *ctx, const et_vk_buf *logits, const et_vk_buf *targets,
                           et_vk_buf *loss, et_vk_buf *rowloss, et_vk_buf *lse, int64_t T,
                           int64_t V);
/* dlogits (+)= g · (softmax − onehot) on selected rows, 0 elsewhere; g = dloss[0]/n_selected
 * (the mean's gradient), or dloss[t] with per_position (dloss then has T floats). */
int et_vk_op_cross_entropy_back(et_vk_ctx *ctx, const et_vk_buf *logits,
                                const et_vk_buf *targets, const et_vk_buf *lse,
                                const et_vk_buf *dloss, et_vk_buf *dlogits, int64_t T,
                                int64_t V, bool per_position, bool accumulate);

/* The same over vocabulary chunks (never a P x V logits matrix), as engine/ops/cross_entropy.c
 * does on the CPU: for each chunk of C rows of W starting at v0, logits[T][C] = h·W[v0..]ᵀ
 * (et_vk_op_matmul_rows), then _chunk merges the chunk into a running max m[T] and sum s[T]
 * (first: start from it) and takes the target's logit into zt[T]; after the last chunk,
 * _finish writes lse = m + log s over m, rowloss[T] (0 unselected, NaN for a target >= V) and,
 * when loss is not NULL, its mean over selected rows.  Backward per chunk: _back_chunk gives
 * the chunk's columns of g·(softmax − onehot) from lse. */
int et_vk_op_cross_entropy_chunk(et_vk_ctx *ctx, const et_vk_buf *logits, const et_vk_buf *targets,
                                 et_vk_buf *m, et_vk_buf *s, et_vk_buf *zt, int64_t T, int64_t C,
                                 int64_t v0, bool first);
int et_vk_op_cross_entropy_finish(et_vk_ctx *ctx, const et_vk_buf *targets, et_vk_buf *m_lse,
                                  const et_vk_buf *s, const et_vk_buf *zt, et_vk_buf *rowloss,
                                  et_vk_buf *loss, int64_t T, int64_t V);
int et_vk_op_cross_entropy_back_chunk(et_vk_ctx *ctx, const et_vk_buf *logits,
                                      const et_vk_buf *targets, const et_vk_buf *lse,
                                      const et_vk_buf *dloss, et_vk_buf *dlogits, int64_t T,
                                      int64_t C, int64_t v0, bool per_position, bool accumulate);

/* AdamW on n parameters in place (engine/ops/adamw.c's update): m, v moments; hp is a buffer
 * of 8 floats: lr, beta1, beta2, eps, weight_decay, 1-beta1^t, 1-beta2^t, grad_scale; clip
 * (may be NULL) one float multiplying the gradient scale. */
int et_vk_op_adamw(et_vk_ctx *ctx, et_vk_buf *p, const et_vk_buf *g, et_vk_buf *m,
                   et_vk_buf *v, const et_vk_buf *hp, const et_vk_buf *clip, int64_t n);

/* dW[N][K] (+)= dyᵀ·x over T tokens: dy[T][N], x[T][K], all f32 (the weight gradient of a
 * trainable linear layer, e.g. LoRA's A and B). */
int et_vk_op_matmul_dw(et_vk_ctx *ctx, const et_vk_buf *dy, const et_vk_buf *x, et_vk_buf *dw,
                       int64_t T, int64_t K, int64_t N, bool accumulate);

/* Layout ops on f32 tensors of up to 4 dims (ne[0] innermost); strides and offsets in floats.
 *   gather:  out (dense, dims ne) [i] = src[off + Σ (i_k % sne_k)·sst_k]     (CONT, REPEAT)
 *   scatter: out[off + Σ i_k·dst_k] = src (dense, dims ne) [i]               (VIEW_BACK)
 *   repeat_back: out (dense, dims ne) = Σ of src (dense, dims sne) over its repeats
 *   sum:     out[0] = Σ src[0 .. n)      sumsq: out[0] = Σ src[i]² */
typedef enum { ET_VK_LAYOUT_GATHER = 0, ET_VK_LAYOUT_SCATTER, ET_VK_LAYOUT_REPEAT_BACK,
               ET_VK_LAYOUT_SUM, ET_VK_LAYOUT_SUMSQ } et_vk_layout;
typedef struct et_vk_layout_args {
    int64_t ne[4], sne[4], sst[4], dst[4], off;
} et_vk_layout_args;
int et_vk_op_layout(et_vk_ctx *ctx, et_vk_layout mode, const et_vk_layout_args *a,
                    const et_vk_buf *src, et_vk_buf *out);

/* Dropout bit-exact with engine/ops/dropout.c: seed is an int32 buffer [1], p in [0, 1). */
int et_vk_op_dropout(et_vk_ctx *ctx, const et_vk_buf *x, const et_vk_buf *seed, et_vk_buf *y,
                     int64_t n, float p, int site);

/* Internal to the ops files: the variant name for `base` under the tuning and limits, and a
 * weight type's suffix in the variants' names (NULL: no shader dequantizes it). */
const char *et__vk_variant(et_vk_ctx *ctx, const char *base, char *buf, size_t len);
const char *et__vk_wname(et_type t);

#endif
