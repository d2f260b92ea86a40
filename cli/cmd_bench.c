/* `edgetune bench`: micro-benchmarks (bench/bench_kernels.c).
 *   edgetune bench kernels [--json] [--threads N] [--quick] [--types q4_0,nf4] [--out FILE]
 *                          [--cpu-time]
 *   edgetune bench compare OLD.jsonl NEW.jsonl [--threshold 5%]
 *   edgetune bench decode ...   (cli/cmd_bench_decode.c, bench/bench_decode.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "bench/bench_kernels.h"
#include "bench/bench_vulkan.h"

static void et__bench_usage(FILE *f) {
    fprintf(f, "usage: edgetune bench kernels [--json] [--threads N] [--quick] [--types T1,T2] [--out FILE]\n"
               "                             [--cpu-time]   (time = process CPU time / threads: shared machines)\n"
               "       edgetune bench compare OLD.jsonl NEW.jsonl [--threshold 5%%]\n"
               "       edgetune bench train [--json] [--quick]   (see edgetune bench train --help)\n"
               "       edgetune bench vulkan [--json] [--quick] [--autotune] [--types T1,T2,train]\n"
               "       edgetune bench decode [--model M.gguf] [--json] [--quick]   (see edgetune bench decode --help)\n"
               "kernels: probes the machine (read bandwidth, FMA/bf16/int8 peaks), then times matvec,\n"
               "         matmul and dX per weight type against those limits and OpenBLAS.\n"
               "         Exit 1 if a figure exceeds its measured limit.\n"
               "compare: matches lines of two --json runs; exit 1 if any median is slower by more\n"
               "         than the threshold.\n");
}

static int et__parse_int(const char *s, int lo, int hi, int *v) {
    char *end;
    long x = strtol(s, &end, 10);
    if (!*s || *end || x < lo || x > hi) return -1;
    *v = (int)x;
    return 0;
}

int et_cmd_bench_train(int argc, char **argv);   /* cli/cmd_bench_train.c */
int et_cmd_bench_decode(int argc, char **argv);  /* cli/cmd_bench_decode.c */

int et_cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        et__bench_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return et_cmd_bench_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode")) return et_cmd_bench_decode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "kernels")) {
        et_bench_kernels_opts o = { .out = stdout };
        const char *outp = NULL;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--json")) o.json = true;
            else if (!strcmp(argv[i], "--quick")) o.quick = true;
            else if (!strcmp(argv[i], "--cpu-time")) o.cpu_time = true;
            else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
                if (et__parse_int(argv[++i], 1, 1024, &o.threads)) {
                    fprintf(stderr, "edgetune bench: --threads must be 1..1024, got '%s'\n", argv[i]);
                    return 2;
                }
            } else if (!strcmp(argv[i], "--types") && i + 1 < argc) o.only = argv[++i];
            else if (!strcmp(argv[i], "--out") && i + 1 < argc) outp = argv[++i];
            else {
                fprintf(stderr, "edgetune bench kernels: unknown or incomplete option '%s'\n", argv[i]);
                et__bench_usage(stderr);
                return 2;
            }
        }
        if (outp && !(o.out = fopen(outp, "w"))) {
            fprintf(stderr, "edgetune bench: cannot write %s\n", outp);
            return 2;
        }
        int rc = et_bench_kernels(&o);
        if (outp) fclose(o.out);
        return rc;
    }
    if (!strcmp(argv[1], "compare")) {
        const char *paths[2] = { NULL, NULL };
        int np = 0;
        double thr = 0.05;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--threshold") && i + 1 < argc) {
                char *end;
                thr = strtod(argv[++i], &end);
                if (end == argv[i] || (*end && strcmp(end, "%")) || thr < 0 || thr > 1000) {
                    fprintf(stderr, "edgetune bench compare: bad --threshold '%s' (e.g. 5%%)\n", argv[i]);
                    return 2;
                }
                thr /= 100.0;
            } else if (np < 2 && argv[i][0] != '-') paths[np++] = argv[i];
            else {
                fprintf(stderr, "edgetune bench compare: unexpected argument '%s'\n", argv[i]);
                return 2;
            }
        }
        if (np != 2) { et__bench_usage(stderr); return 2; }
        int r = et_bench_compare(paths[0], paths[1], thr, stdout);
        return r < 0 ? 2 : r > 0 ? 1 : 0;
    }
    if (!strcmp(argv[1], "vulkan")) {
        et_bench_vulkan_opts o = { .out = stdout, .device = -1 };
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--json")) o.json = true;
            else if (!strcmp(argv[i], "--quick")) o.quick = true;
            else if (!strcmp(argv[i], "--autotune")) o.autotune = true;
            else if (!strcmp(argv[i], "--types") && i + 1 < argc) o.only = argv[++i];
            else { fprintf(stderr, "edgetune bench vulkan: unknown or incomplete option '%s'\n", argv[i]); return 2; }
        }
        return et_bench_vulkan(&o);
    }
    fprintf(stderr, "edgetune bench: unknown benchmark '%s'\n", argv[1]);
    et__bench_usage(stderr);
    return 2;
}
