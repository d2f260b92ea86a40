/* Weights on the device and the matrix products over them: matvec (decode), tiled matmul
 * (prefill, training) and dX = dY·W through frozen, possibly quantized, weights.
 *
 * A weight larger than one storage binding is split into row chunks (vk_memory.c); each chunk
 * is one dispatch that binds that chunk and gets its first row (row_base) as a push constant.
 * For dX the chunks are slices of the reduction, so the second and later dispatches
 * accumulate into dx (the recorder puts a barrier between them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vk_internal.h"
#include "vk_ops.h"
#include "quant.h"
#include "ref/quant_ref.h"

/* The shader variants' suffix of each weight type (dequant.glsl's WTYPE), NULL: none. */
const char *et__vk_wname(et_type t) {
    switch (t) {
    case ET_F32: return "f32";
    case ET_F16: return "f16";
    case ET_BF16: return "bf16";
    case ET_Q8_0: return "q8_0";
    case ET_Q4_0: return "q4_0";
    case ET_Q4_1: return "q4_1";
    case ET_Q5_0: return "q5_0";
    case ET_Q5_1: return "q5_1";
    case ET_Q4_K: return "q4_k";
    case ET_Q6_K: return "q6_k";
    case ET_IQ4_NL: return "iq4_nl";
    case ET_NF4: return "nf4";
    default: return NULL;
    }
}

bool et_vk_weight_type_ok(et_type t) { return et__vk_wname(t) != NULL; }

const char *et__vk_variant(et_vk_ctx *ctx, const char *base, char *buf, size_t len) {
    const et_vk_limits *l = et_vk_get_limits(ctx);
    const et_vk_tuning *t = et_vk_tuning_get(ctx);
    bool sg = t->subgroups && l->subgroups, h = t->fp16 && l->fp16;
    const char *suffix[4] = { sg && h ? "_sg_h" : NULL, h ? "_h" : NULL, sg ? "_sg" : NULL, "" };
    for (int i = 0; i < 4; i++) {
        if (!suffix[i]) continue;
        snprintf(buf, len, "%s%s", base, suffix[i]);
        if (et_vk_has_shader(buf)) return buf;
    }
    return buf;   /* the plain name: et_vk_dispatch reports it if even that is missing */
}

int et_vk_weight_upload(et_vk_ctx *ctx, et_type type, const void *data, int64_t K, int64_t N,
                        et_vk_weight *out) {
    memset(out, 0, sizeof *out);
    char err[160];
    const int64_t bs = type < ET_TYPE_COUNT ? et_type_get(type)->blck_size : 1;
    if (!et_vk_weight_type_ok(type)) {
        snprintf(err, sizeof err, "weight type %s is not supported by the Vulkan shaders",
                 type < ET_TYPE_COUNT ? et_type_get(type)->name : "?");
        goto bad;
    }
    if (K <= 0 || N <= 0 || K % 4 || K % bs || K > (1 << 24) || N > (1ll << 31)) {
        snprintf(err, sizeof err, "weight shape K=%lld N=%lld (K must be a positive multiple of "
                 "%lld and 4)", (long long)K, (long long)N, (long long)(bs < 4 ? 4 : bs));
        goto bad;
    }
    size_t row = et_type_row_size(type, K);
    size_t body = row * (size_t)N;
    if (type != ET_NF4) {
        out->buf = et_vk_buf_alloc(ctx, (uint64_t)N, row, 0);
        if (!out->buf || et_vk_buf_upload(ctx, out->buf, 0, data, body)) goto fail;
    } else {
        /* Tail chunk: 16 codes, 256 dynamic-map values, offset, group scales (dequant.glsl). */
        int64_t nblocks = K / ET_QKNF4 * N, ngroups = (nblocks + ET_NF4_GROUP - 1) / ET_NF4_GROUP;
        size_t tail_n = 16 + 256 + 1 + (size_t)ngroups;
        float *tail = malloc(tail_n * sizeof *tail);
        if (!tail) { snprintf(err, sizeof err, "out of memory"); goto bad; }
        memcpy(tail, et_nf4_codebook, 16 * sizeof *tail);
        memcpy(tail + 16, et_nf4_dynamic_map, 256 * sizeof *tail);
        const uint8_t *src_tail = (const uint8_t *)data + body;
        memcpy(tail + 272, src_tail + (size_t)ngroups * 4, 4);      /* the offset */
        memcpy(tail + 273, src_tail, (size_t)ngroups * 4);          /* the group scales */
        out->buf = et_vk_buf_alloc(ctx, (uint64_t)N, row, tail_n * sizeof *tail);
        int bad = !out->buf || et_vk_buf_upload(ctx, out->buf, 0, data, body) ||
                  et_vk_buf_upload(ctx, out->buf, body, tail, tail_n * sizeof *tail);
        free(tail);
        if (bad) goto fail;
    }
    out->type = type; out->K = K; out->N = N;
    return 0;
bad:
    return et__vk_fail(ctx, "et_vk_weight_upload: %s", err);
fail:
    et_vk_buf_free(ctx, out->buf);
    out->buf = NULL;
    return -1;
}

