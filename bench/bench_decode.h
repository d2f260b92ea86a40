/* `edgetune bench decode`: a model's inference speed as llama-bench reports it (prefill
 * tokens/s "pp N", decode tokens/s "tg N"), decode as a fraction of the read bandwidth
 * measured in the same run, and what phone users ask: time to first token, cold and warm
 * load time, KV-cache bytes, sustained against burst decode speed.  See bench/bench_decode.c. */
#ifndef ET_BENCH_DECODE_H
#define ET_BENCH_DECODE_H

#include <stdbool.h>
#include <stdio.h>

typedef struct et_bench_decode_opts {
    const char *model;      /* a GGUF model, or NULL: build the synthetic one named below */
    const char *synthetic;  /* "tiny" | "135m" (NULL: "135m"); random weights in a temp file */
    const char *type;       /* weight type: synthetic models are written in it (NULL: q8_0);
                               a --model is compressed to it on load (NULL: as stored) */
    const char *device;     /* et_lm_opts.device (NULL: cpu) */
    int    pp, tg;          /* prompt tokens of the prefill test, generated tokens of decode */
    int    ttft_prompt;     /* prompt tokens for the time-to-first-token tests */
    int    reps;            /* repetitions of each timed test (after one warm-up) */
    double sustain_s;       /* length of the sustained-decode run */
    int    threads;         /* 0: all */
    bool   json, quick;     /* quick: small defaults for a smoke test (every test still runs) */
    FILE  *out;
} et_bench_decode_opts;

/* 0: ran; 2: could not run (bad option, model, memory): a message went to stderr. */
int et_bench_decode(const et_bench_decode_opts *o);

#endif
