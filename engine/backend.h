/* Backends: a small table of functions that runs planned graphs on a device.
 *
 * The CPU backend calls the op table's forward functions (kernels/).  A device backend
 * (Vulkan, engine/vulkan/) owns device memory for the step buffer and for the leaves it
 * needs, records a whole graph segment's dispatches and submits once.  A backend that lacks
 * an op says so at plan time (et_backend_check), naming the op and the node, before anything
 * runs or is allocated.
 *
 *   et_backend *be = et_backend_cpu();              // or et_vk_backend_new(...)
 *   if (!et_backend_check(be, g)) ... et_ctx_error(g->ctx)
 *   be->prepare(be, g, &plan)                        // device buffers, upload weights
 *   be->upload(be, t) for each INPUT leaf changed    // before a run
 *   be->run(be, g, &plan, 0, g->n_nodes)
 *   be->download(be, t) for each OUTPUT read         // after a run
 *
 * Profiling: set be->prof to a profile of the graph (engine/profile.h) and every run() records
 * each node's time into it: the CPU its wall clock per node, Vulkan its GPU timestamps (the
 * dispatches of one node summed), so `--profile` reports device times per node.
 */
#ifndef ET_BACKEND_H
#define ET_BACKEND_H

#include "graph.h"

typedef struct et_backend et_backend;
struct et_backend {
    const char *name;
    /* false (with a reason) if this backend cannot run node t */
    bool (*supports_op)(et_backend *be, const et_tensor *t, char *why, size_t why_len);
    /* allocate what the planned graph needs on the device and upload its leaves */
    bool (*prepare)(et_backend *be, et_graph *g, et_plan *plan);
    /* host → device copy of a leaf's bytes (inputs before each run, weights after edits) */
    bool (*upload)(et_backend *be, et_tensor *t);
    /* device → host copy of a tensor's bytes (outputs after a run) */
    bool (*download)(et_backend *be, et_tensor *t);
    /* run nodes [from, to) */
    bool (*run)(et_backend *be, et_graph *g, et_plan *plan, int32_t from, int32_t to);
    void (*free)(et_backend *be);
    int   n_threads;       /* CPU backend: 0 = all cores */
    et_profile *prof;      /* NULL: off; else run() records each node's time into it */
    void *priv;
};

/* The CPU backend (a static object: free is a no-op). */
et_backend *et_backend_cpu(void);
/* Every node supported?  Otherwise fails g->ctx with the backend, op and node names. */
bool et_backend_check(et_backend *be, et_graph *g);
/* Upload every INPUT leaf the graph's nodes read (token ids, positions, targets, optimizer
 * hyperparameters ...): what a caller rewrites on the host before each run.  false (with the
 * leaf named in g->ctx) when one cannot be uploaded.  A no-op on the CPU. */
bool et_backend_upload_inputs(et_backend *be, et_graph *g);

#endif
