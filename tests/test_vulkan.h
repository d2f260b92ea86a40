/* Shared by the Vulkan tests (tests/test_vulkan_*.c): opening the device under normal and
 * mobile limits, buffers with guard zones, and error measures.
 *
 * A test that needs a Vulkan device FAILS when none opens (lavapipe is a test dependency,
 * tools/deps-test.txt), unless EDGETUNE_NO_VULKAN_TESTS=1 is set explicitly: then it prints a
 * notice and passes.
 *
 * Guard zones: every output buffer is allocated GUARD floats longer than the op needs and the
 * extra floats are filled with a sentinel; after the op they must still hold it (a shader that
 * writes past its range fails the test).  Inputs are re-read after the op and must be
 * unchanged.
 */
#ifndef ET_TEST_VULKAN_H
#define ET_TEST_VULKAN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "engine/vulkan/vk.h"
#include "engine/vulkan/vk_ops.h"

/* Under `make asan`: lavapipe's JIT-compiled code reallocs a few hundred bytes per device that it
 * never frees, and the stack ends in that unnamed code, so the only frame a suppression can
 * name is realloc itself.  Leaks through realloc are therefore not reported in the Vulkan
 * tests; malloc/calloc leaks (all of edgetune's buffers, contexts, pipelines) still are. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:realloc\n"; }

#define VKT_GUARD 64
#define VKT_SENTINEL 1234567.0f

/* Every Vulkan test binary keeps its pipeline cache under $BUILD/vkcache (not the user's
 * ~/.cache) and uses the default tiles, not whatever a developer's `bench vulkan --autotune`
 * stored (tests that need otherwise change these in main). */
__attribute__((constructor)) static void vkt_env(void) {
    const char *b = getenv("BUILD");
    char dir[300];
    snprintf(dir, sizeof dir, "%s/vkcache", b && *b ? b : "build");
    setenv("XDG_CACHE_HOME", dir, 1);
    setenv("EDGETUNE_VK_NO_TUNE", "1", 1);
}

static et_vk_ctx *vkt_ctx;     /* the context of the current pass */
static const char *vkt_pass = "default";

/* Opens the device with EDGETUNE_VK_LIMITS set to `limits` ("" = the device's own). */
static inline et_vk_ctx *vkt_open(const char *limits) {
    if (limits && *limits) setenv("EDGETUNE_VK_LIMITS", limits, 1);
    else unsetenv("EDGETUNE_VK_LIMITS");
    char err[512];
    et_vk_ctx *c = et_vk_open(-1, err, sizeof err);
    if (!c) fprintf(stderr, "et_vk_open (limits '%s'): %s\n", limits ? limits : "", err);
    return c;
}

/* Returns 1 when the whole binary should pass without running (explicit opt-out). */
static inline int vkt_opted_out(void) {
    const char *e = getenv("EDGETUNE_NO_VULKAN_TESTS");
    if (e && !strcmp(e, "1")) {
        printf("NOTICE: EDGETUNE_NO_VULKAN_TESTS=1: Vulkan tests not run\nPASS vulkan_opt_out\n");
        return 1;
    }
    return 0;
}

/* A buffer of n floats + guard, uploaded from host (NULL: zeros), guard set to the sentinel. */
static inline et_vk_buf *vkt_buf(const float *host, int64_t n) {
    et_vk_buf *b = et_vk_buf_alloc_bytes(vkt_ctx, (uint64_t)(n + VKT_GUARD) * 4);
    if (!b) return NULL;
    float *tmp = malloc((size_t)(n + VKT_GUARD) * 4);
    for (int64_t i = 0; i < n; i++) tmp[i] = host ? host[i] : 0.0f;
    for (int64_t i = n; i < n + VKT_GUARD; i++) tmp[i] = VKT_SENTINEL;
    int rc = et_vk_buf_upload(vkt_ctx, b, 0, tmp, (uint64_t)(n + VKT_GUARD) * 4);
    free(tmp);
    if (rc) { et_vk_buf_free(vkt_ctx, b); return NULL; }
    return b;
}
static inline et_vk_buf *vkt_ibuf(const int32_t *host, int64_t n) {
    return vkt_buf((const float *)host, n);   /* raw 32-bit words */
}

/* Download n floats; CHECKs the guard zone and NaN/Inf; returns malloc'ed data. */
static inline float *vkt_get(et_vk_buf *b, int64_t n, const char *what) {
    float *tmp = malloc((size_t)(n + VKT_GUARD) * 4);
    int rc = et_vk_buf_download(vkt_ctx, b, 0, tmp, (uint64_t)(n + VKT_GUARD) * 4);
    CHECK(rc == 0, "%s: download failed: %s", what, et_vk_error(vkt_ctx));
    int bad_guard = 0, nonfinite = 0;
    for (int64_t i = n; i < n + VKT_GUARD; i++) bad_guard += tmp[i] != VKT_SENTINEL;
    for (int64_t i = 0; i < n; i++) nonfinite += !isfinite(tmp[i]);
    CHECK(bad_guard == 0, "[%s] %s: %d guard floats overwritten", vkt_pass, what, bad_guard);
    CHECK(nonfinite == 0, "[%s] %s: %d NaN/Inf values", vkt_pass, what, nonfinite);
    return tmp;
}

/* ||got - want|| / max(||want||, tiny), in double. */
static inline double vkt_nerr(const float *got, const double *want, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        num += d * d;
        den += want[i] * want[i];
    }
    return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1.0);
}

static inline int vkt_submit(const char *what) {
    int rc = et_vk_submit(vkt_ctx);
    CHECK(rc == 0, "[%s] %s: submit: %s", vkt_pass, what, et_vk_error(vkt_ctx));
    return rc;
}

#endif
