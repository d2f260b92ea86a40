/* Per-node wall-clock accumulation (CLOCK_MONOTONIC). */
#include <stdlib.h>
#include <time.h>
#include "profile.h"

static double et__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

et_profile *et_profile_new(const et_graph *g) {
    et_profile *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_nodes = g->n_nodes;
    p->node_ns = calloc((size_t)g->n_nodes + 1, sizeof *p->node_ns);
    if (!p->node_ns) { free(p); return NULL; }
    return p;
}

void et_profile_free(et_profile *p) {
    if (!p) return;
    free(p->node_ns);
    free(p);
}

void et_profile_begin(et_profile *p, const et_graph *g, int32_t node) { p->t0 = et__now_ns(); }

void et_profile_end(et_profile *p, const et_graph *g, int32_t node) {
    if (node < p->n_nodes) p->node_ns[node] += et__now_ns() - p->t0;
}
