/* `edgetune profile`: profile training steps of a Llama with random weights (the bench
 * config of issue 4, or a tiny one for tests) and write every report of engine/profile.h:
 * the table, profile.jsonl, trace.json, roofline.png and memory.png.
 *
 * It also measures what profiling costs: steps run, interleaved, through a bare loop over the
 * op table (no profiler code at all), through the executor with a NULL profile (the shipped
 * "off" path) and with the profile on, and reports the median step time of each. */
#ifndef ET_BENCH_PROFILE_H
#define ET_BENCH_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct et_profile_run_opts {
    const char *method;       /* "lora" (default), "qlora" (NF4 base + LoRA), "full" */
    const char *base;         /* lora: the base's type (NULL: f32), e.g. "bf16", "q8_0" */
    const char *config;       /* "bench" (default: dim 512, 8 layers, batch 4 x 256) or "tiny" */
    int         steps;        /* timed steps of each kind (default 3), after one warm-up step */
    bool        recompute;    /* activation recomputation in the profiled step */
    int         answer;       /* >0: loss and head on each sequence's last N positions (the
                                 study's workload; bench config: 200-token prompts + N) */
    const char *out_dir;      /* default build/profile */
    const char *limits_path;  /* bench kernels JSON lines; default build/bench/kernels.jsonl */
    int         threads;      /* 0: all */
    int         top;          /* table rows (default 15) */
    FILE       *out;          /* the table and the summary; NULL: stdout */
    const char *device;       /* NULL/"cpu", or "vulkan[:N]"/"auto": the steps run there and the
                                 table has GPU timestamps per node (no overhead comparison) */
} et_profile_run_opts;

typedef struct et_profile_run_result {
    double  bare_ms, off_ms, on_ms;   /* median step times */
    double  bare_min_ms, off_min_ms, on_min_ms;   /* fastest step of each kind */
    double  hook_ns;                  /* begin + end hooks of one node, timed alone */
    int32_t timed_nodes;              /* nodes the executor times (not views or leaves) */
    int32_t nodes;
    size_t  peak_bytes, peak_bytes_other;   /* planned peaks: as run, and with recompute flipped */
    double  step_flops;
    bool    have_limits;
} et_profile_run_result;

/* Returns 0, or -1 with a message in err (bad option, out of memory, unwritable DIR). */
int et_profile_run(const et_profile_run_opts *o, et_profile_run_result *res, char *err, size_t errlen);

#endif
