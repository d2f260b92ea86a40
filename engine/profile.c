/* The profiler's core: per-node costs taken from the op table when a profile is created,
 * the executor's timing hooks, and the figures the reports are made of (medians, totals,
 * achieved rates, roofline ceilings).  Reports live in profile_report.c, pictures in
 * profile_plot.c.
 *
 * The hooks run inside a step, so they never allocate: samples and trace events go into
 * arrays sized at creation; past their capacity only the totals keep growing (and the trace
 * notes how many events it dropped). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "kernels.h"
#include "profile.h"

static double et__now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

const char *et_phase_name(et_phase ph) {
    static const char *const names[ET_PHASE_COUNT] = { "forward", "backward", "optimizer" };
    return (unsigned)ph < ET_PHASE_COUNT ? names[ph] : "?";
}

static bool et__is_optim_op(et_op op) {
    return op == ET_OP_ADAMW || op == ET_OP_SUMSQ || op == ET_OP_CLIP_SCALE;
}

/* The first node of the optimizer: the first ADAMW / SUMSQ / CLIP_SCALE after the forward
 * pass (clipping's scalar adds sit between the sums and the scale, so everything from there
 * on is the optimizer's). */
static int32_t et__optim_start(const et_graph *g) {
    for (int32_t i = g->n_forward; i < g->n_nodes; i++)
        if (et__is_optim_op(g->nodes[i]->op)) return i;
    return g->n_nodes;
}

static et_phase et__phase(const et_graph *g, int32_t i, int32_t opt0) {
    const et_tensor *t = g->nodes[i];
    if (i >= opt0) return ET_PHASE_OPTIMIZER;
    if ((t->flags & (ET_FLAG_GRAD | ET_FLAG_RECOMPUTE)) || (g->n_forward > 0 && i >= g->n_forward))
        return ET_PHASE_BACKWARD;
    return ET_PHASE_FORWARD;
}

et_phase et_profile_phase_of(const et_graph *g, int32_t i) {
    if (i < 0 || i >= g->n_nodes) return ET_PHASE_FORWARD;
    return et__phase(g, i, et__optim_start(g));
}

/* The kernel that runs a node on the CPU: for the matrix products the family the weight type
 * uses on the current path ("int8", "bf16", "f32"; "matvec" for one token) and the path;
 * the engine's GEMM for dW; plain C loops (OpenMP, compiler-vectorized) for
 * the rest.  The strings are static: the profile keeps pointers. */
static const char *et__variant(const et_tensor *t) {
    static char names[ET_TYPE_COUNT][2][ET_ISA_COUNT][40];
    const et_tensor *w = NULL;
    int64_t T = 0;
    switch (t->op) {
    case ET_OP_MATMUL: case ET_OP_MATMUL_DX: w = t->src[0]; T = et_nrows(t->src[1]); break;
    case ET_OP_CROSS_ENTROPY: case ET_OP_CROSS_ENTROPY_BACK: w = t->src[1]; T = t->src[0]->ne[1]; break;
    case ET_OP_MATMUL_DW: return "sgemm own";   /* never OpenBLAS in a step: engine/ops/matmul.c */
    default: return "c omp";
    }
    et_isa isa = et_kern_isa();
    int one = t->op == ET_OP_MATMUL && T == 1;
    char *s = names[w->type][one][isa];
    if (!s[0])
        snprintf(s, sizeof names[0][0][0], "%s%s %s", et_kern_matmul_family(w->type), one ? " matvec" : "",
                 et_isa_name(isa));
    return s;
}

