/* The profiler's pictures and the machine limits they are drawn against.
 *
 *  - Limits: the probe lines of `edgetune bench kernels --json` (bench/bench_kernels.c):
 *    {"bench":"probe","what":"read_bw"|"fma_peak"|"bf16_peak"|"int8_peak","threads":N,
 *     "gbps"|"gflops":X, ...}.  The machine's limits are measured once, by `make bench`, not
 *    by every profile run.
 *  - Roofline PNG: log-log, FLOPs/byte against GFLOP/s; the bandwidth slope and one ceiling
 *    per instruction family (f32 FMA, bf16 dot, int8 dot), every profiled op group as a
 *    point, one colour per phase.
 *  - Memory timeline: live bytes after each node of a step from the planner's liveness
 *    (et_plan_timeline), the peak, and the tensors that make it up; drawn for up to two
 *    graphs (without and with activation recomputation).
 * Drawing goes through bench/plot.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "bench/plot.h"
#include "kernels.h"
#include "profile.h"

/* ---- limits ---- */
bool et_roofline_limits_read(const char *path, int threads, et_roofline_limits *lim, char *err, size_t errlen) {
    static const char *const what[4] = { "read_bw", "fma_peak", "bf16_peak", "int8_peak" };
    memset(lim, 0, sizeof *lim);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "roofline: cannot read %s: %s (run `make bench` to measure the machine)", path,
                 strerror(errno));
        return false;
    }
    /* per quantity: the value at the wanted thread count, and at the most threads seen */
    double at_want[4] = {0}, at_max[4] = {0};
    int max_th[4] = {0};
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    bool ok = true;
    while (getline(&line, &cap, f) > 0) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == 0) continue;
        cJSON *j = cJSON_Parse(line);
        if (!j || !cJSON_IsObject(j)) {
            snprintf(err, errlen, "roofline: %s:%d: not a JSON object", path, lineno);
            cJSON_Delete(j);
            ok = false;
            break;
        }
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "bench");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(j, "what");
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(j, "threads");
        if (cJSON_IsString(b) && !strcmp(b->valuestring, "probe") && cJSON_IsString(w)) {
            for (int k = 0; k < 4; k++) {
                if (strcmp(w->valuestring, what[k]) != 0) continue;
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k == 0 ? "gbps" : "gflops");
                if (!cJSON_IsNumber(v) || !cJSON_IsNumber(th) || !(v->valuedouble >= 0) || th->valuedouble < 1) {
                    snprintf(err, errlen, "roofline: %s:%d: probe '%s' lacks a numeric %s or threads", path, lineno,
                             what[k], k == 0 ? "gbps" : "gflops");
                    ok = false;
                    break;
                }
                /* a limit measured again in the run (the bench re-probes when a kernel beat it)
                 * appears twice: the better figure is the limit, as the bench judged by it */
                int t = (int)th->valuedouble;
                double val = v->valuedouble;
                if (t == threads && val > at_want[k]) at_want[k] = val;
                if (t > max_th[k] || (t == max_th[k] && val > at_max[k])) { max_th[k] = t; at_max[k] = val; }
            }
        }
        cJSON_Delete(j);
        if (!ok) break;
    }
    free(line);
    fclose(f);
    if (!ok) return false;
    bool want = at_want[0] > 0 && at_want[1] > 0;
    lim->bw_gbps = want ? at_want[0] : at_max[0];
    for (int k = 0; k < 3; k++) lim->peak_gflops[k] = want ? at_want[k + 1] : at_max[k + 1];
    lim->threads = want ? threads : max_th[1];
    lim->ok = lim->bw_gbps > 0 && lim->peak_gflops[0] > 0;
    if (!lim->ok)
        snprintf(err, errlen, "roofline: %s has no read_bw and fma_peak probe lines (run `make bench`)", path);
    return lim->ok;
}

/* ---- roofline ---- */
typedef struct et__pt { et_op op; const char *variant; double ns, flops, bytes; } et__pt;

