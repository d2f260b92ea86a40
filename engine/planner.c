/* The memory planner: liveness over the whole step, then offsets in one buffer.
 *
 * Every node that is not a view and not a leaf owns "storage" (its root); views borrow their
 * root's bytes.  A root is live from the node that defines it to the last node that reads it
 * (directly or through a view); OUTPUT/LOSS roots live to the end.  Offsets come from greedy
 * best fit by decreasing size (the "greedy by size" scheme of TFLite's arena planner): each
 * root takes the lowest gap among already-placed roots whose lifetimes overlap its own.  The
 * lower bound — the most bytes ever live at once — is reported beside the result, so the
 * planner's quality is a number (tests require buffer <= 1.10 x bound).
 * No memory is touched until et_graph_alloc().
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph.h"

static size_t et__align(size_t n) { return (n + ET_ALIGN - 1) / ET_ALIGN * ET_ALIGN; }

static et_tensor *et__root(et_tensor *t) {
    while (t->view_src) t = t->view_src;
    return t;
}

static bool et__is_planned(const et_tensor *r) {
    return r->op != ET_OP_NONE && !(r->flags & ET_FLAG_PERSIST) && !r->view_src;
}

typedef struct { et_tensor *t; int32_t first, last; size_t size; } et__interval;

/* Fill intervals for planned roots; returns count or -1. */
static int32_t et__liveness(const et_graph *g, et__interval **out) {
    int32_t ntens = et_ctx_n_tensors(g->ctx);
    int32_t *first = malloc((size_t)ntens * sizeof *first);
    int32_t *last = malloc((size_t)ntens * sizeof *last);
    if (!first || !last) { free(first); free(last); return -1; }
    for (int32_t i = 0; i < ntens; i++) first[i] = last[i] = -1;
    int32_t n = g->n_nodes;
    for (int32_t i = 0; i < n; i++) {
        et_tensor *t = g->nodes[i];
        et_tensor *r = et__root(t);
        if (et__is_planned(r)) {
            if (r == t) first[r->id] = i;
            if (last[r->id] < i) last[r->id] = i;
            if (t->flags & (ET_FLAG_OUTPUT | ET_FLAG_LOSS)) last[r->id] = n;
        }
        for (int j = 0; j < ET_MAX_SRC; j++) {
            if (!t->src[j]) continue;
            et_tensor *rs = et__root(t->src[j]);
            if (et__is_planned(rs) && last[rs->id] < i) last[rs->id] = i;
        }
    }
    int32_t count = 0;
    for (int32_t i = 0; i < n; i++) if (g->nodes[i] == et__root(g->nodes[i]) && et__is_planned(g->nodes[i])) count++;
    et__interval *iv = calloc((size_t)(count ? count : 1), sizeof *iv);
    if (!iv) { free(first); free(last); return -1; }
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        et_tensor *t = g->nodes[i];
        if (t != et__root(t) || !et__is_planned(t)) continue;
        iv[k++] = (et__interval){ t, first[t->id], last[t->id], et__align(et_nbytes(t)) };
    }
    free(first);
    free(last);
    *out = iv;
    return count;
}

static int et__by_size_desc(const void *a, const void *b) {
    const et__interval *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->first - y->first;
}

static int et__by_offs(const void *a, const void *b) {
    const et__interval *x = *(const et__interval *const *)a, *y = *(const et__interval *const *)b;
    return x->t->offs < y->t->offs ? -1 : x->t->offs > y->t->offs;
}

