/* GET_ROWS (embedding lookup: rows of a [D, V] table of any type, dequantized to f32) and
 * its adjoint GET_ROWS_BACK (scatter-add of dy rows into a zeroed [D, V] gradient). Token
 * ids are data, not shapes: an id outside [0, V) fails the run with its position and value.
 * A table in a memory-mapped model file is read row by row with pread(2) (et_filemap_fd_at):
 * through the mapping, each lookup's page fault made 64 KiB around it resident, and a few
 * batches the whole table (62.5 of a bench model's 225 MiB of f32 weights). */
#include <errno.h>
#include <omp.h>
#include <string.h>
#include <unistd.h>
#include "cost.h"
#include "io/fileio.h"
#include "ops.h"

et_tensor *et_get_rows(et_ctx *ctx, et_tensor *table, et_tensor *ids) {
    if (!table || !ids) return NULL;
    if (!et__check(ctx, ids->type == ET_I32, "get_rows", ids, NULL, "ids must be i32")) return NULL;
    if (!et__check(ctx, et_is_contiguous(ids), "get_rows", ids, NULL, "ids must be contiguous")) return NULL;
    if (!et__check(ctx, table->ne[2] == 1 && table->ne[3] == 1 && table->type != ET_I32 &&
                            table->type != ET_NF4 && table->nb[0] == et_type_get(table->type)->type_size,
                   "get_rows", table, NULL, "the table must be a 2-D non-NF4 float or quantized matrix"))
        return NULL;
    if (!et__check(ctx, ids->ne[3] == 1, "get_rows", ids, NULL, "ids may have at most 3 dims")) return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_GET_ROWS, ET_F32, ET_MAX_DIMS,
                                (int64_t[]){table->ne[0], ids->ne[0], ids->ne[1], ids->ne[2]});
    if (!t) return NULL;
    t->src[0] = table;
    t->src[1] = ids;
    return t;
}

#define ET__GET_ROWS_SCRATCH 16384   /* bytes: an 8192-wide bf16/f16 row */

/* Row `r` of the table (rb bytes) read from fd at `off` + r·nb1 into buf; false on a short
 * read or an error (the caller then reads through the mapping). */
static bool et__pread_row(int fd, int64_t off, void *buf, size_t rb) {
    size_t got = 0;
    while (got < rb) {
        ssize_t k = pread(fd, (char *)buf + got, rb - got, (off_t)(off + (int64_t)got));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return false;
        got += (size_t)k;
    }
    return true;
}

void et__fwd_get_rows(et_tensor *t, et_exec *ex) {
    const et_tensor *tab = t->src[0], *ids = t->src[1];
    const int32_t *id = ids->data;
    int64_t n = et_nelements(ids), D = tab->ne[0], V = tab->ne[1];
    const et_type_traits *tr = et_type_get(tab->type);
    const size_t rb = et_type_row_size(tab->type, D);
    int64_t off = 0;
    int fd = et_filemap_fd_at(tab->data, &off);
    /* f32 rows land in the output directly; others go through one row of scratch on the
     * stack (a row past it is read through the mapping: no allocation in the step) */
    uint8_t tmp[ET__GET_ROWS_SCRATCH] __attribute__((aligned(64)));
    const bool via_tmp = fd >= 0 && tab->type != ET_F32 && rb <= sizeof tmp;
    for (int64_t i = 0; i < n; i++) {
        float *dst = (float *)t->data + i * D;
        if (id[i] < 0 || id[i] >= V) {
            et_exec_fail(ex, "token id %d at position %lld is outside the vocabulary [0, %lld)",
                         id[i], (long long)i, (long long)V);
            memset(dst, 0, (size_t)D * 4);
            continue;
        }
        const char *row = (const char *)tab->data + (size_t)id[i] * tab->nb[1];
        int64_t roff = off + (int64_t)((size_t)id[i] * tab->nb[1]);
        if (fd >= 0 && tab->type == ET_F32 && et__pread_row(fd, roff, dst, rb)) continue;
        if (via_tmp && et__pread_row(fd, roff, tmp, rb)) row = (const char *)tmp;
        tr->to_f32(row, dst, D);
    }
}

bool et__bwd_get_rows(et_ctx *ctx, et_tensor *t) {
    et_tensor *tab = t->src[0];
    if (et__needs_grad(tab)) et__acc_grad(ctx, tab, et_get_rows_back(ctx, t->grad, t->src[1], tab));
    return true;
}

et_tensor *et_get_rows_back(et_ctx *ctx, et_tensor *dy, et_tensor *ids, et_tensor *table) {
    if (!dy || !ids || !table) return NULL;
    if (!et__check_f32(ctx, "get_rows_back", dy) || !et__check(ctx, et_is_contiguous(dy) &&
            et_nrows(dy) == et_nelements(ids) && dy->ne[0] == table->ne[0], "get_rows_back", dy, ids,
            "dy must be contiguous [D, n ids]"))
        return NULL;
    et_tensor *t = et__new_node(ctx, ET_OP_GET_ROWS_BACK, ET_F32, 2, (int64_t[]){table->ne[0], table->ne[1]});
    if (!t) return NULL;
    t->src[0] = dy;
    t->src[1] = ids;
    return t;
}

void et__fwd_get_rows_back(et_tensor *t, et_exec *ex) {
    const et_tensor *dy = t->src[0], *ids = t->src[1];
    const int32_t *id = ids->data;
    int64_t n = et_nelements(ids), D = t->ne[0], V = t->ne[1];
    memset(t->data, 0, et_nbytes(t));
    /* threads own disjoint column ranges, so the scatter has no races and a fixed order */
    #pragma omp parallel
    {
        int nth = omp_get_num_threads(), ith = omp_get_thread_num();
        int64_t d0 = D * ith / nth, d1 = D * (ith + 1) / nth;
        for (int64_t i = 0; i < n; i++) {
            if (id[i] < 0 || id[i] >= V) continue;
            float *g = (float *)t->data + (int64_t)id[i] * D;
            const float *s = (const float *)dy->data + i * D;
            for (int64_t d = d0; d < d1; d++) g[d] += s[d];
        }
    }
}

/* ---- costs (see cost.h) ----
 * GET_ROWS reads only the selected rows of the table (at its storage type; dequantizing is
 * not counted as arithmetic) and the ids, and writes the f32 rows.  GET_ROWS_BACK adds each
 * dy row into the gradient (one add per element) and writes the whole zeroed [D, V] result. */
void et__cost_get_rows(const et_tensor *t, double *flops, double *bytes) {
    const et_tensor *tab = t->src[0], *ids = t->src[1];
    *flops = 0;
    *bytes = (double)et_type_row_size(tab->type, tab->ne[0]) * et__cost_n(ids) + et__cost_nbytes(ids) +
             et__cost_nbytes(t);
}

void et__cost_get_rows_back(const et_tensor *t, double *flops, double *bytes) {
    *flops = et__cost_n(t->src[0]);
    *bytes = et__cost_nbytes(t->src[0]) + et__cost_nbytes(t->src[1]) + et__cost_nbytes(t);
}
