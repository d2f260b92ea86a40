/* The driver behind `edgetune study`: tasks -> plan -> (shard) -> skip finished cells ->
 * run the rest with progress and ETA -> report.  `--plan` prints the cells and their
 * estimated cost instead of running; `--report` only re-renders the report.
 *
 * The ETA scales the remaining cells' estimates by how long the finished ones took against
 * their own estimates, so it self-corrects after the first few cells.
 */
#include "study.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernels.h"

static const char *const et__builtin[] = {"rating", "section", "attribution", "synopsis"};

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int et__mkdirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(buf, 0755); *p = '/'; }
    return mkdir(buf, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

/* GFLOP/s of this machine's f32 GEMM (the engine's et_sgemm) on a 256^3 product: the
 * throughput --plan turns inference FLOPs into seconds with (measured here, never assumed) */
static double et__measure_gflops(void) {
    enum { N = 256 };
    float *a = calloc(N * N, sizeof *a), *b = calloc(N * N, sizeof *b), *c = calloc(N * N, sizeof *c);
    if (!a || !b || !c) { free(a); free(b); free(c); return 0; }
    for (int i = 0; i < N * N; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    et_sgemm(false, false, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);   /* warm-up */
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = et__now();
        et_sgemm(false, false, N, N, N, 1.0f, a, N, b, N, 0.0f, c, N);
        double dt = et__now() - t0;
        if (dt < best) best = dt;
    }
    free(a); free(b); free(c);
    return best > 0 ? 2.0 * N * N * N / best / 1e9 : 0;
}

static double et__file_bytes(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (double)st.st_size : 0;
}

static int et__cmp_size(const void *a, const void *b) {
    double x = et__file_bytes(*(char *const *)a), y = et__file_bytes(*(char *const *)b);
    return x < y ? -1 : x > y ? 1 : strcmp(*(char *const *)a, *(char *const *)b);
}

int et_study_main(const et_study_opts *o, char *err, size_t errlen) {
    const char *data_dir = o->data_dir ? o->data_dir : "build/data";
    const char *out_dir = o->out_dir ? o->out_dir : "build/study";
    const char *profile = o->profile ? o->profile : "quick";
    et_study_task tasks[8];
    int n_tasks = 0, rc = -1;
    et_study_plan plan = {0};
    glob_t g = {0};
    char **keys = NULL;
    int n_keys = 0;
    memset(tasks, 0, sizeof tasks);

    if (o->lamp_dir) {
        if (et_study_task_load_lamp(o->lamp_dir, &tasks[0], err, errlen)) return -1;
        n_tasks = 1;
    } else {
        for (int i = 0; i < 4; i++) {
            char p[1024];
            snprintf(p, sizeof p, "%s/%s/task.json", data_dir, et__builtin[i]);
            if (access(p, R_OK)) continue;
            if (o->tasks) {                           /* --tasks a,b: only those */
                const char *q = strstr(o->tasks, et__builtin[i]);
                size_t l = strlen(et__builtin[i]);
                if (!q || (q != o->tasks && q[-1] != ',') || (q[l] && q[l] != ',')) continue;
            }
            if (et_study_task_load(data_dir, et__builtin[i], &tasks[n_tasks], err, errlen)) goto done;
            n_tasks++;
        }
        if (!n_tasks) {
            snprintf(err, errlen, "study: no tasks in %s (run `make data`, or give --lamp DIR)", data_dir);
            return -1;
        }
    }
    if (et__mkdirs(out_dir)) {
        snprintf(err, errlen, "study: cannot create %s: %s", out_dir, strerror(errno));
        goto done;
    }
    if (o->report_only) {
        rc = et_study_report(out_dir, tasks, n_tasks, o, err, errlen);
        goto done;
    }

    /* models: --model files, else the built-in base models build/models/ (*.gguf, smallest first) */
    const char *const *models = o->models;
    int n_models = o->n_models;
    if (n_models == 0) {
        if (glob("build/models/*.gguf", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, et__cmp_size);
            models = (const char *const *)g.gl_pathv;
            n_models = (int)g.gl_pathc;
        } else {
            snprintf(err, errlen, "study: no models: give --model M.gguf (repeatable) or build "
                     "the base models into build/models/");
            goto done;
        }
    }
    for (int m = 0; m < n_models; m++)
        if (access(models[m], R_OK)) {
            snprintf(err, errlen, "study: --model %s: cannot read the file", models[m]);
            goto done;
        }
    const char *tnames[8];
    for (int t = 0; t < n_tasks; t++) tnames[t] = tasks[t].name;
    et_study_profile ovr = { 0 };
    ovr.n_users = o->n_users, ovr.n_budgets = o->n_budgets;
    for (int i = 0; i < o->n_budgets && i < 4; i++) ovr.budgets[i] = o->budgets[i];
    if (et_study_plan_build_with(&plan, profile, o->grid, tnames, n_tasks, models, n_models, &ovr,
                                 err, errlen))
        goto done;
    int total_cells = plan.n;
    et_study_plan_shard(&plan, o->shard_k, o->shard_n);

    double gflops = et__measure_gflops();
    double *est = calloc((size_t)plan.n + 1, sizeof *est), est_total = 0;
    if (!est) { snprintf(err, errlen, "study: out of memory"); goto done; }
    for (int i = 0; i < plan.n; i++) {
        const et_study_task *t = NULL;
        for (int k = 0; k < n_tasks; k++) if (!strcmp(tasks[k].name, plan.cells[i].task)) t = &tasks[k];
        double qbytes = t && t->n_users && t->users[0].n_test ? strlen(t->users[0].test[0].input) : 400;
        est[i] = et_cell_estimate_s(&plan.cells[i], gflops, et__file_bytes(plan.cells[i].model) / 4,
                                    qbytes / 4);
        est_total += est[i];
    }
    int threads = o->n_threads > 0 ? o->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);

    if (o->plan_only) {
        printf("# edgetune study plan: profile %s%s, %d of %d cells (shard %d/%d)\n", profile,
               o->grid ? " (full factorial grid)" : "", plan.n, total_cells, o->shard_k, o->shard_n);
        printf("# estimate: learning budgets x users + inference FLOPs (2 x params x tokens; params ~ "
               "model file bytes / 4) at %.1f GFLOP/s measured here (f32 GEMM, %d threads)\n",
               gflops, threads);
        for (int i = 0; i < plan.n; i++) {
            char key[600];
            et_cell_key(&plan.cells[i], key, sizeof key);
            printf("%5d  %-18s %8.0f s  %s\n", i, plan.cells[i].slice, est[i], key);
        }
        printf("# total: %d cells, %.2f hours wall, %.2f CPU-hours (%d threads)\n", plan.n,
               est_total / 3600, est_total * threads / 3600, threads);
        free(est);
        rc = 0;
        goto done;
    }

    char results[1100];
    snprintf(results, sizeof results, "%s/results.jsonl", out_dir);
    n_keys = et_results_keys(results, &keys, err, errlen);
    if (n_keys < 0) { free(est); goto done; }
    /* which cells still need running: decided once, from the finished keys */
    bool *pending = calloc((size_t)(plan.n > 0 ? plan.n : 1), sizeof *pending);
    if (!pending) { snprintf(err, errlen, "study: out of memory"); free(est); goto done; }
    int n_pending = 0, failed = 0;
    double est_pending = 0;   /* estimated seconds of the cells not yet run */
    for (int i = 0; i < plan.n; i++) {
        char key[600];
        et_cell_key(&plan.cells[i], key, sizeof key);
        pending[i] = !et_results_has(keys, n_keys, key);
        if (pending[i]) {
            n_pending++;
            est_pending += est[i];
        }
    }
    fprintf(stderr, "study: %d cells in this share, %d already finished in %s, %d to run "
            "(estimate %.1f min)\n", plan.n, plan.n - n_pending, results, n_pending, est_pending / 60);
    double spent = 0, spent_est = 0;   /* measured and estimated seconds of the cells run now */
    int done_now = 0;
    for (int i = 0; i < plan.n; i++) {
        if (!pending[i]) continue;
        const et_cell *c = &plan.cells[i];
        const et_study_task *t = NULL;
        for (int k = 0; k < n_tasks; k++) if (!strcmp(tasks[k].name, c->task)) t = &tasks[k];
        est_pending -= est[i];
        double t0 = et__now();
        char *line = NULL, cerr[512];
        if (!t || et_study_run_cell(c, t, out_dir, o->n_threads, &line, cerr, sizeof cerr)) {
            char key[600];
            et_cell_key(c, key, sizeof key);
            fprintf(stderr, "study: cell %s failed: %s\n", key, t ? cerr : "unknown task");
            failed++;
            if (!et_study_have_models()) break;      /* every cell would fail the same way */
            continue;
        }
        if (et_results_append(results, line, err, errlen)) { free(line); free(est); free(pending); goto done; }
        free(line);
        double dt = et__now() - t0;
        spent += dt;
        spent_est += est[i];
        done_now++;
        double eta = spent_est > 0 && est_pending > 0 ? est_pending * spent / spent_est : 0;
        fprintf(stderr, "[%d/%d] %-14s %-9s %s %6.1fs  ETA %.1f min\n", plan.n - n_pending + done_now,
                plan.n, c->task, c->method, c->base, dt, eta / 60);
    }
    free(pending);
    free(est);
    if (et_study_report(out_dir, tasks, n_tasks, o, err, errlen)) goto done;
    if (failed) {
        snprintf(err, errlen, "study: %d cell(s) failed (see above); rerun to retry them", failed);
        goto done;
    }
    rc = 0;
done:
    et_results_keys_free(keys, n_keys > 0 ? n_keys : 0);
    if (g.gl_pathc) globfree(&g);
    et_study_plan_free(&plan);
    for (int t = 0; t < n_tasks; t++) et_study_task_free(&tasks[t]);
    return rc;
}
