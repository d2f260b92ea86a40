/* The profiler: where the time, the FLOPs and the bytes of a graph's runs go, node by node.
 *
 * Two calls to profile anything that runs a graph, then the reports:
 *
 *   et_profile *p = et_profile_new(g, 0);                 // after planning; 0: default capacity
 *   for (...) et_graph_compute_range(g, &plan, 0, g->n_nodes, nthreads, p);   // NULL: off
 *   et_profile_write_dir(p, "build/profile", NULL, stdout, err, sizeof err);  // everything below
 *
 * or each report on its own:
 *   et_profile_print_table(p, stdout, 15, NULL);          // top ops / nodes by time
 *   et_profile_write_jsonl(p, "profile.jsonl", NULL, err, sizeof err);
 *   et_profile_write_trace(p, "trace.json", err, sizeof err);   // Perfetto / chrome://tracing
 *   et_profile_write_roofline(p, &limits, "roofline.png", err, sizeof err);  (profile_plot.c)
 *   et_profile_free(p);
 *
 * The graph must outlive the profile (reports read its nodes' names and shapes).  Everything
 * the executor touches while timing is allocated by et_profile_new: timing a node is two
 * clock reads and a few stores, and with a NULL profile the executor only tests the pointer.
 *
 * Per node the profile knows: op, phase (forward / backward / optimizer, from g->n_forward,
 * ET_FLAG_GRAD and the ADAMW op), backend, kernel variant (the matmul family and the kernel
 * path, e.g. "bf16 avx512bf16"), FLOPs and bytes of one execution (the op table's cost
 * functions, engine/cost.h), and its wall time: accumulated over every execution, and the
 * first `max_runs` executions kept as samples for medians and for the trace.
 *
 * A "run" starts whenever a node index is not after the previous one (a new pass over the
 * graph; a training step with gradient accumulation is several runs).  The per-step figures
 * divide totals by the number of steps, the fewest executions of any node that ran.
 */
#ifndef ET_PROFILE_H
#define ET_PROFILE_H

#include <stdint.h>
#include <stdio.h>
#include "graph.h"

typedef enum et_phase { ET_PHASE_FORWARD, ET_PHASE_BACKWARD, ET_PHASE_OPTIMIZER, ET_PHASE_COUNT } et_phase;
const char *et_phase_name(et_phase ph);
/* The phase of node i: optimizer for ADAMW and what only feeds it (clipping), backward for
 * gradient nodes and recomputed copies after g->n_forward, forward otherwise. */
et_phase et_profile_phase_of(const et_graph *g, int32_t i);

/* One timed execution of a node, on a track (a CPU thread, or a GPU queue for backends that
 * read device timestamps); times in ns since the profile was created. */
typedef struct et_profile_event {
    int32_t node, track;
    double  t_ns, dur_ns;
} et_profile_event;

#define ET_PROFILE_MAX_TRACKS 8

struct et_profile {
    const et_graph *g;
    int32_t   n_nodes;
    const char *backend;          /* "cpu"; a backend that times itself sets its own name */
    int       nthreads;           /* threads the ops ran on (omp_get_max_threads at creation) */
    /* per node, from the graph at creation */
    double   *flops, *bytes;      /* one execution */
    uint8_t  *phase;              /* et_phase */
    const char **variant;         /* static strings */
    /* per node, measured */
    double   *node_ns;            /* accumulated over all executions */
    int64_t  *count;              /* executions */
    float    *samples;            /* [node * max_runs + k], the first max_runs executions (ns) */
    int32_t   max_runs;
    /* the trace: events in the order they happened */
    et_profile_event *events;
    int64_t   n_events, cap_events, dropped;
    int64_t   runs;
    int32_t   last_node;
    int32_t   n_tracks;
    long      track_tid[ET_PROFILE_MAX_TRACKS];   /* OS thread id (or queue id) of each track */
    double    t_origin, t0;
};
typedef struct et_profile et_profile;

/* A profile of graph g (planned or not).  max_runs: executions of each node kept as samples
 * and trace events (0: 32).  NULL when out of memory. */
et_profile *et_profile_new(const et_graph *g, int32_t max_runs);
void        et_profile_free(et_profile *p);
/* Forget every measurement (keeps the per-node costs): e.g. after warm-up steps. */
void        et_profile_reset(et_profile *p);
/* The executor's hooks around a node (CPU wall clock, CLOCK_MONOTONIC). */
void        et_profile_begin(et_profile *p, const et_graph *g, int32_t node);
void        et_profile_end(et_profile *p, const et_graph *g, int32_t node);
/* For backends with their own clocks (GPU timestamps): one execution of `node` that started
 * t_ns after et_profile_now_ns()'s origin and lasted dur_ns, on queue `queue_id`. */
void        et_profile_record(et_profile *p, int32_t node, long queue_id, double t_ns, double dur_ns);
double      et_profile_now_ns(const et_profile *p);

/* ---- figures ---- */
typedef struct et_profile_stats {
    int64_t count;                /* executions */
    double  total_ms, median_ms, min_ms;   /* median / min over the kept samples */
    double  flops, bytes;         /* one execution */
    double  gflops, gbps;         /* achieved, from the median */
} et_profile_stats;
bool    et_profile_node_stats(const et_profile *p, int32_t node, et_profile_stats *s);
/* A node's time per step, robust to outliers on a shared machine: its median execution
 * times its executions per step (ns).  The table's shares and phase times use this. */
