/* `edgetune profile`: profile training steps of the bench (or tiny) Llama config and write
 * the reports (bench/bench_profile.h does the work; this file parses the options). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_profile.h"
#include "cli.h"

static int et__usage(FILE *f, int rc) {
    fprintf(f, "usage: edgetune profile [--method lora|qlora|full] [--base TYPE] [--config bench|tiny|pretrain-tiny|pretrain-small|pretrain-medium] [--steps N] [--recompute]\n"
               "                        [--answer N] [--out DIR] [--threads N] [--top N] [--limits FILE] [--device cpu|vulkan[:N]|auto]\n"
               "  Profiles N training steps (default 3, after a warm-up) of a Llama with random weights and writes\n"
               "  DIR/profile.jsonl, trace.json, roofline.png and memory.png (DIR default build/profile).\n"
               "  --base: LoRA over a base of that type (f32 default; bf16, q8_0, q4_0, q4_k, nf4, ...);\n"
               "  bf16 is the bf16-compute setting: the head in bf16 too.\n"
               "  --answer: the study's workload: loss and head on each sequence's last N positions only\n"
               "  (with --config bench, sequences of a 200-token prompt and N answer tokens).\n"
               "  --limits: `edgetune bench kernels --json` results for the roofline (default\n"
               "  build/bench/kernels.jsonl, written by `make bench`).\n"
               "  --device: run the steps on a Vulkan device; node times are then its GPU timestamps.\n");
    return rc;
}

static int et__int_arg(const char *s, int lo, int hi, const char *name, int *v) {
    char *end;
    long x = strtol(s, &end, 10);
    if (end == s || *end || x < lo || x > hi) {
        fprintf(stderr, "edgetune profile: %s '%s' must be an integer in %d..%d\n", name, s, lo, hi);
        return -1;
    }
    *v = (int)x;
    return 0;
}

int et_cmd_profile(int argc, char **argv) {
    et_profile_run_opts o = { .steps = 3 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return et__usage(stdout, 0);
        if (!strcmp(a, "--recompute")) { o.recompute = true; continue; }
        if (!v) return et__usage(stderr, 2);
        i++;
        if (!strcmp(a, "--method")) o.method = v;
        else if (!strcmp(a, "--base")) o.base = v;
        else if (!strcmp(a, "--config")) o.config = v;
        else if (!strcmp(a, "--out")) o.out_dir = v;
        else if (!strcmp(a, "--limits")) o.limits_path = v;
        else if (!strcmp(a, "--device")) o.device = v;
        else if (!strcmp(a, "--steps")) { if (et__int_arg(v, 1, 1000, a, &o.steps)) return 2; }
        else if (!strcmp(a, "--threads")) { if (et__int_arg(v, 0, 1024, a, &o.threads)) return 2; }
        else if (!strcmp(a, "--answer")) { if (et__int_arg(v, 1, 100000, a, &o.answer)) return 2; }
        else if (!strcmp(a, "--top")) { if (et__int_arg(v, 1, 1000, a, &o.top)) return 2; }
        else return et__usage(stderr, 2);
    }
    char err[512];
    et_profile_run_result res;
    if (et_profile_run(&o, &res, err, sizeof err) != 0) {
        fprintf(stderr, "edgetune %s\n", err);
        return 1;
    }
    return 0;
}
