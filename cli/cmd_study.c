/* edgetune study: run the personalization study (bench/study/), print its plan, re-render its
 * report, or merge result files from shards.  Argument parsing only; the work is
 * et_study_main / et_results_merge. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/study/study.h"
#include "cli.h"

static void et__study_usage(FILE *f) {
    fprintf(f,
        "usage: edgetune study [--profile quick|full] [--grid] [--plan] [--report]\n"
        "                      [--lamp DIR] [--data DIR] [--model M.gguf ...] [--no-builtin-models]\n"
        "                      [--out DIR]\n"
        "                      [--shard I/N] [--threads N] [--phone-gflops P --phone-gbps B]\n"
        "                      [--tasks a,b] [--users N] [--budgets s1,s2,s3] [--device cpu|vulkan[:N]]\n"
        "       edgetune study merge OUT.jsonl IN.jsonl ...\n\n"
        "  --profile   quick (default: one centre task, 10 users, 3 seeds, budgets 1/3/9 s) or full\n"
        "  --grid      the full factorial grid instead of the designed plan (very large)\n"
        "  --plan      print the cells and their estimated hours, run nothing\n"
        "  --report    only re-render DIR/report.md and figures from DIR/results.jsonl\n"
        "  --lamp DIR  a LaMP task directory (dev_questions.json + dev_outputs.json)\n"
        "  --data DIR  built-in tasks (default build/data, from `make data`)\n"
        "  --model F   a GGUF model added to the built-in ones (build/models, smallest first: the\n"
        "              first is the centre); repeatable.  --no-builtin-models: only the --model files\n"
        "  --out DIR   results.jsonl, report.md and figures (default build/study)\n"
        "  --shard I/N run cells i with i %% N == I (0-based), e.g. one per machine; then merge\n"
        "  --tasks a,b only these built-in tasks;  --users N  users per cell;  --budgets 5,15,45\n"
        "              learning budgets in s (first = centre): small end-to-end runs\n");
}

int et_cmd_study(int argc, char **argv) {
    char err[1024];
    if (argc >= 2 && !strcmp(argv[1], "merge")) {
        if (argc < 4) { et__study_usage(stderr); return 2; }
        int n = et_results_merge(argv[2], (const char *const *)argv + 3, argc - 3, err, sizeof err);
        if (n < 0) { fprintf(stderr, "edgetune study merge: %s\n", err); return 1; }
        printf("%d cells in %s\n", n, argv[2]);
        return 0;
    }
    et_study_opts o;
    memset(&o, 0, sizeof o);
    const char **models = calloc((size_t)argc + 1, sizeof *models);
    if (!models) return 1;
    o.models = models;
    o.shard_n = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED() do { if (!v) { fprintf(stderr, "edgetune study: %s needs a value\n", a); free(models); return 2; } i++; } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { et__study_usage(stdout); free(models); return 0; }
        else if (!strcmp(a, "--profile")) { NEED(); o.profile = v; }
        else if (!strcmp(a, "--grid")) o.grid = 1;
        else if (!strcmp(a, "--plan")) o.plan_only = 1;
        else if (!strcmp(a, "--report")) o.report_only = 1;
        else if (!strcmp(a, "--lamp")) { NEED(); o.lamp_dir = v; }
        else if (!strcmp(a, "--data")) { NEED(); o.data_dir = v; }
        else if (!strcmp(a, "--model")) { NEED(); models[o.n_models++] = v; }
        else if (!strcmp(a, "--no-builtin-models")) o.no_builtin = 1;
        else if (!strcmp(a, "--out")) { NEED(); o.out_dir = v; }
        else if (!strcmp(a, "--threads")) { NEED(); o.n_threads = atoi(v); }
        else if (!strcmp(a, "--device")) { NEED(); o.device = v; }   /* et_lm_opts.device */
        else if (!strcmp(a, "--phone-gflops")) { NEED(); o.phone_gflops = atof(v); }
        else if (!strcmp(a, "--phone-gbps")) { NEED(); o.phone_gbps = atof(v); }
        else if (!strcmp(a, "--tasks")) { NEED(); o.tasks = v; }
        else if (!strcmp(a, "--users")) {
            NEED();
            o.n_users = atoi(v);
            if (o.n_users < 1) { fprintf(stderr, "edgetune study: --users wants a positive count, got \"%s\"\n", v); free(models); return 2; }
        } else if (!strcmp(a, "--budgets")) {
            NEED();
            char *end;
            const char *q = v;
            o.n_budgets = 0;
            while (*q && o.n_budgets < 4) {
                double b = strtod(q, &end);
                if (end == q || !(b > 0)) { fprintf(stderr, "edgetune study: --budgets wants seconds like 5,15,45, got \"%s\"\n", v); free(models); return 2; }
                o.budgets[o.n_budgets++] = b;
                q = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') { fprintf(stderr, "edgetune study: --budgets: bad list \"%s\"\n", v); free(models); return 2; }
            }
        }
        else if (!strcmp(a, "--shard")) {
            NEED();
            int k, n;
            char extra;
            if (sscanf(v, "%d/%d%c", &k, &n, &extra) != 2 || n < 1 || k < 0 || k >= n) {
                fprintf(stderr, "edgetune study: --shard wants I/N with 0 <= I < N, got \"%s\"\n", v);
                free(models);
                return 2;
            }
            o.shard_k = k, o.shard_n = n;
        } else {
            fprintf(stderr, "edgetune study: unknown option \"%s\"\n\n", a);
            et__study_usage(stderr);
            free(models);
            return 2;
        }
#undef NEED
    }
    if (o.profile && strcmp(o.profile, "quick") && strcmp(o.profile, "full")) {
        fprintf(stderr, "edgetune study: --profile must be quick or full, got \"%s\"\n", o.profile);
        free(models);
        return 2;
    }
    int rc = et_study_main(&o, err, sizeof err);
    if (rc) fprintf(stderr, "edgetune study: %s\n", err);
    free(models);
    return rc ? 1 : 0;
}