bool et_profile_write_roofline(const et_profile *p, const et_roofline_limits *lim, const char *png, char *err,
                               size_t errlen) {
    et__pt *pt = calloc((size_t)p->n_nodes + 1, sizeof *pt);
    double *x = malloc(((size_t)p->n_nodes + 1) * sizeof *x), *y = malloc(((size_t)p->n_nodes + 1) * sizeof *y);
    const char **lab = calloc((size_t)p->n_nodes + 1, sizeof *lab);
    et_plot *pl = et_plot_new(1100, 700);
    bool ok = false;
    if (!pt || !x || !y || !lab || !pl) { snprintf(err, errlen, "roofline: out of memory"); goto done; }
    bool roof = lim && lim->ok;
    double xmin = INFINITY, xmax = 0, ymax = 0;
    int n_points = 0;
    int64_t steps = et_profile_steps(p);
    for (int ph = 0; ph < ET_PHASE_COUNT && steps > 0; ph++) {
        /* one point per (op, variant) of this phase: the group's FLOPs/byte, and its rate
         * from the nodes' median times (as the table) */
        int32_t n = 0;
        for (int32_t i = 0; i < p->n_nodes; i++) {
            if (p->count[i] == 0 || p->phase[i] != ph || p->flops[i] <= 0 || p->bytes[i] <= 0) continue;
            et_op op = p->g->nodes[i]->op;
            int32_t k = 0;
            while (k < n && !(pt[k].op == op && pt[k].variant == p->variant[i])) k++;
            if (k == n) pt[n++] = (et__pt){ .op = op, .variant = p->variant[i] };
            double per_step = (double)p->count[i] / (double)steps;
            pt[k].ns += et_profile_step_ns(p, i);
            pt[k].flops += p->flops[i] * per_step;
            pt[k].bytes += p->bytes[i] * per_step;
        }
        int32_t m = 0;
        for (int32_t k = 0; k < n; k++) {
            if (pt[k].ns <= 0) continue;
            x[m] = pt[k].flops / pt[k].bytes;
            y[m] = pt[k].flops / pt[k].ns;
            lab[m] = et_op_name(pt[k].op);
            xmin = fmin(xmin, x[m]);
            xmax = fmax(xmax, x[m]);
            ymax = fmax(ymax, y[m]);
            m++;
        }
        if (m > 0 && et_plot_scatter(pl, et_phase_name((et_phase)ph), x, y, lab, m) != 0) {
            snprintf(err, errlen, "roofline: out of memory");
            goto done;
        }
        n_points += m;
    }
    if (n_points == 0) { snprintf(err, errlen, "roofline: no profiled node has FLOPs and a time"); goto done; }
    if (roof) {
        /* the bandwidth slope up to the highest ridge, then one ceiling per family */
        static const char *const fam[3] = { "f32 FMA", "bf16 dot", "int8 dot" };
        double top = 0;
        for (int k = 0; k < 3; k++) top = fmax(top, lim->peak_gflops[k]);
        double lo = fmin(xmin, lim->peak_gflops[0] / lim->bw_gbps) / 2, hi = fmax(xmax, top / lim->bw_gbps) * 4;
        double bx[2] = { lo, top / lim->bw_gbps }, by[2] = { lo * lim->bw_gbps, top };
        char name[96];
        snprintf(name, sizeof name, "read bandwidth %.1f GB/s", lim->bw_gbps);
        bool ok_add = et_plot_line_dashed(pl, name, bx, by, 2) == 0;
        for (int k = 0; k < 3 && ok_add; k++) {
            double pk = lim->peak_gflops[k];
            if (pk <= 0) continue;
            double cx[2] = { pk / lim->bw_gbps, hi }, cy[2] = { pk, pk };
            snprintf(name, sizeof name, "%s peak %.0f GFLOP/s (%d threads)", fam[k], pk, lim->threads);
            ok_add = et_plot_line_dashed(pl, name, cx, cy, 2) == 0;
        }
        ymax = fmax(ymax, top);
        if (!ok_add) { snprintf(err, errlen, "roofline: out of memory"); goto done; }
    }
    /* an unnamed single point (drawn as nothing) lifts the y range so the legend, drawn in
     * the top right corner, does not cover the ceilings */
    double gx = fmax(xmin, 1e-3), gy = ymax * 40;
    if (et_plot_line_dashed(pl, NULL, &gx, &gy, 1) != 0) { snprintf(err, errlen, "roofline: out of memory"); goto done; }
    char title[200];
    snprintf(title, sizeof title, "roofline: %s, %d threads, %s%s", p->backend, p->nthreads, et_isa_name(et_kern_isa()),
             roof ? "" : " (no bench kernels limits: run make bench)");
    et_plot_title(pl, title);
    et_plot_xlabel(pl, "arithmetic intensity (FLOPs / byte)");
    et_plot_ylabel(pl, "achieved GFLOP/s");
    et_plot_log(pl, 1, 1);
    ok = et_plot_save(pl, png, err, errlen) == 0;
done:
    et_plot_free(pl);
    free(pt); free(x); free(y); free(lab);
    return ok;
}

/* ---- memory timeline ----
 * The tensors live at the peak are found by the planner's own rules (engine/planner.c): a
 * planned root (a non-leaf, non-view node) lives from the node that defines it to the last
 * node that reads it directly or through a view, OUTPUT / LOSS roots to the end, each
 * rounded up to ET_ALIGN.  tests/test_profile.c checks that their sum at the peak equals
 * et_plan_timeline's figure, so the two cannot drift apart unnoticed. */