void et_vk_weight_free(et_vk_ctx *ctx, et_vk_weight *w) {
    if (!w) return;
    et_vk_buf_free(ctx, w->buf);
    w->buf = NULL;
}

/* Bytes a dense f32 buffer must hold for `n` floats; checked against the buffer's size. */
static int et__vk_need(et_vk_ctx *ctx, const char *op, const char *arg, const et_vk_buf *b,
                       int64_t nfloats) {
    if (!b) return et__vk_fail(ctx, "%s: buffer '%s' is NULL", op, arg);
    if (b->nchunks != 1 || b->has_tail)
        return et__vk_fail(ctx, "%s: buffer '%s' spans %u chunks; activations must fit one "
                           "binding (%llu bytes)", op, arg, b->nchunks,
                           (unsigned long long)ctx->lim.max_binding_bytes);
    if (nfloats < 0 || (uint64_t)nfloats * 4 > et_vk_buf_size(b))
        return et__vk_fail(ctx, "%s: buffer '%s' holds %llu bytes, needs %lld floats", op, arg,
                           (unsigned long long)et_vk_buf_size(b), (long long)nfloats);
    return 0;
}

typedef struct { uint32_t K, N, nrows, row_base, accumulate, row_off, col_base; } et__vk_mv_push;
typedef struct { uint32_t T, K, N, nrows, row_base, accumulate, row_off, col_base; } et__vk_mm_push;

/* Rows [v0, v0 + nv) of W: forward y[T][nv] (+)= x[T][K]·W[v0..]ᵀ, or with dx
 * dx[T][K] (+)= dy[T][nv]·W[v0..].  One dispatch per weight chunk the range touches; it binds
 * that chunk and gets the range's first row in it (row_off) and its first column (col_base). */
