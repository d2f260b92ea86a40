/* Vulkan micro-benchmark and autotuner (`edgetune bench vulkan [--autotune]`).  See
 * bench/bench_vulkan.c. */
#ifndef ET_BENCH_VULKAN_H
#define ET_BENCH_VULKAN_H

#include <stdbool.h>
#include <stdio.h>

typedef struct et_bench_vulkan_opts {
    bool  json;       /* JSON lines instead of the human table */
    bool  quick;      /* small shapes, few repeats: a smoke test (CI on lavapipe) */
    bool  autotune;   /* time the tile/workgroup candidates first and store the best */
    const char *only; /* comma-separated weight type names (NULL: all) */
    int   device;     /* -1: EDGETUNE_VK_DEVICE or the best device */
    FILE *out;
} et_bench_vulkan_opts;

/* 0: ran.  2: could not run (no Vulkan, allocation, a failed dispatch); message on stderr. */
int et_bench_vulkan(const et_bench_vulkan_opts *o);

#endif