double  et_profile_step_ns(const et_profile *p, int32_t node);
/* A readable name for node t: its own, or "op(first named source)". */
const char *et_profile_node_label(const et_tensor *t, char *buf, size_t len);
/* Steps profiled: the fewest executions of any node that ran (0 if none ran). */
int64_t et_profile_steps(const et_profile *p);
/* Sum over nodes of total time, FLOPs and bytes (all executions) of one phase, or of all
 * phases when ph == ET_PHASE_COUNT. */
void    et_profile_totals(const et_profile *p, et_phase ph, double *ms, double *flops, double *bytes);

/* ---- the machine's limits, from `edgetune bench kernels --json` (profile_plot.c) ---- */
typedef struct et_roofline_limits {
    double bw_gbps;               /* streaming read bandwidth ("read_bw") */
    double peak_gflops[3];        /* fma_peak, bf16_peak, int8_peak (et_peak_kind order); 0: absent */
    int    threads;               /* the probes' thread count */
    bool   ok;                    /* bandwidth and the f32 peak were found */
} et_roofline_limits;
/* Read the probe lines of a bench kernels JSON-lines file, preferring those measured with
 * `threads` threads (else the most threads present).  false with a message naming the file
 * (and the line) when it is missing, malformed or lacks read_bw / fma_peak. */
bool   et_roofline_limits_read(const char *path, int threads, et_roofline_limits *lim, char *err, size_t errlen);
/* The roofline ceiling (GFLOP/s) of node i: min(peak of its kernel family, FLOPs/byte × bw);
 * 0 when unknown. */
double et_profile_ceiling(const et_profile *p, const et_roofline_limits *lim, int32_t node);
/* The time one execution of node i takes at the roofline: max(FLOPs / peak, bytes / bw), in
 * ns (0 when unknown).  Its ratio to the measured time is the node's fraction of the
 * roofline; it also covers copies, which have bytes but no FLOPs. */
double et_profile_bound_ns(const et_profile *p, const et_roofline_limits *lim, int32_t node);

/* ---- reports (profile_report.c) ---- */
/* The terminal table: phases, the top_n ops (grouped by op and variant) and the top_n nodes
 * by time, with share of the step, GFLOP/s, GB/s and (when lim is given and ok) the
 * fraction of the roofline. */
void et_profile_print_table(const et_profile *p, FILE *f, int top_n, const et_roofline_limits *lim);
/* One JSON object a line: a header ("record":"profile", format, version, steps, totals), one
 * "node" record per executed node, one "op" record per op group.  lim may be NULL. */
bool et_profile_write_jsonl(const et_profile *p, const char *path, const et_roofline_limits *lim, char *err,
                            size_t errlen);
/* Chrome trace-event JSON: per track a thread with node events ("X", args: op, shapes,
 * FLOPs, bytes) nested in forward / backward / optimizer phase spans. */
bool et_profile_write_trace(const et_profile *p, const char *path, char *err, size_t errlen);

/* All reports into folder dir (created if missing): the table on `table` (may be NULL),
 * profile.jsonl, trace.json, roofline.png (limits from limits_path, NULL: the default
 * build/bench/kernels.jsonl; without them the roofline has no ceilings and a note is
 * printed) and memory.png (the planner's timeline of the profiled graph).  This is what
 * `--profile DIR` on finetune / generate calls. */
bool et_profile_write_dir(const et_profile *p, const char *dir, const char *limits_path, FILE *table, char *err,
                          size_t errlen);
/* The same, with a second memory timeline (other, e.g. the step planned with the other
 * activation-recomputation setting; NULL: none) beside the profiled graph's in the table and
 * in memory.png, under the labels given. */
struct et_mem_timeline;
bool et_profile_write_dir2(const et_profile *p, const char *dir, const char *limits_path, FILE *table,
                           const char *label, const struct et_mem_timeline *other, const char *other_label,
                           char *err, size_t errlen);

/* ---- pictures (profile_plot.c) ---- */
/* Every profiled op group as a point (FLOPs/byte, GFLOP/s) under the bandwidth and f32 /
 * bf16 / int8 ceilings. */
bool et_profile_write_roofline(const et_profile *p, const et_roofline_limits *lim, const char *png, char *err,
                               size_t errlen);

/* The planner's memory over a step: live bytes after each node (et_plan_timeline), the peak
 * and the largest tensors live at it. */
#define ET_MEM_TOP 12
typedef struct et_mem_item { char name[64]; size_t bytes; int32_t first, last; } et_mem_item;
typedef struct et_mem_timeline {
    int32_t  n_nodes, n_forward;
    size_t  *live;                /* [n_nodes] */
    size_t   peak;
    int32_t  peak_node;
    char     peak_node_name[64];
    et_mem_item top[ET_MEM_TOP];  /* largest tensors live at the peak, largest first */
    int32_t  n_top, n_live_at_peak;
    size_t   live_at_peak_bytes;  /* sum over all tensors live at the peak (= peak) */
} et_mem_timeline;
/* Fill tl from graph g (which may then be freed); false with a message on failure. */
bool et_mem_timeline_compute(const et_graph *g, et_mem_timeline *tl, char *err, size_t errlen);
void et_mem_timeline_free(et_mem_timeline *tl);
void et_mem_timeline_print(const et_mem_timeline *tl, const char *label, FILE *f);
/* Live MiB over the step for one or two timelines (e.g. without and with activation
 * recomputation; b may be NULL), the peak of each marked and labeled. */
bool et_mem_timeline_plot(const et_mem_timeline *a, const char *label_a, const et_mem_timeline *b,
                          const char *label_b, const char *png, char *err, size_t errlen);

#endif