static int et__vk_mm(et_vk_ctx *ctx, const char *op, const et_vk_weight *w, const et_vk_buf *in,
                     et_vk_buf *out, int64_t T, int64_t v0, int64_t nv, bool dx, bool accumulate) {
    if (!w || !w->buf) return et__vk_fail(ctx, "%s: no weight", op);
    if (v0 < 0 || nv < 1 || v0 + nv > w->N)
        return et__vk_fail(ctx, "%s: rows [%lld, %lld) outside the weight's %lld", op, (long long)v0,
                           (long long)(v0 + nv), (long long)w->N);
    if (T <= 0 || T > 65535 * 16) return et__vk_fail(ctx, "%s: T=%lld tokens", op, (long long)T);
    if (et__vk_need(ctx, op, "input", in, T * (dx ? nv : w->K)) ||
        et__vk_need(ctx, op, "output", out, T * (dx ? w->K : nv)))
        return -1;
    const et_vk_tuning *tu = &ctx->tune;
    const et_vk_buf *wb = w->buf;
    uint32_t nrc = wb->nchunks - (wb->has_tail ? 1 : 0);
    char base[64], name[64];
    bool mv = !dx && T <= (int64_t)tu->matvec_max_tokens;
    snprintf(base, sizeof base, "%s_%s", dx ? "matmul_dx" : mv ? "matvec" : "matmul",
             et__vk_wname(w->type));
    et__vk_variant(ctx, base, name, sizeof name);
    uint32_t spec[5] = { tu->mm_ts * tu->mm_ts, tu->mm_ts, tu->mm_rm, tu->mm_rn, tu->mm_bk };
    uint32_t bm = tu->mm_ts * tu->mm_rm, bn = tu->mm_ts * tu->mm_rn;
    bool first = true;
    for (uint32_t c = 0; c < nrc; c++) {
        int64_t cr0 = (int64_t)((uint64_t)c * wb->chunk_rows);
        int64_t crows = (int64_t)(wb->chunks[c].bytes / wb->row_bytes);
        int64_t lo = v0 > cr0 ? v0 : cr0, hi = v0 + nv < cr0 + crows ? v0 + nv : cr0 + crows;
        if (lo >= hi) continue;
        uint32_t nrows = (uint32_t)(hi - lo), row_off = (uint32_t)(lo - cr0);
        uint32_t col = (uint32_t)(lo - v0), acc = accumulate || (dx && !first);
        et_vk_bind b[4] = { { wb, c, false }, { in, 0, false }, { out, 0, true },
                            { wb, wb->nchunks - 1, false } };
        uint32_t nb = w->type == ET_NF4 ? 4 : 3;
        int rc;
        if (mv) {
            et__vk_mv_push p = { (uint32_t)w->K, (uint32_t)nv, nrows, (uint32_t)cr0, acc, row_off, col };
            uint32_t gx = nrows < 32768 ? nrows : 32768, gy = (nrows + gx - 1) / gx;
            rc = et_vk_dispatch(ctx, name, &tu->wg, 1, b, nb, &p, sizeof p, gx, gy, (uint32_t)T, name);
        } else {
            /* chunks after the first add their slice of dX's reduction over rows */
            et__vk_mm_push p = { (uint32_t)T, (uint32_t)w->K, (uint32_t)nv, nrows, (uint32_t)cr0,
                                 acc, row_off, col };
            uint32_t gx = dx ? (uint32_t)((w->K + bn - 1) / bn) : (nrows + bn - 1) / bn;
            rc = et_vk_dispatch(ctx, name, spec, 5, b, nb, &p, sizeof p, gx,
                                (uint32_t)((T + bm - 1) / bm), 1, name);
        }
        if (rc) return rc;
        first = false;
    }
    return 0;
}

int et_vk_op_matmul(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *x, et_vk_buf *y,
                    int64_t T, bool accumulate) {
    return et__vk_mm(ctx, "matmul", w, x, y, T, 0, w ? w->N : 0, false, accumulate);
}

int et_vk_op_matmul_dx(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *dy,
                       et_vk_buf *dx, int64_t T, bool accumulate) {
    return et__vk_mm(ctx, "matmul_dx", w, dy, dx, T, 0, w ? w->N : 0, true, accumulate);
}

int et_vk_op_matmul_rows(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *x, et_vk_buf *y,
                         int64_t T, int64_t v0, int64_t nv, bool accumulate) {
    return et__vk_mm(ctx, "matmul_rows", w, x, y, T, v0, nv, false, accumulate);
}

int et_vk_op_matmul_dx_rows(et_vk_ctx *ctx, const et_vk_weight *w, const et_vk_buf *dy,
                            et_vk_buf *dx, int64_t T, int64_t v0, int64_t nv, bool accumulate) {
    return et__vk_mm(ctx, "matmul_dx_rows", w, dy, dx, T, v0, nv, true, accumulate);
}