et_profile *et_profile_new(const et_graph *g, int32_t max_runs) {
    if (!g || g->n_nodes < 0) return NULL;
    if (max_runs <= 0) max_runs = 32;
    if (max_runs > 4096) max_runs = 4096;   /* medians sort a copy on the stack */
    et_profile *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    size_t n = (size_t)g->n_nodes + 1;
    p->g = g;
    p->n_nodes = g->n_nodes;
    p->backend = "cpu";
    p->nthreads = omp_get_max_threads();
    p->max_runs = max_runs;
    p->flops = calloc(n, sizeof *p->flops);
    p->bytes = calloc(n, sizeof *p->bytes);
    p->phase = calloc(n, sizeof *p->phase);
    p->variant = calloc(n, sizeof *p->variant);
    p->node_ns = calloc(n, sizeof *p->node_ns);
    p->count = calloc(n, sizeof *p->count);
    p->samples = calloc(n * (size_t)max_runs, sizeof *p->samples);
    p->cap_events = (int64_t)g->n_nodes * max_runs;
    p->events = calloc((size_t)p->cap_events + 1, sizeof *p->events);
    if (!p->flops || !p->bytes || !p->phase || !p->variant || !p->node_ns || !p->count || !p->samples ||
        !p->events) {
        et_profile_free(p);
        return NULL;
    }
    int32_t opt0 = et__optim_start(g);
    for (int32_t i = 0; i < g->n_nodes; i++) {
        const et_tensor *t = g->nodes[i];
        p->phase[i] = (uint8_t)et__phase(g, i, opt0);
        p->variant[i] = et__variant(t);
        if (et_op_table[t->op].cost) et_op_table[t->op].cost(t, &p->flops[i], &p->bytes[i]);
    }
    et_profile_reset(p);
    return p;
}

void et_profile_reset(et_profile *p) {
    size_t n = (size_t)p->n_nodes + 1;
    memset(p->node_ns, 0, n * sizeof *p->node_ns);
    memset(p->count, 0, n * sizeof *p->count);
    p->n_events = p->dropped = p->runs = 0;
    p->last_node = INT32_MAX;
    p->n_tracks = 0;
    p->t_origin = et__now_ns();
}

void et_profile_free(et_profile *p) {
    if (!p) return;
    free(p->flops);
    free(p->bytes);
    free(p->phase);
    free(p->variant);
    free(p->node_ns);
    free(p->count);
    free(p->samples);
    free(p->events);
    free(p);
}

double et_profile_now_ns(const et_profile *p) { return et__now_ns() - p->t_origin; }

static int32_t et__track(et_profile *p, long tid) {
    for (int32_t k = 0; k < p->n_tracks; k++)
        if (p->track_tid[k] == tid) return k;
    if (p->n_tracks == ET_PROFILE_MAX_TRACKS) return ET_PROFILE_MAX_TRACKS - 1;
    p->track_tid[p->n_tracks] = tid;
    return p->n_tracks++;
}

void et_profile_record(et_profile *p, int32_t node, long queue_id, double t_ns, double dur_ns) {
    if (node < 0 || node >= p->n_nodes) return;
    if (node <= p->last_node) p->runs++;
    p->last_node = node;
    int64_t c = p->count[node]++;
    p->node_ns[node] += dur_ns;
    if (c < p->max_runs) p->samples[(size_t)node * (size_t)p->max_runs + (size_t)c] = (float)dur_ns;
    if (p->n_events < p->cap_events)
        p->events[p->n_events++] = (et_profile_event){ node, et__track(p, queue_id), t_ns, dur_ns };
    else
        p->dropped++;
}

void et_profile_begin(et_profile *p, const et_graph *g, int32_t node) { p->t0 = et__now_ns(); }

void et_profile_end(et_profile *p, const et_graph *g, int32_t node) {
    double t1 = et__now_ns();
    static __thread long tid;
    if (!tid) tid = (long)syscall(SYS_gettid);
    et_profile_record(p, node, tid, p->t0 - p->t_origin, t1 - p->t0);
}

/* ---- figures ---- */
static int et__cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

bool et_profile_node_stats(const et_profile *p, int32_t node, et_profile_stats *s) {
    memset(s, 0, sizeof *s);
    if (node < 0 || node >= p->n_nodes) return false;
    s->count = p->count[node];
    s->flops = p->flops[node];
    s->bytes = p->bytes[node];
    s->total_ms = p->node_ns[node] * 1e-6;
    if (s->count == 0) return true;
    int64_t k = s->count < p->max_runs ? s->count : p->max_runs;
    float tmp[k];
    memcpy(tmp, p->samples + (size_t)node * (size_t)p->max_runs, (size_t)k * sizeof *tmp);
    qsort(tmp, (size_t)k, sizeof *tmp, et__cmp_float);
    double med = k % 2 ? tmp[k / 2] : 0.5 * ((double)tmp[k / 2 - 1] + tmp[k / 2]);
    s->median_ms = med * 1e-6;
    s->min_ms = tmp[0] * 1e-6;
    if (med > 0) {
        s->gflops = s->flops / med;    /* flops per ns = GFLOP/s */
        s->gbps = s->bytes / med;
    }
    return true;
}

