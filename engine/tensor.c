/* The context (tensor headers + leaf storage + first error) and tensor helpers.
 * Headers come from one array sized at creation, so tensor pointers never move. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tensor.h"

struct et_ctx {
    et_tensor *tensors;
    int32_t    n, cap;
    void     **blocks;       /* leaf storage owned by the context */
    int32_t    n_blocks, cap_blocks;
    size_t     leaf_bytes;
    bool       failed;
    char       err[512];
};

void et__assert_fail(const char *file, int line, const char *cond, const char *hint) {
    fprintf(stderr, "edgetune: internal error at %s:%d: %s (%s)\n", file, line, cond, hint);
    abort();
}

et_ctx *et_ctx_new(int32_t max_tensors) {
    et_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->tensors = calloc((size_t)max_tensors, sizeof(et_tensor));
    if (!ctx->tensors) { free(ctx); return NULL; }
    ctx->cap = max_tensors;
    return ctx;
}

void et_ctx_free(et_ctx *ctx) {
    if (!ctx) return;
    for (int32_t i = 0; i < ctx->n_blocks; i++) free(ctx->blocks[i]);
    free(ctx->blocks);
    free(ctx->tensors);
    free(ctx);
}

bool        et_ctx_failed(const et_ctx *ctx) { return ctx->failed; }
const char *et_ctx_error(const et_ctx *ctx) { return ctx->failed ? ctx->err : ""; }
void        et_ctx_clear_error(et_ctx *ctx) { ctx->failed = false; ctx->err[0] = 0; }
int32_t     et_ctx_n_tensors(const et_ctx *ctx) { return ctx->n; }
et_tensor  *et_ctx_tensor(const et_ctx *ctx, int32_t id) { return &ctx->tensors[id]; }
size_t      et_ctx_leaf_bytes(const et_ctx *ctx) { return ctx->leaf_bytes; }

et_ctx_mark et_ctx_get_mark(const et_ctx *ctx) {
    return (et_ctx_mark){ ctx->n, ctx->n_blocks, ctx->leaf_bytes };
}

void et_ctx_reset(et_ctx *ctx, et_ctx_mark mark) {
    for (int32_t i = mark.n_blocks; i < ctx->n_blocks; i++) free(ctx->blocks[i]);
    ctx->n_blocks = mark.n_blocks;
    ctx->leaf_bytes = mark.leaf_bytes;
    ctx->n = mark.n_tensors;
    for (int32_t i = 0; i < ctx->n; i++) {
        et_tensor *t = &ctx->tensors[i];
        if (t->grad && t->grad->id >= mark.n_tensors) t->grad = NULL;
        if (t->recomputed && t->recomputed->id >= mark.n_tensors) t->recomputed = NULL;
        t->flags &= ~(uint32_t)(ET_FLAG_NEEDS_GRAD | ET_FLAG_GRAD);
    }
    ctx->failed = false;
    ctx->err[0] = 0;
}

void *et_ctx_fail(et_ctx *ctx, const char *fmt, ...) {
    if (ctx->failed) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
    va_end(ap);
    ctx->failed = true;
    return NULL;
}

static et_tensor *et__alloc_header(et_ctx *ctx) {
    if (ctx->n >= ctx->cap)
        return et_ctx_fail(ctx, "context full: %d tensors (raise max_tensors)", ctx->cap);
    et_tensor *t = &ctx->tensors[ctx->n];
    memset(t, 0, sizeof *t);
    t->id = ctx->n++;
    t->offs = SIZE_MAX;
    return t;
}

static bool et__set_shape(et_ctx *ctx, et_tensor *t, et_type type, int n_dims, const int64_t *ne) {
    if (type >= ET_TYPE_COUNT) { et_ctx_fail(ctx, "unknown tensor type %d", (int)type); return false; }
    if (n_dims < 1 || n_dims > ET_MAX_DIMS) {
        et_ctx_fail(ctx, "tensor '%s': %d dimensions (1..%d allowed)", t->name, n_dims, ET_MAX_DIMS);
        return false;
    }
    const et_type_traits *tr = et_type_get(type);
    t->type = type;
    for (int i = 0; i < ET_MAX_DIMS; i++) {
        t->ne[i] = i < n_dims ? ne[i] : 1;
        if (t->ne[i] <= 0 || t->ne[i] > ((int64_t)1 << 40)) {
            et_ctx_fail(ctx, "tensor '%s': dimension %d is %lld (must be 1..2^40)", t->name, i,
                        (long long)t->ne[i]);
            return false;
        }
    }
    if (t->ne[0] % tr->blck_size != 0) {
        et_ctx_fail(ctx, "tensor '%s': ne[0]=%lld is not a multiple of %s's block size %d",
                    t->name, (long long)t->ne[0], tr->name, tr->blck_size);
        return false;
    }
    t->nb[0] = tr->type_size;
    t->nb[1] = et_type_row_size(type, t->ne[0]);
    t->nb[2] = t->nb[1] * (size_t)t->ne[1];
    t->nb[3] = t->nb[2] * (size_t)t->ne[2];
    return true;
}

static void *et__ctx_alloc(et_ctx *ctx, size_t bytes) {
    if (ctx->n_blocks == ctx->cap_blocks) {
        int32_t cap = ctx->cap_blocks ? 2 * ctx->cap_blocks : 64;
        void **b = realloc(ctx->blocks, (size_t)cap * sizeof *b);
        if (!b) return NULL;
        ctx->blocks = b;
        ctx->cap_blocks = cap;
    }
    size_t rounded = (bytes + ET_ALIGN - 1) / ET_ALIGN * ET_ALIGN;
    void *p = aligned_alloc(ET_ALIGN, rounded ? rounded : ET_ALIGN);
    if (!p) return NULL;
    memset(p, 0, rounded);
    ctx->blocks[ctx->n_blocks++] = p;
    ctx->leaf_bytes += rounded;
    return p;
}

