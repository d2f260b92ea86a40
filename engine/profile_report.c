/* The profiler's text reports: the terminal table (phases, top ops, top nodes), the
 * JSON-lines file (one record per node and per op group, for scripts and `bench compare`
 * style diffs) and the Chrome trace-event file that Perfetto and chrome://tracing open.
 *
 * All three read a profile and its graph; nothing here times anything.  Times in the table
 * are per step (totals divided by et_profile_steps); rates come from the median execution. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "profile.h"

#define ET__PROFILE_VERSION 1

/* "[512,1024] f32": the shape without trailing 1s, and the type. */
static char *et__shape(const et_tensor *t, char *buf, size_t len) {
    int nd = et_n_dims(t);
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < nd && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld", (long long)t->ne[i]);
    if (o < len) snprintf(buf + o, len - o, "] %s", et_type_get(t->type)->name);
    return buf;
}

/* "[512,512] f32 x [512,1024] f32 -> [512,1024] f32" */
static char *et__shapes(const et_tensor *t, char *buf, size_t len) {
    size_t o = 0;
    char s[96];
    buf[0] = 0;
    for (int j = 0; j < ET_MAX_SRC && t->src[j] && o < len; j++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", j ? " x " : "", et__shape(t->src[j], s, sizeof s));
    if (o < len) snprintf(buf + o, len - o, " -> %s", et__shape(t, s, sizeof s));
    return buf;
}

/* A JSON string body: quotes, backslashes and control characters escaped. */
static void et__json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* ---- op groups: nodes with the same op and kernel variant ----
 * Per-step figures come from each node's median execution (et_profile_step_ns), so one
 * execution slowed by another job on the machine does not move the table. */
typedef struct et__group {
    et_op op;
    const char *variant;
    int32_t nodes;
    double ns, step_ns, flops, bytes, bound_ns;   /* ns: all executions; the rest per step */
} et__group;

static int32_t et__groups(const et_profile *p, const et_roofline_limits *lim, et__group *gr) {
    int32_t n = 0;
    int64_t steps = et_profile_steps(p);
    for (int32_t i = 0; i < p->n_nodes; i++) {
        if (p->count[i] == 0) continue;
        et_op op = p->g->nodes[i]->op;
        int32_t k = 0;
        while (k < n && !(gr[k].op == op && gr[k].variant == p->variant[i])) k++;
        if (k == n) gr[n++] = (et__group){ .op = op, .variant = p->variant[i] };
        double per_step = (double)p->count[i] / (double)steps;
        gr[k].nodes++;
        gr[k].ns += p->node_ns[i];
        gr[k].step_ns += et_profile_step_ns(p, i);
        gr[k].flops += per_step * p->flops[i];
        gr[k].bytes += per_step * p->bytes[i];
        gr[k].bound_ns += per_step * et_profile_bound_ns(p, lim, i);
    }
    return n;
}

static int et__by_ns_group(const void *a, const void *b) {
    double x = ((const et__group *)a)->step_ns, y = ((const et__group *)b)->step_ns;
    return (x < y) - (x > y);
}

static const et_profile *et__sort_p;
static int et__by_ns_node(const void *a, const void *b) {
    double x = et_profile_step_ns(et__sort_p, *(const int32_t *)a), y = et_profile_step_ns(et__sort_p, *(const int32_t *)b);
    return (x < y) - (x > y);
}

static void et__pct(char *buf, size_t len, double frac) {
    if (frac > 0) snprintf(buf, len, "%5.1f%%", 100.0 * frac);
    else snprintf(buf, len, "%6s", "-");
}

void et_profile_print_table(const et_profile *p, FILE *f, int top_n, const et_roofline_limits *lim) {
    int64_t steps = et_profile_steps(p);
    double phase_ns[ET_PHASE_COUNT] = {0}, phase_fl[ET_PHASE_COUNT] = {0}, phase_by[ET_PHASE_COUNT] = {0}, step_ns = 0;
    for (int32_t i = 0; i < p->n_nodes && steps > 0; i++) {
        double ns = et_profile_step_ns(p, i), per = (double)p->count[i] / (double)steps;
        phase_ns[p->phase[i]] += ns;
        phase_fl[p->phase[i]] += per * p->flops[i];
        phase_by[p->phase[i]] += per * p->bytes[i];
        step_ns += ns;
    }
    if (steps == 0 || step_ns <= 0) {
        fprintf(f, "profile: nothing was timed\n");
        return;
    }
    bool roof = lim && lim->ok;
    double total_ms;
    et_profile_totals(p, ET_PHASE_COUNT, &total_ms, NULL, NULL);
    fprintf(f, "profile: %lld step(s); %.2f ms/step from the nodes' medians (mean %.2f) on backend %s, %d threads, "
               "kernel path %s\n",
            (long long)steps, step_ns * 1e-6, total_ms / (double)steps, p->backend, p->nthreads, et_isa_name(et_kern_isa()));
    for (int ph = 0; ph < ET_PHASE_COUNT; ph++) {
        if (phase_ns[ph] <= 0) continue;
        fprintf(f, "  %-9s %9.2f ms/step %5.1f%%  %8.2f GFLOP/s %7.2f GB/s\n", et_phase_name((et_phase)ph),
                phase_ns[ph] * 1e-6, 100.0 * phase_ns[ph] / step_ns, phase_fl[ph] / phase_ns[ph], phase_by[ph] / phase_ns[ph]);
    }
    if (roof)
        fprintf(f, "  roofline: %.1f GB/s read bandwidth; peaks f32 %.0f, bf16 %.0f, int8 %.0f GFLOP/s (%d threads)\n",
                lim->bw_gbps, lim->peak_gflops[0], lim->peak_gflops[1], lim->peak_gflops[2], lim->threads);

    et__group *gr = calloc((size_t)p->n_nodes + 1, sizeof *gr);
    int32_t *idx = malloc(((size_t)p->n_nodes + 1) * sizeof *idx);
    if (!gr || !idx) { free(gr); free(idx); fprintf(f, "profile: out of memory\n"); return; }
    int32_t ng = et__groups(p, lim, gr);
    qsort(gr, (size_t)ng, sizeof *gr, et__by_ns_group);
    fprintf(f, "\ntop ops by time (per step)\n%-20s %-22s %5s %10s %6s %9s %8s %7s %8s\n", "op", "variant", "nodes",
            "ms/step", "share", "GFLOP/s", "GB/s", "FLOP/B", "roofline");
    for (int32_t k = 0; k < ng && k < top_n; k++) {
        char pct[16];
        double ns = gr[k].step_ns;
        et__pct(pct, sizeof pct, roof && ns > 0 ? gr[k].bound_ns / ns : 0);
        fprintf(f, "%-20s %-22s %5d %10.3f %5.1f%% %9.2f %8.2f %7.2f %8s\n", et_op_name(gr[k].op), gr[k].variant,
                gr[k].nodes, ns * 1e-6, 100.0 * ns / step_ns, ns > 0 ? gr[k].flops / ns : 0, ns > 0 ? gr[k].bytes / ns : 0,
                gr[k].bytes > 0 ? gr[k].flops / gr[k].bytes : 0, pct);
    }

    int32_t n = 0;
    for (int32_t i = 0; i < p->n_nodes; i++)
        if (p->count[i] > 0) idx[n++] = i;
    et__sort_p = p;
    qsort(idx, (size_t)n, sizeof *idx, et__by_ns_node);
    fprintf(f, "\ntop nodes by time (median execution)\n%5s %-34s %-18s %-9s %9s %6s %9s %8s %8s  %s\n", "node",
            "tensor", "op", "phase", "ms", "share", "GFLOP/s", "GB/s", "roofline", "shapes");
    for (int32_t k = 0; k < n && k < top_n; k++) {
        int32_t i = idx[k];
        et_profile_stats s;
        et_profile_node_stats(p, i, &s);
        char shapes[256], pct[16], label[128];
        double bound = et_profile_bound_ns(p, lim, i);
        et__pct(pct, sizeof pct, roof && s.median_ms > 0 ? bound / (s.median_ms * 1e6) : 0);
        const et_tensor *t = p->g->nodes[i];
        fprintf(f, "%5d %-34.34s %-18s %-9s %9.3f %5.1f%% %9.2f %8.2f %8s  %s\n", i,
                et_profile_node_label(t, label, sizeof label), et_op_name(t->op), et_phase_name((et_phase)p->phase[i]),
                s.median_ms, 100.0 * et_profile_step_ns(p, i) / step_ns, s.gflops, s.gbps, pct,
                et__shapes(t, shapes, sizeof shapes));
    }
    free(gr);
    free(idx);
}

/* ---- JSON lines ---- */
static bool et__open(const char *path, FILE **f, char *err, size_t errlen) {
    *f = fopen(path, "w");
    if (!*f) snprintf(err, errlen, "profile: cannot write %s: %s", path, strerror(errno));
    return *f != NULL;
}

static bool et__close(const char *path, FILE *f, char *err, size_t errlen) {
    bool ok = !ferror(f);
    if (fclose(f) != 0) ok = false;
    if (!ok) snprintf(err, errlen, "profile: error writing %s", path);
    return ok;
}

bool et_profile_write_jsonl(const et_profile *p, const char *path, const et_roofline_limits *lim, char *err,
                            size_t errlen) {
    FILE *f;
    if (!et__open(path, &f, err, errlen)) return false;
    int64_t steps = et_profile_steps(p);
    double ms, fl, by;
    et_profile_totals(p, ET_PHASE_COUNT, &ms, &fl, &by);
    fprintf(f, "{\"record\":\"profile\",\"format\":\"edgetune-profile\",\"version\":%d,\"backend\":\"%s\","
               "\"threads\":%d,\"isa\":\"%s\",\"nodes\":%d,\"steps\":%lld,\"runs\":%lld,\"total_ms\":%.6f,"
               "\"step_ms\":%.6f,\"flops\":%.6g,\"bytes\":%.6g",
            ET__PROFILE_VERSION, p->backend, p->nthreads, et_isa_name(et_kern_isa()), p->n_nodes, (long long)steps,
            (long long)p->runs, ms, steps ? ms / (double)steps : 0.0, fl, by);
    double med_ns = 0;   /* the table's per-step time: the nodes' medians */
    for (int32_t i = 0; i < p->n_nodes; i++) med_ns += et_profile_step_ns(p, i);
    fprintf(f, ",\"step_ms_median\":%.6f", med_ns * 1e-6);
    for (int ph = 0; ph < ET_PHASE_COUNT; ph++) {
        et_profile_totals(p, (et_phase)ph, &ms, NULL, NULL);
        fprintf(f, ",\"%s_ms\":%.6f", et_phase_name((et_phase)ph), ms);
    }
    if (lim && lim->ok)
        fprintf(f, ",\"read_bw_gbps\":%.3f,\"fma_peak_gflops\":%.3f,\"bf16_peak_gflops\":%.3f,\"int8_peak_gflops\":%.3f",
                lim->bw_gbps, lim->peak_gflops[0], lim->peak_gflops[1], lim->peak_gflops[2]);
    fprintf(f, "}\n");
    for (int32_t i = 0; i < p->n_nodes; i++) {
        if (p->count[i] == 0) continue;
        const et_tensor *t = p->g->nodes[i];
        et_profile_stats s;
        et_profile_node_stats(p, i, &s);
        char buf[96];
        char label[128];
        fprintf(f, "{\"record\":\"node\",\"node\":%d,\"tensor\":", i);
        et__json_str(f, et_profile_node_label(t, label, sizeof label));
        fprintf(f, ",\"op\":\"%s\",\"phase\":\"%s\",\"backend\":\"%s\",\"variant\":\"%s\",\"src\":[", et_op_name(t->op),
                et_phase_name((et_phase)p->phase[i]), p->backend, p->variant[i]);
        for (int j = 0; j < ET_MAX_SRC && t->src[j]; j++) {
            fprintf(f, "%s{\"shape\":", j ? "," : "");
            et__json_str(f, et__shape(t->src[j], buf, sizeof buf));
            fprintf(f, ",\"type\":\"%s\"}", et_type_get(t->src[j]->type)->name);
        }
        fprintf(f, "],\"out\":{\"shape\":");
        et__json_str(f, et__shape(t, buf, sizeof buf));
        fprintf(f, ",\"type\":\"%s\"},\"count\":%lld,\"total_ms\":%.6f,\"median_ms\":%.6f,\"min_ms\":%.6f,"
                   "\"flops\":%.6g,\"bytes\":%.6g,\"gflops\":%.4f,\"gbps\":%.4f",
                et_type_get(t->type)->name, (long long)s.count, s.total_ms, s.median_ms, s.min_ms, s.flops, s.bytes,
                s.gflops, s.gbps);
        double bound = et_profile_bound_ns(p, lim, i);
        if (bound > 0 && s.median_ms > 0)
            fprintf(f, ",\"ceiling_gflops\":%.4f,\"frac_roofline\":%.4f", et_profile_ceiling(p, lim, i),
                    bound / (s.median_ms * 1e6));
        fprintf(f, "}\n");
    }
    et__group *gr = calloc((size_t)p->n_nodes + 1, sizeof *gr);
    if (!gr) { fclose(f); snprintf(err, errlen, "profile: out of memory"); return false; }
    int32_t ng = et__groups(p, lim, gr);
    qsort(gr, (size_t)ng, sizeof *gr, et__by_ns_group);
    for (int32_t k = 0; k < ng; k++) {
        fprintf(f, "{\"record\":\"op\",\"op\":\"%s\",\"variant\":\"%s\",\"nodes\":%d,\"total_ms\":%.6f,"
                   "\"step_ms\":%.6f,\"step_flops\":%.6g,\"step_bytes\":%.6g,\"gflops\":%.4f,\"gbps\":%.4f",
                et_op_name(gr[k].op), gr[k].variant, gr[k].nodes, gr[k].ns * 1e-6, gr[k].step_ns * 1e-6, gr[k].flops,
                gr[k].bytes, gr[k].step_ns > 0 ? gr[k].flops / gr[k].step_ns : 0,
                gr[k].step_ns > 0 ? gr[k].bytes / gr[k].step_ns : 0);
        if (lim && lim->ok && gr[k].step_ns > 0) fprintf(f, ",\"frac_roofline\":%.4f", gr[k].bound_ns / gr[k].step_ns);
        fprintf(f, "}\n");
    }
    free(gr);
    return et__close(path, f, err, errlen);
}

/* ---- Chrome trace events ----
 * Times are written in µs with three decimals from integer nanoseconds, so a phase span's
 * end is exactly its last node's end and the nesting Perfetto draws is exact. */
static void et__us(FILE *f, int64_t ns) { fprintf(f, "%lld.%03lld", (long long)(ns / 1000), (long long)(ns % 1000)); }

static void et__x_event(FILE *f, bool *first, const char *name, const char *cat, int32_t track, int64_t ts,
                        int64_t dur) {
    fprintf(f, "%s\n{\"name\":", *first ? "" : ",");
    *first = false;
    et__json_str(f, name);
    fprintf(f, ",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":", cat, track + 1);
    et__us(f, ts);
    fprintf(f, ",\"dur\":");
    et__us(f, dur);
}

bool et_profile_write_trace(const et_profile *p, const char *path, char *err, size_t errlen) {
    FILE *f;
    if (!et__open(path, &f, err, errlen)) return false;
    bool first = true;
    fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"format\":\"edgetune-trace\",\"version\":%d,"
               "\"backend\":\"%s\",\"threads\":%d,\"isa\":\"%s\",\"dropped_events\":%lld},\n\"traceEvents\":[",
            ET__PROFILE_VERSION, p->backend, p->nthreads, et_isa_name(et_kern_isa()), (long long)p->dropped);
    fprintf(f, "\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"edgetune %s\"}}", p->backend);
    first = false;
    for (int32_t k = 0; k < p->n_tracks; k++)
        fprintf(f, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"args\":{\"name\":\"%s %ld\"}}",
                k + 1, p->backend, p->track_tid[k]);
    char shapes[256];
    /* the trace starts at the first recorded event, not at the profile's creation */
    double origin = INFINITY;
    for (int64_t e = 0; e < p->n_events; e++) origin = fmin(origin, p->events[e].t_ns);
    for (int32_t k = 0; k < p->n_tracks; k++) {
        /* phase spans: maximal runs of consecutive events of one phase within one pass */
        int64_t span_t0 = 0, span_end = 0;
        int span_ph = -1;
        int32_t prev_node = INT32_MAX;
        for (int64_t e = 0; e <= p->n_events; e++) {
            const et_profile_event *ev = e < p->n_events ? &p->events[e] : NULL;
            if (ev && ev->track != k) continue;
            int ph = ev ? p->phase[ev->node] : -1;
            bool new_run = ev && ev->node <= prev_node;
            if (span_ph >= 0 && (!ev || ph != span_ph || new_run)) {
                et__x_event(f, &first, et_phase_name((et_phase)span_ph), "phase", k, span_t0, span_end - span_t0);
                fprintf(f, "}");
                span_ph = -1;
            }
            if (!ev) break;
            int64_t t0 = llround(ev->t_ns - origin), t1 = t0 + llround(ev->dur_ns);
            if (span_ph < 0) { span_ph = ph; span_t0 = t0; span_end = t1; }
            if (t1 > span_end) span_end = t1;
            prev_node = ev->node;
        }
        for (int64_t e = 0; e < p->n_events; e++) {
            const et_profile_event *ev = &p->events[e];
            if (ev->track != k) continue;
            const et_tensor *t = p->g->nodes[ev->node];
            et__x_event(f, &first, et_op_name(t->op), "op", k, llround(ev->t_ns - origin), llround(ev->dur_ns));
            char label[128];
            fprintf(f, ",\"args\":{\"node\":%d,\"tensor\":", ev->node);
            et__json_str(f, et_profile_node_label(t, label, sizeof label));
            fprintf(f, ",\"phase\":\"%s\",\"variant\":\"%s\",\"shapes\":", et_phase_name((et_phase)p->phase[ev->node]),
                    p->variant[ev->node]);
            et__json_str(f, et__shapes(t, shapes, sizeof shapes));
            fprintf(f, ",\"flops\":%.6g,\"bytes\":%.6g}}", p->flops[ev->node], p->bytes[ev->node]);
        }
    }
    fprintf(f, "\n]}\n");
    return et__close(path, f, err, errlen);
}
