/* Static graphs: recording order, reverse-mode autodiff, memory planning and execution.
 *
 *   et_graph *g = et_graph_new(ctx, 4096);
 *   et_graph_add(g, loss);                     // forward nodes, topologically sorted
 *   et_graph_backward(g, loss, &opts);         // gradient nodes for PARAM leaves
 *   et_graph_add_optimizer(g, ...);            // optional: AdamW nodes (engine/optim)
 *   et_plan plan; et_graph_plan(g, &plan);     // offsets in one buffer; peak known here
 *   et_graph_alloc(g, &plan) ... et_graph_compute(g, &plan, nthreads)
 */
#ifndef ET_GRAPH_H
#define ET_GRAPH_H

#include "ops.h"

typedef struct et_graph {
    et_ctx     *ctx;
    et_tensor **nodes;     /* in execution order (leaves excluded) */
    int32_t     n_nodes, cap;
    int32_t     n_forward; /* nodes[0 .. n_forward) are the forward pass */
    uint8_t    *visited;   /* by tensor id */
    int32_t     visited_cap;
} et_graph;

et_graph *et_graph_new(et_ctx *ctx, int32_t max_nodes);
void      et_graph_free(et_graph *g);
/* Append t and everything it depends on that is not yet in the graph.  Returns false (and
 * sets the context error) when the graph is full or t is NULL. */
bool      et_graph_add(et_graph *g, et_tensor *t);

typedef struct et_backward_opts {
    bool recompute;   /* activation checkpointing: keep only CHECKPOINT-flagged activations
                         (and leaves) from the forward pass; recompute the rest in backward */
    bool recompute_cheap;   /* keep every activation except the outputs of elementwise ops
                               (SwiGLU/GeGLU products, RMSNorm and MUL, SCALE), which backward
                               recomputes from the kept inputs: a few cheap passes for the
                               MLP's widest activation and the norms' outputs */
    bool recompute_marked;  /* also recompute the nodes flagged ET_FLAG_RECOMPUTABLE (and, as
                               recompute_cheap, the elementwise ops): a builder's choice of
                               activations that are large but cheap to redo (the Llama MLP's
                               gate and up products) */
} et_backward_opts;

/* Reverse-mode autodiff from a scalar loss.  Gradients are created only for PARAM leaves
 * and the nodes between them and the loss; frozen weights get none, though the gradient
 * flows through them.  Each PARAM's gradient is t->grad (flagged OUTPUT). */
bool et_graph_backward(et_graph *g, et_tensor *loss, const et_backward_opts *opts);

/* ---- memory planning ---- */
typedef struct et_plan {
    size_t buffer_bytes;     /* the step buffer: all planned activations and gradients */
    size_t work_bytes;       /* scratch shared by ops */
    size_t peak_bytes;       /* buffer + work: what a step needs beyond leaves */
    size_t lower_bound;      /* max bytes simultaneously live (a floor for buffer_bytes) */
    int32_t n_planned;
    int32_t nthreads;        /* the scratch is sized for at most this many threads */
    void  *buffer, *work;    /* set by et_graph_alloc */
    bool   unplanned;        /* test mode: every tensor got its own allocation */
    void **blocks; int32_t n_blocks;
} et_plan;

/* Liveness over the whole graph, then offsets by greedy best fit (largest first).
 * Assigns t->offs; no memory is touched. */
bool et_graph_plan(et_graph *g, et_plan *plan);
/* Refuse a plan above a limit, with a message naming both figures. */
bool et_plan_check_limit(et_ctx *ctx, const et_plan *plan, size_t limit_bytes);
/* Allocate the step buffer and point every planned tensor and view at its bytes. */
bool et_graph_alloc(et_graph *g, et_plan *plan);
/* Test mode: allocate every tensor separately (no sharing), for plan-vs-unplanned checks. */
bool et_graph_alloc_unplanned(et_graph *g, et_plan *plan);
void et_plan_free(et_plan *plan);

/* Live bytes after each node (array of g->n_nodes), for memory timelines. */
bool et_plan_timeline(const et_graph *g, size_t *live_after);

/* ---- execution (CPU) ---- */
typedef struct et_profile et_profile;
/* Runs nodes [from, to) in order.  Returns false with the error in the context when an op
 * met bad data (e.g. a token id out of range). */
bool et_graph_compute_range(et_graph *g, et_plan *plan, int32_t from, int32_t to, int nthreads,
                            et_profile *prof);
/* nthreads <= 0: OpenMP's current count.  Ops size their scratch for the thread count at
 * planning time (plan->nthreads), so a run uses at most that many threads: more would overrun
 * it.  Plan again after raising the thread count. */
bool et_graph_compute(et_graph *g, et_plan *plan, int nthreads);

#endif
