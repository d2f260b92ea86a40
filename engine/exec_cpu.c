/* The CPU executor: runs a planned graph node by node.  Ops parallelize inside (OpenMP, or
 * OpenBLAS's OpenMP pool for f32 GEMM — one pool, never nested).  Nothing is allocated here:
 * the step buffer and scratch come from the plan. */
#include <omp.h>
#include <time.h>
#include "graph.h"
#include "profile.h"

bool et_graph_compute_range(et_graph *g, et_plan *plan, int32_t from, int32_t to, int nthreads,
                            et_profile *prof) {
    /* never more threads than the plan sized the ops' scratch for (a larger count overran it:
     * found with OMP_NUM_THREADS=1 at planning and 2 at compute, under valgrind) */
    int nt = nthreads > 0 ? nthreads : omp_get_max_threads();
    if (plan->nthreads > 0 && nt > plan->nthreads) nt = plan->nthreads;
    omp_set_num_threads(nt);
    et_exec ex = { .work = plan->work, .work_size = plan->work_bytes, .nthreads = nt,
                   .backward = g->n_forward > 0 && to > g->n_forward };
    for (int32_t i = from; i < to; i++) {
        et_tensor *t = g->nodes[i];
        if (t->op == ET_OP_VIEW || t->op == ET_OP_NONE) continue;
        if (prof) et_profile_begin(prof, g, i);
        et_op_table[t->op].forward(t, &ex);
        if (prof) et_profile_end(prof, g, i);
        if (ex.failed) {
            et_ctx_fail(g->ctx, "%s (node %d '%s', op %s)", ex.err, i, t->name, et_op_name(t->op));
            return false;
        }
    }
    return true;
}

bool et_graph_compute(et_graph *g, et_plan *plan, int nthreads) {
    return et_graph_compute_range(g, plan, 0, g->n_nodes, nthreads, NULL);
}