static const et_tensor *et__root(const et_tensor *t) {
    while (t->view_src) t = t->view_src;
    return t;
}
static bool et__planned(const et_tensor *r) {
    return r->op != ET_OP_NONE && !(r->flags & ET_FLAG_PERSIST) && !r->view_src;
}

static int et__item_desc(const void *a, const void *b) {
    size_t x = ((const et_mem_item *)a)->bytes, y = ((const et_mem_item *)b)->bytes;
    return (x < y) - (x > y);
}

bool et_mem_timeline_compute(const et_graph *g, et_mem_timeline *tl, char *err, size_t errlen) {
    memset(tl, 0, sizeof *tl);
    int32_t n = g->n_nodes, nt = et_ctx_n_tensors(g->ctx);
    tl->n_nodes = n;
    tl->n_forward = g->n_forward;
    tl->live = calloc((size_t)n + 1, sizeof *tl->live);
    int32_t *last = malloc(((size_t)nt + 1) * sizeof *last);
    et_mem_item *items = NULL;
    if (!tl->live || !last) goto oom;
    if (!et_plan_timeline(g, tl->live)) goto oom;
    for (int32_t i = 0; i < n; i++)
        if (tl->live[i] > tl->peak) { tl->peak = tl->live[i]; tl->peak_node = i; }
    char label[128];
    if (n > 0)
        snprintf(tl->peak_node_name, sizeof tl->peak_node_name, "%s",
                 et_profile_node_label(g->nodes[tl->peak_node], label, sizeof label));
    for (int32_t i = 0; i < nt; i++) last[i] = -1;
    for (int32_t i = 0; i < n; i++) {
        const et_tensor *t = g->nodes[i], *r = et__root(t);
        if (et__planned(r)) {
            if (last[r->id] < i) last[r->id] = i;
            if (t->flags & (ET_FLAG_OUTPUT | ET_FLAG_LOSS)) last[r->id] = n;
        }
        for (int j = 0; j < ET_MAX_SRC; j++) {
            if (!t->src[j]) continue;
            const et_tensor *rs = et__root(t->src[j]);
            if (et__planned(rs) && last[rs->id] < i) last[rs->id] = i;
        }
    }
    items = calloc((size_t)n + 1, sizeof *items);
    if (!items) goto oom;
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        const et_tensor *t = g->nodes[i];
        if (t != et__root(t) || !et__planned(t)) continue;
        if (i > tl->peak_node || last[t->id] < tl->peak_node) continue;
        et_mem_item *it = &items[m++];
        char label[128];
        snprintf(it->name, sizeof it->name, "%s", et_profile_node_label(t, label, sizeof label));
        it->bytes = (et_nbytes(t) + ET_ALIGN - 1) / ET_ALIGN * ET_ALIGN;
        it->first = i;
        it->last = last[t->id] < n ? last[t->id] : n - 1;
        tl->live_at_peak_bytes += it->bytes;
    }
    qsort(items, (size_t)m, sizeof *items, et__item_desc);
    tl->n_live_at_peak = m;
    tl->n_top = m < ET_MEM_TOP ? m : ET_MEM_TOP;
    memcpy(tl->top, items, (size_t)tl->n_top * sizeof *items);
    free(items);
    free(last);
    return true;
oom:
    free(items);
    free(last);
    et_mem_timeline_free(tl);
    snprintf(err, errlen, "memory timeline: out of memory");
    return false;
}

void et_mem_timeline_free(et_mem_timeline *tl) {
    free(tl->live);
    tl->live = NULL;
}

void et_mem_timeline_print(const et_mem_timeline *tl, const char *label, FILE *f) {
    fprintf(f, "memory (%s): peak %.2f MiB of planned activations and gradients after node %d '%s' of %d; "
               "%d tensors live there, the largest:\n",
            label, tl->peak / 1048576.0, tl->peak_node, tl->peak_node_name, tl->n_nodes, tl->n_live_at_peak);
    for (int32_t k = 0; k < tl->n_top; k++)
        fprintf(f, "  %9.2f MiB %5.1f%%  %-40.40s nodes %d..%d\n", tl->top[k].bytes / 1048576.0,
                tl->peak ? 100.0 * (double)tl->top[k].bytes / (double)tl->peak : 0.0, tl->top[k].name,
                tl->top[k].first, tl->top[k].last);
}

