/* Tensors and the context that owns them.
 *
 * A tensor is a typed view of up to four dimensions: ne[0] is the innermost (contiguous)
 * dimension and nb[i] the byte stride of dimension i, as in ggml, so transposes, reshapes and
 * row slices are free views.  A tensor is either a leaf (op NONE: a weight, an input, a
 * constant; its bytes live in the context or in a mapped file) or a node recorded by an op
 * builder (its bytes are assigned later by the memory planner, engine/planner.c).
 *
 * Builders record, they never compute.  A builder that receives bad shapes or arguments sets
 * the context's error (the first one wins, with the op, the tensor names and the values) and
 * returns NULL; a builder that receives NULL returns NULL quietly, so a model builder checks
 * once at the end: `if (et_ctx_failed(ctx)) ... et_ctx_error(ctx)`.
 */
#ifndef ET_TENSOR_H
#define ET_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dtype.h"

#define ET_MAX_DIMS   4
#define ET_MAX_SRC    6
#define ET_MAX_PARAMS 16
#define ET_NAME_LEN   64
#define ET_ALIGN      64

typedef enum et_op {
#define ET_OP(E, n, nsrc, bwd, work, inplace, cost) ET_OP_##E,
#include "ops.def"
#undef ET_OP
    ET_OP_COUNT
} et_op;

enum et_flag {
    ET_FLAG_PARAM      = 1u << 0,  /* trainable: gets a gradient and an optimizer update */
    ET_FLAG_FROZEN     = 1u << 1,  /* a weight that is never trained (documentation only) */
    ET_FLAG_INPUT      = 1u << 2,  /* written by the caller before each run */
    ET_FLAG_OUTPUT     = 1u << 3,  /* read by the caller after a run: kept alive to the end */
    ET_FLAG_LOSS       = 1u << 4,
    ET_FLAG_CHECKPOINT = 1u << 5,  /* kept for backward when recomputation is on */
    ET_FLAG_PERSIST    = 1u << 6,  /* owns storage outside the step buffer (leaves) */
    ET_FLAG_NEEDS_GRAD = 1u << 7,  /* set by autodiff: lies between a PARAM and the loss */
    ET_FLAG_GRAD       = 1u << 8,  /* set by autodiff: a gradient node */
    ET_FLAG_RECOMPUTE  = 1u << 9,  /* set by autodiff: a recomputed copy of a forward node */
    ET_FLAG_RECOMPUTABLE = 1u << 10, /* set by a model builder: recomputed in backward, not kept,
                                        when et_backward_opts.recompute_marked asks for it */
};

typedef struct et_tensor et_tensor;
struct et_tensor {
    et_type    type;
    int64_t    ne[ET_MAX_DIMS];     /* elements per dimension, ne[0] innermost */
    size_t     nb[ET_MAX_DIMS];     /* byte strides */
    et_op      op;
    int32_t    params[ET_MAX_PARAMS];
    et_tensor *src[ET_MAX_SRC];
    uint32_t   flags;
    char       name[ET_NAME_LEN];
    void      *data;                /* valid after planning + allocation, or for leaves */
    size_t     offs;                /* planned byte offset in the step buffer */
    et_tensor *view_src;            /* non-NULL: a view into view_src's bytes */
    size_t     view_offs;
    et_tensor *grad;                /* set by autodiff */
    et_tensor *recomputed;          /* autodiff's recomputed copy (activation checkpointing) */
    void      *extra;               /* backend-private */
    int32_t    id;                  /* creation index in the context */
};

typedef struct et_ctx et_ctx;

/* A context owns tensor headers and the storage of its leaves.  max_tensors bounds the
 * header count (builders fail with a message when it is exhausted). */
