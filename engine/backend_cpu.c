/* The CPU backend: host memory is device memory, so prepare/upload/download do nothing and
 * run is the CPU executor.  It is one static object: n_threads and prof set on it apply to
 * every user of et_backend_cpu() in the process, so code that profiles or limits threads on
 * the CPU calls the executor itself (as the trainer does). */
#include <stdio.h>
#include "backend.h"

static bool et__cpu_supports(et_backend *be, const et_tensor *t, char *why, size_t n) { return true; }
static bool et__cpu_prepare(et_backend *be, et_graph *g, et_plan *plan) { return true; }
static bool et__cpu_copy(et_backend *be, et_tensor *t) { return true; }
static bool et__cpu_run(et_backend *be, et_graph *g, et_plan *plan, int32_t from, int32_t to) {
    return et_graph_compute_range(g, plan, from, to, be->n_threads, be->prof);
}
static void et__cpu_free(et_backend *be) {}

static et_backend et__cpu = {
    .name = "cpu", .supports_op = et__cpu_supports, .prepare = et__cpu_prepare,
    .upload = et__cpu_copy, .download = et__cpu_copy, .run = et__cpu_run, .free = et__cpu_free,
};

et_backend *et_backend_cpu(void) { return &et__cpu; }

bool et_backend_check(et_backend *be, et_graph *g) {
    for (int32_t i = 0; i < g->n_nodes; i++) {
        et_tensor *t = g->nodes[i];
        if (t->op == ET_OP_VIEW || t->op == ET_OP_NONE) continue;
        char why[160] = "";
        if (!be->supports_op(be, t, why, sizeof why)) {
            char sh[96];
            et_ctx_fail(g->ctx, "backend %s cannot run op %s (node %d '%s', %s)%s%s", be->name,
                        et_op_name(t->op), i, t->name, et_shape_str(t, sh, sizeof sh), why[0] ? ": " : "", why);
            return false;
        }
    }
    return true;
}

bool et_backend_upload_inputs(et_backend *be, et_graph *g) {
    if (be == &et__cpu) return true;
    const et_tensor *done[64];   /* graphs have a handful of inputs; more are re-uploaded */
    int n_done = 0;
    for (int32_t i = 0; i < g->n_nodes; i++)
        for (int s = 0; s < ET_MAX_SRC && g->nodes[i]->src[s]; s++) {
            et_tensor *t = g->nodes[i]->src[s];
            if (t->op != ET_OP_NONE || !(t->flags & ET_FLAG_INPUT)) continue;
            bool seen = false;
            for (int k = 0; k < n_done && !seen; k++) seen = done[k] == t;
            if (seen) continue;
            if (!be->upload(be, t)) {
                et_ctx_fail(g->ctx, "backend %s: cannot upload input '%s'", be->name, t->name);
                return false;
            }
            if (n_done < 64) done[n_done++] = t;
        }
    return true;
}
