/* Kernel micro-benchmark (`edgetune bench kernels`, `make bench`) and the regression check
 * between two of its runs (`edgetune bench compare`).  See bench/bench_kernels.c. */
#ifndef ET_BENCH_KERNELS_H
#define ET_BENCH_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct et_bench_kernels_opts {
    bool  json;       /* JSON lines instead of the human table */
    int   threads;    /* kernel threads (0: all, omp_get_max_threads()) */
    bool  quick;      /* small shapes, few repeats: a smoke test */
    const char *only; /* comma-separated type names to run (NULL: all) */
    bool  cpu_time;   /* time by process CPU time / threads instead of the wall clock */
    FILE *out;
} et_bench_kernels_opts;

/* 0: ran, every fraction of its limit ≤ 1.0.  1: some frac_limit > 1.0 (a probe or kernel
 * bug).  2: could not run (allocation); a message went to stderr. */
int et_bench_kernels(const et_bench_kernels_opts *o);

/* The streaming read-bandwidth probe alone (the limit decode is judged against): the best
 * sustained GB/s of its access patterns over a 1 GiB buffer, on o->threads threads (0: all),
 * its probe lines written to o->out as et_bench_kernels writes them (JSON with o->json).
 * 0 when the buffer cannot be allocated. */
double et_bench_read_bw(const et_bench_kernels_opts *o);
/* Bytes of last-level (L3) cache, summed over the distinct caches sysfs lists (0: none). */
size_t et_bench_llc_bytes(void);

/* Compares median_s of matching lines (bench, test, type, M, K, N, threads, isa) of two JSONL files;
 * prints every pair and flags those slower by more than `threshold` (0.05 = 5%).
 * Returns the number of regressions, or -1 with a message (file, line) on bad input. */
int et_bench_compare(const char *old_path, const char *new_path, double threshold, FILE *out);

#endif