et_ctx *et_ctx_new(int32_t max_tensors);
void    et_ctx_free(et_ctx *ctx);
bool        et_ctx_failed(const et_ctx *ctx);
const char *et_ctx_error(const et_ctx *ctx);
void        et_ctx_clear_error(et_ctx *ctx);
/* Record an error (printf-style); keeps the first.  Returns NULL for `return et_ctx_fail(..)`. */
void *et_ctx_fail(et_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int32_t    et_ctx_n_tensors(const et_ctx *ctx);
et_tensor *et_ctx_tensor(const et_ctx *ctx, int32_t id);
/* Bytes of leaf storage the context owns (weights, optimizer state, inputs). */
size_t     et_ctx_leaf_bytes(const et_ctx *ctx);

/* Stack-like reuse: et_ctx_reset(ctx, mark) drops every tensor created after `mark` (and
 * frees their leaf storage), so a long-lived model context can host one graph after another
 * (a scoring pass, a training run) without growing.  Surviving tensors lose autodiff state
 * (grad, recomputed, NEEDS_GRAD) that pointed past the mark.  Pointers to dropped tensors
 * become invalid. */
typedef struct et_ctx_mark { int32_t n_tensors, n_blocks; size_t leaf_bytes; } et_ctx_mark;
et_ctx_mark et_ctx_get_mark(const et_ctx *ctx);
void        et_ctx_reset(et_ctx *ctx, et_ctx_mark mark);

/* Leaves.  `et_new` allocates zeroed, 64-byte-aligned storage owned by the context;
 * `et_new_external` wraps caller-owned bytes (e.g. a memory-mapped weight). */
et_tensor *et_new(et_ctx *ctx, et_type type, int n_dims, const int64_t *ne, uint32_t flags,
                  const char *name);
et_tensor *et_new_1d(et_ctx *ctx, et_type type, int64_t ne0, uint32_t flags, const char *name);
et_tensor *et_new_2d(et_ctx *ctx, et_type type, int64_t ne0, int64_t ne1, uint32_t flags,
                     const char *name);
et_tensor *et_new_external(et_ctx *ctx, et_type type, int n_dims, const int64_t *ne,
                           void *data, uint32_t flags, const char *name);

/* Internal to builders: a node of `op` with a contiguous layout (no storage yet). */
et_tensor *et__new_node(et_ctx *ctx, et_op op, et_type type, int n_dims, const int64_t *ne);

/* Shape helpers. */
int64_t et_nelements(const et_tensor *t);
int64_t et_nrows(const et_tensor *t);          /* ne[1]*ne[2]*ne[3] */
size_t  et_nbytes(const et_tensor *t);         /* bytes spanned (contiguous: exact) */
int     et_n_dims(const et_tensor *t);
bool    et_is_contiguous(const et_tensor *t);
bool    et_rows_contiguous(const et_tensor *t); /* rows dense (nb[0]=elem) and uniformly strided */
bool    et_same_shape(const et_tensor *a, const et_tensor *b);
bool    et_is_view_op(et_op op);
/* "[4096, 32, 1, 1] f32" — for messages. */
const char *et_shape_str(const et_tensor *t, char *buf, size_t len);
void    et_set_name(et_tensor *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Op parameters: ints directly, floats bit-cast. */
static inline void et_param_set_f32(et_tensor *t, int i, float v) {
    union { float f; int32_t i; } u = { .f = v }; t->params[i] = u.i;
}
static inline float et_param_f32(const et_tensor *t, int i) {
    union { float f; int32_t i; } u = { .i = t->params[i] }; return u.f;
}

/* Element access for tests and small host code (f32/i32 tensors, any strides). */
float et_get_f32(const et_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3);
void  et_set_f32(et_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3, float v);

/* Invariant checks: programming errors, not bad input.  Prints file:line and aborts. */
#define ET_ASSERT(cond, hint)                                                                \
    do {                                                                                     \
        if (!(cond)) et__assert_fail(__FILE__, __LINE__, #cond, hint);                       \
    } while (0)
void et__assert_fail(const char *file, int line, const char *cond, const char *hint)
    __attribute__((noreturn));

#endif