bool et_mem_timeline_plot(const et_mem_timeline *a, const char *label_a, const et_mem_timeline *b,
                          const char *label_b, const char *png, char *err, size_t errlen) {
    const et_mem_timeline *tl[2] = { a, b };
    const char *lab[2] = { label_a, label_b };
    et_plot *pl = et_plot_new(1100, 650);
    int32_t nmax = a->n_nodes;
    if (b && b->n_nodes > nmax) nmax = b->n_nodes;
    double *x = malloc(((size_t)nmax + 1) * sizeof *x), *y = malloc(((size_t)nmax + 1) * sizeof *y);
    bool ok = false;
    if (!pl || !x || !y) { snprintf(err, errlen, "memory timeline: out of memory"); goto done; }
    for (int s = 0; s < 2; s++) {
        if (!tl[s] || tl[s]->n_nodes == 0) continue;
        for (int32_t i = 0; i < tl[s]->n_nodes; i++) { x[i] = i; y[i] = (double)tl[s]->live[i] / 1048576.0; }
        char name[160];
        snprintf(name, sizeof name, "%s: peak %.1f MiB", lab[s], tl[s]->peak / 1048576.0);
        if (et_plot_line(pl, name, x, y, NULL, NULL, tl[s]->n_nodes) != 0) goto oom;
        double px = tl[s]->peak_node, py = tl[s]->peak / 1048576.0;
        char pk[200];
        snprintf(pk, sizeof pk, "peak %.1f MiB (node %d)", py, tl[s]->peak_node);
        const char *pl_lab[1] = { pk };
        char sname[160];
        snprintf(sname, sizeof sname, "%s peak", lab[s]);
        if (et_plot_scatter(pl, sname, &px, &py, pl_lab, 1) != 0) goto oom;
        if (tl[s]->n_forward > 0) {
            double fx[2] = { tl[s]->n_forward, tl[s]->n_forward }, fy[2] = { 0, py };
            snprintf(sname, sizeof sname, "%s: end of forward", lab[s]);
            if (et_plot_line_dashed(pl, sname, fx, fy, 2) != 0) goto oom;
        }
    }
    et_plot_title(pl, "planned memory over one step (activations, gradients; weights and optimizer state excluded)");
    et_plot_xlabel(pl, "node (execution order)");
    et_plot_ylabel(pl, "live MiB");
    ok = et_plot_save(pl, png, err, errlen) == 0;
    goto done;
oom:
    snprintf(err, errlen, "memory timeline: out of memory");
done:
    et_plot_free(pl);
    free(x);
    free(y);
    return ok;
}

/* ---- everything into one folder ---- */
static int et__mkdirs(const char *path) {
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *q = buf + 1; *q; q++)
        if (*q == '/') { *q = 0; mkdir(buf, 0755); *q = '/'; }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

bool et_profile_write_dir(const et_profile *p, const char *dir, const char *limits_path, FILE *table, char *err,
                          size_t errlen) {
    return et_profile_write_dir2(p, dir, limits_path, table, "as planned", NULL, NULL, err, errlen);
}

bool et_profile_write_dir2(const et_profile *p, const char *dir, const char *limits_path, FILE *table,
                           const char *label, const et_mem_timeline *other, const char *other_label,
                           char *err, size_t errlen) {
    if (et__mkdirs(dir)) {
        snprintf(err, errlen, "profile: cannot create the folder %s: %s", dir, strerror(errno));
        return false;
    }
    et_roofline_limits lim;
    char lerr[400], path[1100];
    bool have = et_roofline_limits_read(limits_path ? limits_path : "build/bench/kernels.jsonl", p->nthreads, &lim,
                                        lerr, sizeof lerr);
    if (table) {
        if (!have) fprintf(table, "note: %s; the roofline has no ceilings\n", lerr);
        et_profile_print_table(p, table, 15, &lim);
    }
    et_mem_timeline tl;
    bool ok = true;
#define ET__IN_DIR(name) (snprintf(path, sizeof path, "%s/%s", dir, name), path)
    ok = ok && et_profile_write_jsonl(p, ET__IN_DIR("profile.jsonl"), &lim, err, errlen);
    ok = ok && et_profile_write_trace(p, ET__IN_DIR("trace.json"), err, errlen);
    ok = ok && et_profile_write_roofline(p, &lim, ET__IN_DIR("roofline.png"), err, errlen);
    if (ok && et_mem_timeline_compute(p->g, &tl, err, errlen)) {
        if (table) et_mem_timeline_print(&tl, label, table);
        if (table && other) et_mem_timeline_print(other, other_label, table);
        ok = et_mem_timeline_plot(&tl, label, other, other ? other_label : NULL, ET__IN_DIR("memory.png"), err, errlen);
        et_mem_timeline_free(&tl);
    } else {
        ok = false;
    }
#undef ET__IN_DIR
    return ok;
}