et_tensor *et_new_external(et_ctx *ctx, et_type type, int n_dims, const int64_t *ne, void *data,
                           uint32_t flags, const char *name) {
    if (!ctx || ctx->failed) return NULL;
    et_tensor *t = et__alloc_header(ctx);
    if (!t) return NULL;
    snprintf(t->name, sizeof t->name, "%s", name ? name : "");
    if (!et__set_shape(ctx, t, type, n_dims, ne)) return NULL;
    t->op = ET_OP_NONE;
    t->flags = flags | ET_FLAG_PERSIST;
    t->data = data;
    return t;
}

et_tensor *et_new(et_ctx *ctx, et_type type, int n_dims, const int64_t *ne, uint32_t flags,
                  const char *name) {
    et_tensor *t = et_new_external(ctx, type, n_dims, ne, NULL, flags, name);
    if (!t) return NULL;
    size_t bytes = et_type_nbytes(type, t->ne[0], et_nrows(t));
    t->data = et__ctx_alloc(ctx, bytes);
    if (!t->data)
        return et_ctx_fail(ctx, "tensor '%s': cannot allocate %zu bytes", t->name, bytes);
    return t;
}

et_tensor *et_new_1d(et_ctx *ctx, et_type type, int64_t ne0, uint32_t flags, const char *name) {
    return et_new(ctx, type, 1, (int64_t[]){ne0}, flags, name);
}
et_tensor *et_new_2d(et_ctx *ctx, et_type type, int64_t ne0, int64_t ne1, uint32_t flags,
                     const char *name) {
    return et_new(ctx, type, 2, (int64_t[]){ne0, ne1}, flags, name);
}

et_tensor *et__new_node(et_ctx *ctx, et_op op, et_type type, int n_dims, const int64_t *ne) {
    if (!ctx || ctx->failed) return NULL;
    et_tensor *t = et__alloc_header(ctx);
    if (!t) return NULL;
    if (!et__set_shape(ctx, t, type, n_dims, ne)) return NULL;
    t->op = op;
    return t;
}

int64_t et_nelements(const et_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }
int64_t et_nrows(const et_tensor *t) { return t->ne[1] * t->ne[2] * t->ne[3]; }

size_t et_nbytes(const et_tensor *t) {
    if (et_is_contiguous(t)) return et_type_nbytes(t->type, t->ne[0], et_nrows(t));
    size_t n = et_type_row_size(t->type, t->ne[0]);
    for (int i = 1; i < ET_MAX_DIMS; i++) n += (size_t)(t->ne[i] - 1) * t->nb[i];
    return n;
}

int et_n_dims(const et_tensor *t) {
    for (int i = ET_MAX_DIMS - 1; i > 0; i--)
        if (t->ne[i] > 1) return i + 1;
    return 1;
}

bool et_is_contiguous(const et_tensor *t) {
    const et_type_traits *tr = et_type_get(t->type);
    if (t->nb[0] != tr->type_size) return false;
    size_t expect = et_type_row_size(t->type, t->ne[0]);
    for (int i = 1; i < ET_MAX_DIMS; i++) {
        if (t->ne[i] > 1 && t->nb[i] != expect) return false;
        expect *= (size_t)t->ne[i];
    }
    return true;
}

bool et_rows_contiguous(const et_tensor *t) {
    if (t->nb[0] != et_type_get(t->type)->type_size) return false;
    /* rows may have any stride nb[1], but higher dims must continue it uniformly */
    return (t->ne[2] == 1 || t->nb[2] == t->nb[1] * (size_t)t->ne[1]) &&
           (t->ne[3] == 1 || t->nb[3] == t->nb[2] * (size_t)t->ne[2]);
}

bool et_same_shape(const et_tensor *a, const et_tensor *b) {
    for (int i = 0; i < ET_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

bool et_is_view_op(et_op op) { return op == ET_OP_VIEW; }

const char *et_shape_str(const et_tensor *t, char *buf, size_t len) {
    if (!t) { snprintf(buf, len, "(null)"); return buf; }
    snprintf(buf, len, "[%lld, %lld, %lld, %lld] %s", (long long)t->ne[0], (long long)t->ne[1],
             (long long)t->ne[2], (long long)t->ne[3], et_type_get(t->type)->name);
    return buf;
}

void et_set_name(et_tensor *t, const char *fmt, ...) {
    if (!t) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
}

static char *et__elem(const et_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2] + i3 * t->nb[3];
}

float et_get_f32(const et_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    ET_ASSERT(t->type == ET_F32 || t->type == ET_I32, "et_get_f32 on f32/i32 tensors only");
    char *p = et__elem(t, i0, i1, i2, i3);
    return t->type == ET_F32 ? *(float *)p : (float)*(int32_t *)p;
}

void et_set_f32(et_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3, float v) {
    ET_ASSERT(t->type == ET_F32 || t->type == ET_I32, "et_set_f32 on f32/i32 tensors only");
    char *p = et__elem(t, i0, i1, i2, i3);
    if (t->type == ET_F32) *(float *)p = v; else *(int32_t *)p = (int32_t)v;
}