bool et_graph_plan(et_graph *g, et_plan *plan) {
    memset(plan, 0, sizeof *plan);
    et__interval *iv = NULL;
    int32_t n = et__liveness(g, &iv);
    if (n < 0) { et_ctx_fail(g->ctx, "planner: out of memory"); return false; }

    /* lower bound: sweep of simultaneously live bytes */
    size_t *delta = calloc((size_t)g->n_nodes + 2, sizeof *delta);
    size_t *minus = calloc((size_t)g->n_nodes + 2, sizeof *minus);
    if (!delta || !minus) { free(iv); free(delta); free(minus); et_ctx_fail(g->ctx, "planner: out of memory"); return false; }
    for (int32_t i = 0; i < n; i++) { delta[iv[i].first] += iv[i].size; minus[iv[i].last + 1] += iv[i].size; }
    size_t live = 0, bound = 0;
    for (int32_t i = 0; i <= g->n_nodes; i++) {
        live += delta[i];
        live -= minus[i];
        if (live > bound) bound = live;
    }
    free(delta);
    free(minus);

    /* greedy best fit, largest first */
    qsort(iv, (size_t)n, sizeof *iv, et__by_size_desc);
    et__interval **placed = malloc((size_t)(n ? n : 1) * sizeof *placed);
    if (!placed) { free(iv); et_ctx_fail(g->ctx, "planner: out of memory"); return false; }
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t np = 0;
        for (int32_t j = 0; j < i; j++)
            if (iv[j].first <= iv[i].last && iv[i].first <= iv[j].last) placed[np++] = &iv[j];
        qsort(placed, (size_t)np, sizeof *placed, et__by_offs);
        size_t best = SIZE_MAX, best_gap = SIZE_MAX, cur = 0;
        for (int32_t j = 0; j < np; j++) {
            size_t o = placed[j]->t->offs;
            if (o > cur && o - cur >= iv[i].size && o - cur < best_gap) { best = cur; best_gap = o - cur; }
            size_t end = o + placed[j]->size;
            if (end > cur) cur = end;
        }
        if (best == SIZE_MAX) best = cur;
        iv[i].t->offs = best;
        if (best + iv[i].size > total) total = best + iv[i].size;
    }
    free(placed);
    free(iv);

    size_t work = 0;
    int nth = omp_get_max_threads();
    for (int32_t i = 0; i < g->n_nodes; i++) {
        et_work_fn wf = et_op_table[g->nodes[i]->op].work;
        if (wf) { size_t w = wf(g->nodes[i], nth); if (w > work) work = w; }
    }
    plan->buffer_bytes = total;
    plan->work_bytes = et__align(work);
    plan->peak_bytes = total + plan->work_bytes;
    plan->lower_bound = bound;
    plan->n_planned = n;
    plan->nthreads = nth;
    return true;
}

bool et_plan_check_limit(et_ctx *ctx, const et_plan *plan, size_t limit) {
    if (plan->peak_bytes <= limit) return true;
    et_ctx_fail(ctx, "memory limit: the step needs %.1f MiB (activations and gradients %.1f MiB + "
                "scratch %.1f MiB) but the limit is %.1f MiB",
                plan->peak_bytes / 1048576.0, plan->buffer_bytes / 1048576.0,
                plan->work_bytes / 1048576.0, limit / 1048576.0);
    return false;
}

/* Point views at their roots' bytes, in node order (a view follows its source). */
static void et__bind_views(et_graph *g) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        et_tensor *t = g->nodes[i];
        if (t->view_src) t->data = (char *)t->view_src->data + t->view_offs;
    }
}

static void *et__alloc_aligned(size_t n) {
    void *p = aligned_alloc(ET_ALIGN, et__align(n ? n : 1));
    return p;
}

bool et_graph_alloc(et_graph *g, et_plan *plan) {
    plan->buffer = et__alloc_aligned(plan->buffer_bytes);
    plan->work = plan->work_bytes ? et__alloc_aligned(plan->work_bytes) : NULL;
    if (!plan->buffer || (plan->work_bytes && !plan->work)) {
        et_ctx_fail(g->ctx, "cannot allocate the step buffer (%zu + %zu bytes)", plan->buffer_bytes,
                    plan->work_bytes);
        return false;
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
        et_tensor *t = g->nodes[i];
        if (!t->view_src && et__is_planned(t)) t->data = (char *)plan->buffer + t->offs;
    }
    et__bind_views(g);
    return true;
}

bool et_graph_alloc_unplanned(et_graph *g, et_plan *plan) {
    plan->unplanned = true;
    plan->blocks = calloc((size_t)g->n_nodes + 1, sizeof *plan->blocks);
    plan->work = plan->work_bytes ? et__alloc_aligned(plan->work_bytes) : NULL;
    if (!plan->blocks) return false;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        et_tensor *t = g->nodes[i];
        if (t->view_src || !et__is_planned(t)) continue;
        void *p = et__alloc_aligned(et_nbytes(t));
        if (!p) { et_ctx_fail(g->ctx, "unplanned alloc failed"); return false; }
        plan->blocks[plan->n_blocks++] = p;
        t->data = p;
    }
    et__bind_views(g);
    return true;
}

void et_plan_free(et_plan *plan) {
    free(plan->buffer);
    free(plan->work);
    for (int32_t i = 0; i < plan->n_blocks; i++) free(plan->blocks[i]);
    free(plan->blocks);
    plan->buffer = plan->work = NULL;
    plan->blocks = NULL;
    plan->n_blocks = 0;
}

bool et_plan_timeline(const et_graph *g, size_t *live_after) {
    et__interval *iv = NULL;
    int32_t n = et__liveness(g, &iv);
    if (n < 0) return false;
    memset(live_after, 0, (size_t)g->n_nodes * sizeof *live_after);
    for (int32_t i = 0; i < n; i++)
        for (int32_t k = iv[i].first; k <= iv[i].last && k < g->n_nodes; k++) live_after[k] += iv[i].size;
    free(iv);
    return true;
}
