/* The driver behind `edgetune study`: tasks -> plan -> (shard) -> skip finished cells ->
 * probe the device (once per output directory) -> run the rest with progress and ETA ->
 * report.  `--plan` prints the cells and their estimated cost instead of running;
 * `--report` only re-renders the report (from the device file the run measured).
 *
 * Models: the built-in base models (the .gguf files in build/models, smallest first: the first is the
 * centre) followed by every --model file, so a GGUF given on the command line joins the
 * model-size axis; --no-builtin-models keeps only the given files.
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

#include <omp.h>

#include "bench/bench_kernels.h"
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

int et_study_probe_device(const char *out_dir, int n_threads, char *err, size_t errlen) {
    char path[1100], tmp[1120];
    snprintf(path, sizeof path, "%s/device.jsonl", out_dir);
    if (access(path, R_OK) == 0) return 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { snprintf(err, errlen, "study: %s: cannot create: %s", tmp, strerror(errno)); return -1; }
    fprintf(stderr, "study: measuring this machine's bandwidth and peak FLOP/s for the report (once, into %s)\n", path);
    et_bench_kernels_opts bo = { .json = true, .quick = true, .only = "f32", .threads = n_threads, .out = f };
    int rc = et_bench_kernels(&bo);
    /* rc 1: some kernel figure above its measured limit: the probe lines are still the
     * machine's measurement (bench kernels says which figure on stderr) */
    if (fclose(f) || rc == 2 || rename(tmp, path)) {
        snprintf(err, errlen, "study: the device probe failed (bench kernels status %d) writing %s", rc, path);
        unlink(tmp);
        return -1;
    }
    return 0;
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
    /* the thread count, fixed once: every graph run sets OpenMP's count process-wide, so a
     * later "0 = all" would mean whatever the last call (e.g. a 1-thread timing) left */
    int threads = o->n_threads > 0 ? o->n_threads : omp_get_max_threads();
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

    /* models: the built-in base models (smallest first), then the --model files */
    const char **models = calloc((size_t)o->n_models + 64, sizeof *models);
    int n_models = 0;
    if (!models) { snprintf(err, errlen, "study: out of memory"); goto done; }
    if (!o->no_builtin && glob("build/models/*.gguf", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, et__cmp_size);
        for (size_t i = 0; i < g.gl_pathc && n_models < 64; i++) models[n_models++] = g.gl_pathv[i];
    }
    for (int m = 0; m < o->n_models; m++) {
        bool dup = false;
        for (int k = 0; k < n_models; k++) dup |= !strcmp(models[k], o->models[m]);
        if (!dup) models[n_models++] = o->models[m];
    }
    if (n_models == 0) {
        snprintf(err, errlen, "study: no models: build the base models into build/models/ (`make models`) "
                 "or give --model M.gguf (repeatable)");
        free(models);
        goto done;
    }
    for (int m = 0; m < n_models; m++)
        if (access(models[m], R_OK)) {
            snprintf(err, errlen, "study: --model %s: cannot read the file", models[m]);
            free(models);
            goto done;
        }
    const char *tnames[8];
    for (int t = 0; t < n_tasks; t++) tnames[t] = tasks[t].name;
    et_study_profile ovr = { 0 };
    ovr.n_users = o->n_users, ovr.n_budgets = o->n_budgets;
    for (int i = 0; i < o->n_budgets && i < 4; i++) ovr.budgets[i] = o->budgets[i];
    int prc = et_study_plan_build_with(&plan, profile, o->grid, tnames, n_tasks, models, n_models, &ovr, err, errlen);
    free(models);   /* the cells copied the paths */
    if (prc) goto done;
    int total_cells = plan.n;
    et_study_plan_shard(&plan, o->shard_k, o->shard_n);

    /* the estimate's inputs: per task its shape, per kind (scored / generated) the speed of
     * one real call on the centre model, measured here */
    double gflops = et__measure_gflops(), spu = 0, spu_gen = 0;
    et_cell_cost_in task_in[8];
    for (int k = 0; k < n_tasks; k++) {
        const et_study_task *t = &tasks[k];
        double qb = 0, ib = 0;
        int nq = 0, ni = 0;
        for (int u = 0; u < t->n_users; u++) {
            for (int i = 0; i < t->users[u].n_test; i++) qb += strlen(t->users[u].test[i].input), nq++;
            for (int i = 0; i < t->users[u].n_profile; i++)
                ib += strlen(t->users[u].profile[i].text) + 16, ni++;   /* + the label and layout */
        }
        /* ~4 bytes per token of English text under a few-thousand-token BPE */
        task_in[k] = (et_cell_cost_in){ 0, nq ? qb / nq / 4 : 100, ni ? ib / ni / 4 : 30,
                                        t->kind == ET_TASK_GENERATION ? 0 : t->n_labels,
                                        t->n_users ? (double)nq / t->n_users : 4, 0, 0, gflops };
        double *slot = t->kind == ET_TASK_GENERATION ? &spu_gen : &spu;
        if (*slot == 0 && plan.n > 0) *slot = et_study_measure_infer(plan.cells[0].model, t, threads);
    }
    double *est = calloc((size_t)plan.n + 1, sizeof *est), est_total = 0;
    if (!est) { snprintf(err, errlen, "study: out of memory"); goto done; }
    for (int i = 0; i < plan.n; i++) {
        int k = 0;
        while (k < n_tasks - 1 && strcmp(tasks[k].name, plan.cells[i].task)) k++;
        et_cell_cost_in in = task_in[k];
        in.model_params = et__file_bytes(plan.cells[i].model) / 4;
        in.sec_per_unit = spu, in.sec_per_gen_unit = spu_gen;
        est[i] = et_cell_estimate_s(&plan.cells[i], &in);
        est_total += est[i];
    }

    if (o->plan_only) {
        printf("# edgetune study plan: profile %s%s, %d of %d cells (shard %d/%d)\n", profile,
               o->grid ? " (full factorial grid)" : "", plan.n, total_cells, o->shard_k, o->shard_n);
        printf("# estimate: learning budgets x users + inference as candidates x tokens x params (params ~ "
               "model file bytes / 4) at the speed of one real call on %s measured here (%s); %d threads\n",
               plan.n ? plan.cells[0].model : "-",
               spu > 0 || spu_gen > 0 ? "scored and generated queries" : "none could run: 2 FLOPs per unit at "
               "the f32 GEMM's measured rate instead, optimistic", threads);
        if (!(spu > 0 || spu_gen > 0)) printf("# f32 GEMM: %.1f GFLOP/s\n", gflops);
        else printf("# measured: %.3g s per scored candidate-token-parameter, %.3g s per generated "
                    "token-parameter (the fastest of repeated calls: a busy machine inflates both)\n", spu, spu_gen);
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

    if (et_study_probe_device(out_dir, threads, err, errlen)) { free(est); goto done; }
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
        et_study_set_device(o->device);
        if (!t || et_study_run_cell(c, t, out_dir, threads, &line, cerr, sizeof cerr)) {
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
