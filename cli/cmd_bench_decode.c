/* `edgetune bench decode`: option parsing for bench/bench_decode.c (prefill / decode tokens/s,
 * decode's fraction of the measured read bandwidth, time to first token, cold and warm load,
 * KV-cache bytes, sustained vs burst decode). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_decode.h"

static void et__usage(FILE *f) {
    fprintf(f, "usage: edgetune bench decode [--model M.gguf | --synthetic tiny|135m] [--type T] [--device D]\n"
               "         [--pp N] [--tg N] [--ttft-prompt N] [--reps R] [--sustain SEC] [--threads N]\n"
               "         [--json] [--out FILE] [--quick]\n"
               "  Without --model: a random model shaped like SmolLM-135M (--synthetic 135m, q8_0 unless --type)\n"
               "  written to a temporary file.  Defaults: --pp 128 --tg 64 --ttft-prompt 32 --reps 5\n"
               "  --sustain 60 (--quick: 16, 8, 8, 2 and 2 s).  --type with --model compresses it on load.\n"
               "  tgN reports bytes read per token and their fraction of the read bandwidth probed in the\n"
               "  same run; load_cold drops the file from the page cache first (posix_fadvise DONTNEED).\n");
}

static int et__num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "edgetune bench decode: %s '%s' must be a number in [%g, %g]\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

int et_cmd_bench_decode(int argc, char **argv) {
    et_bench_decode_opts o = { .out = stdout };
    const char *outp = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--quick")) o.quick = true;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { et__usage(stdout); return 0; }
        else if (!v) { fprintf(stderr, "edgetune bench decode: unknown or incomplete option '%s'\n", a); et__usage(stderr); return 2; }
        else if (!strcmp(a, "--model")) o.model = argv[++i];
        else if (!strcmp(a, "--synthetic")) o.synthetic = argv[++i];
        else if (!strcmp(a, "--type")) o.type = argv[++i];
        else if (!strcmp(a, "--device")) o.device = argv[++i];
        else if (!strcmp(a, "--out")) outp = argv[++i];
        else if (!strcmp(a, "--pp")) { if (et__num(a, argv[++i], 1, 1 << 20, &x)) return 2; o.pp = (int)x; }
        else if (!strcmp(a, "--tg")) { if (et__num(a, argv[++i], 1, 1 << 20, &x)) return 2; o.tg = (int)x; }
        else if (!strcmp(a, "--ttft-prompt")) { if (et__num(a, argv[++i], 1, 1 << 20, &x)) return 2; o.ttft_prompt = (int)x; }
        else if (!strcmp(a, "--reps")) { if (et__num(a, argv[++i], 1, 1000, &x)) return 2; o.reps = (int)x; }
        else if (!strcmp(a, "--sustain")) { if (et__num(a, argv[++i], 0.001, 86400, &x)) return 2; o.sustain_s = x; }
        else if (!strcmp(a, "--threads")) { if (et__num(a, argv[++i], 1, 1024, &x)) return 2; o.threads = (int)x; }
        else { fprintf(stderr, "edgetune bench decode: unknown option '%s'\n", a); et__usage(stderr); return 2; }
    }
    if (o.model && o.synthetic) {
        fprintf(stderr, "edgetune bench decode: --model and --synthetic exclude each other\n");
        return 2;
    }
    if (outp && !(o.out = fopen(outp, "w"))) { fprintf(stderr, "edgetune bench decode: cannot write %s\n", outp); return 2; }
    int rc = et_bench_decode(&o);
    if (outp) fclose(o.out);
    return rc;
}