int64_t et_profile_steps(const et_profile *p) {
    int64_t steps = 0;
    for (int32_t i = 0; i < p->n_nodes; i++)
        if (p->count[i] > 0 && (steps == 0 || p->count[i] < steps)) steps = p->count[i];
    return steps;
}

void et_profile_totals(const et_profile *p, et_phase ph, double *ms, double *flops, double *bytes) {
    double t = 0, f = 0, b = 0;
    for (int32_t i = 0; i < p->n_nodes; i++) {
        if (ph != ET_PHASE_COUNT && p->phase[i] != ph) continue;
        t += p->node_ns[i];
        f += p->flops[i] * (double)p->count[i];
        b += p->bytes[i] * (double)p->count[i];
    }
    if (ms) *ms = t * 1e-6;
    if (flops) *flops = f;
    if (bytes) *bytes = b;
}

/* The compute ceiling of a node's kernel: the peak of the instruction its family uses. */
static double et__peak(const et_profile *p, const et_roofline_limits *lim, int32_t node) {
    const et_tensor *t = p->g->nodes[node];
    et_peak_kind k = ET_PEAK_F32_FMA;
    if (t->op == ET_OP_MATMUL || t->op == ET_OP_MATMUL_DX) k = et_kern_matmul_peak_kind(t->src[0]->type);
    if (t->op == ET_OP_CROSS_ENTROPY || t->op == ET_OP_CROSS_ENTROPY_BACK) k = et_kern_matmul_peak_kind(t->src[1]->type);
    return lim->peak_gflops[k] > 0 ? lim->peak_gflops[k] : lim->peak_gflops[ET_PEAK_F32_FMA];
}

double et_profile_ceiling(const et_profile *p, const et_roofline_limits *lim, int32_t node) {
    if (!lim || !lim->ok || node < 0 || node >= p->n_nodes || p->bytes[node] <= 0 || p->flops[node] <= 0)
        return 0;
    double peak = et__peak(p, lim, node), mem = p->flops[node] / p->bytes[node] * lim->bw_gbps;
    return mem < peak ? mem : peak;
}

double et_profile_bound_ns(const et_profile *p, const et_roofline_limits *lim, int32_t node) {
    if (!lim || !lim->ok || node < 0 || node >= p->n_nodes) return 0;
    double tc = p->flops[node] / et__peak(p, lim, node), tm = p->bytes[node] / lim->bw_gbps;
    return tc > tm ? tc : tm;
}

double et_profile_step_ns(const et_profile *p, int32_t node) {
    et_profile_stats s;
    int64_t steps = et_profile_steps(p);
    if (!et_profile_node_stats(p, node, &s) || s.count == 0 || steps == 0) return 0;
    return s.median_ms * 1e6 * (double)s.count / (double)steps;
}

/* Names builders leave empty (or derived from empty names: " (reshaped)", "d() packed") say
 * nothing; such a node is named by its op and, recursively, its inputs (views looked
 * through), preferring a named leaf such as the weight of a matmul. */
static bool et__named(const et_tensor *t) { return t->name[0] && t->name[0] != ' ' && !strstr(t->name, "()"); }

static void et__label(const et_tensor *t, char *buf, size_t len, int depth) {
    if (et__named(t)) { snprintf(buf, len, "%s", t->name); return; }
    if (t->op == ET_OP_VIEW && t->src[0]) { et__label(t->src[0], buf, len, depth); return; }
    const et_tensor *arg = NULL;
    for (int j = 0; j < ET_MAX_SRC && t->src[j] && !arg; j++)
        if (t->src[j]->op == ET_OP_NONE && !(t->src[j]->flags & ET_FLAG_INPUT) && et__named(t->src[j])) arg = t->src[j];
    if (!arg && depth > 0) arg = t->src[0];
    if (!arg) { snprintf(buf, len, "%s", et_op_name(t->op)); return; }
    char sub[128];
    et__label(arg, sub, sizeof sub, depth - 1);
    snprintf(buf, len, "%s(%s)", et_op_name(t->op), sub);
}

const char *et_profile_node_label(const et_tensor *t, char *buf, size_t len) {
    et__label(t, buf, len, 3);
    return buf;
}
