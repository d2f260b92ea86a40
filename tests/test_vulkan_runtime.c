/* The Vulkan runtime: loader, device choice, limits, buffers, barriers, pipeline cache,
 * timestamps — everything below the shaders.
 *
 *  - no driver: with EDGETUNE_VK_LOADER pointing at a missing library, et_vk_available() is
 *    false with a reason naming the library, et_vk_open fails cleanly; `edgetune devices` is
 *    checked the same way by tests/test_vulkan_cli.sh.
 *  - EDGETUNE_VK_DEVICE out of range and unknown EDGETUNE_VK_LIMITS are errors naming the value.
 *  - mobile clamp: exactly the documented limits.
 *  - buffers: bytes written across chunk boundaries (and the tail chunk) read back identically,
 *    through mapped memory and through staging copies (EDGETUNE_VK_STAGING=1).
 *  - barriers: independent dispatches get none, a read-after-write gets one, and the result of
 *    a 200-dispatch dependent chain in one submit is exact (x+1 two hundred times).
 *  - pipeline cache: a file appears under $XDG_CACHE_HOME/edgetune after close; a corrupt cache
 *    file is ignored, not fatal.
 *  - timestamps: one timing per dispatch, labelled, non-negative.
 *  - views (et_vk_buf_view): a dispatch on two windows of one buffer changes only the output
 *    window; misaligned and out-of-range views are refused.
 */
#include <sys/stat.h>
#include "test_vulkan.h"

static char cache_dir[200];

static void test_no_driver(void) {
    /* The loader opens the library once per process: run the no-driver check in a child. */
    char cmd[1024];
    const char *self = getenv("VKT_SELF");
    CHECK(self != NULL, "VKT_SELF not set");
    if (!self) return;
    snprintf(cmd, sizeof cmd, "EDGETUNE_VK_LOADER=/nonexistent/libvulkan.so.1 %s --no-driver",
             self);
    int rc = system(cmd);
    CHECK(rc == 0, "no-driver child failed (status %d)", rc);
}

static int no_driver_child(void) {
    char why[256] = "";
    bool ok = et_vk_available(why, sizeof why);
    char err[256] = "";
    et_vk_ctx *c = et_vk_open(-1, err, sizeof err);
    int good = !ok && strstr(why, "/nonexistent/libvulkan.so.1") && !c &&
               strstr(err, "/nonexistent/libvulkan.so.1");
    fprintf(stderr, "no-driver: available=%d why='%s' open err='%s'\n", ok, why, err);
    return good ? 0 : 1;
}

static void test_env_errors(void) {
    char err[200];
    setenv("EDGETUNE_VK_DEVICE", "99", 1);
    et_vk_ctx *c = et_vk_open(-1, err, sizeof err);
    CHECK(!c && strstr(err, "EDGETUNE_VK_DEVICE='99'"), "device 99: %s", err);
    if (c) et_vk_close(c);
    setenv("EDGETUNE_VK_DEVICE", "abc", 1);
    c = et_vk_open(-1, err, sizeof err);
    CHECK(!c && strstr(err, "'abc'"), "device abc: %s", err);
    if (c) et_vk_close(c);
    unsetenv("EDGETUNE_VK_DEVICE");
    setenv("EDGETUNE_VK_LIMITS", "tablet", 1);
    c = et_vk_open(-1, err, sizeof err);
    CHECK(!c && strstr(err, "'tablet'"), "limits tablet: %s", err);
    if (c) et_vk_close(c);
    setenv("EDGETUNE_VK_LIMITS", "mobile:12", 1);
    c = et_vk_open(-1, err, sizeof err);
    CHECK(!c && strstr(err, "mobile:12"), "limits mobile:12: %s", err);
    if (c) et_vk_close(c);
    unsetenv("EDGETUNE_VK_LIMITS");
}

static void test_mobile_limits(void) {
    et_vk_ctx *c = vkt_open("mobile");
    CHECK(c != NULL, "open mobile");
    if (!c) return;
    const et_vk_limits *l = et_vk_get_limits(c);
    CHECK(l->mobile && l->max_binding_bytes == (1u << 20) && l->max_shared_bytes <= 16384 &&
          l->max_invocations <= 256 && !l->fp16 && !l->int8 && !l->subgroups &&
          l->subgroup_size == 0, "mobile limits: binding %llu shared %u inv %u fp16 %d int8 %d sg %d",
          (unsigned long long)l->max_binding_bytes, l->max_shared_bytes, l->max_invocations,
          l->fp16, l->int8, l->subgroups);
    const et_vk_tuning *t = et_vk_tuning_get(c);
    CHECK(t->mm_ts * t->mm_ts <= 256 && t->wg <= 256, "mobile tuning exceeds 256 invocations");
    et_vk_close(c);
}

/* Upload a byte pattern spanning every chunk and the tail; read it back in odd pieces. */
static void check_roundtrip(et_vk_ctx *c, const char *what) {
    const uint64_t rows = 700, row_bytes = 34 * 8, tail = 1000;   /* q8_0-like rows */
    et_vk_buf *b = et_vk_buf_alloc(c, rows, row_bytes, tail);
    CHECK(b != NULL, "%s: alloc: %s", what, et_vk_error(c));
    if (!b) return;
    uint64_t n = et_vk_buf_size(b);
    CHECK(n == rows * row_bytes + tail, "%s: size %llu", what, (unsigned long long)n);
    CHECK(et_vk_buf_nchunks(b) >= 3 && et_vk_buf_has_tail(b), "%s: %u chunks", what,
          et_vk_buf_nchunks(b));
    uint8_t *src = malloc(n), *dst = calloc(1, n);
    for (uint64_t i = 0; i < n; i++) src[i] = (uint8_t)(i * 131 + (i >> 8));
    CHECK(et_vk_buf_upload(c, b, 0, src, n) == 0, "%s: upload: %s", what, et_vk_error(c));
    for (uint64_t off = 0; off < n;) {        /* pieces of 9999 bytes cross every boundary */
        uint64_t m = n - off < 9999 ? n - off : 9999;
        CHECK(et_vk_buf_download(c, b, off, dst + off, m) == 0, "%s: download", what);
        off += m;
    }
    CHECK(!memcmp(src, dst, n), "%s: round trip differs", what);
    CHECK(et_vk_buf_download(c, b, n - 4, dst, 8) != 0 && strstr(et_vk_error(c), "outside"),
          "%s: out-of-range download accepted", what);
    free(src); free(dst);
    et_vk_buf_free(c, b);
}

static void test_buffers(void) {
    et_vk_ctx *c = vkt_open("mobile:65536");
    CHECK(c != NULL, "open");
    if (c) { check_roundtrip(c, "mapped"); et_vk_close(c); }
    setenv("EDGETUNE_VK_STAGING", "1", 1);
    c = vkt_open("mobile:65536");
    unsetenv("EDGETUNE_VK_STAGING");
    CHECK(c != NULL, "open staging");
    if (!c) return;
    CHECK(!et_vk_get_limits(c)->unified_memory, "EDGETUNE_VK_STAGING=1 ignored");
    check_roundtrip(c, "staging");
    /* compute through staged buffers too */
    vkt_ctx = c;
    float x[100];
    for (int i = 0; i < 100; i++) x[i] = (float)i;
    et_vk_buf *a = vkt_buf(x, 100), *o = vkt_buf(NULL, 100);
    int rc = et_vk_begin(c);
    rc = rc ? rc : et_vk_op_ew(c, ET_VK_EW_SCALE, a, NULL, o, 100, 100, 2.0f);
    CHECK(rc == 0 && et_vk_submit(c) == 0, "staged compute: %s", et_vk_error(c));
    float *g = vkt_get(o, 100, "staged out");
    int bad = 0;
    for (int i = 0; i < 100; i++) bad += g[i] != 2.0f * i;
    CHECK(bad == 0, "staged compute: %d wrong", bad);
    free(g);
    et_vk_buf_free(c, a); et_vk_buf_free(c, o);
    et_vk_close(c);
}

static void test_barriers_and_timestamps(void) {
    vkt_ctx = vkt_open("");
    CHECK(vkt_ctx != NULL, "open");
    if (!vkt_ctx) return;
    enum { N = 4096, CHAIN = 200 };
    float *x = calloc(N, 4);
    float one = 1.0f;
    et_vk_buf *a = vkt_buf(x, N), *b = vkt_buf(x, N), *c1 = vkt_buf(NULL, N);
    et_vk_buf *c2 = vkt_buf(NULL, N), *bone = vkt_buf(&one, 1);
    /* two independent dispatches reading a and writing different outputs: no barrier */
    int rc = et_vk_begin(vkt_ctx);
    rc = rc ? rc : et_vk_op_ew(vkt_ctx, ET_VK_EW_SCALE, a, NULL, c1, N, N, 2.0f);
    rc = rc ? rc : et_vk_op_ew(vkt_ctx, ET_VK_EW_SCALE, a, NULL, c2, N, N, 3.0f);
    CHECK(rc == 0 && et_vk_submit(vkt_ctx) == 0, "independent: %s", et_vk_error(vkt_ctx));
    CHECK(et_vk_barrier_count(vkt_ctx) == 0, "independent dispatches got %u barriers",
          et_vk_barrier_count(vkt_ctx));
    const et_vk_timing *tm;
    int nt = et_vk_timings(vkt_ctx, &tm);
    CHECK(nt == 2 && !strcmp(tm[0].label, "eltwise") && tm[0].ns >= 0 && tm[1].ns >= 0,
          "timings: %d", nt);
    /* a chain a -> b -> a ... of x+1: every step depends on the last */
    rc = et_vk_begin(vkt_ctx);
    for (int i = 0; i < CHAIN && !rc; i++)
        rc = et_vk_op_ew(vkt_ctx, ET_VK_EW_ADD, i % 2 ? b : a, bone, i % 2 ? a : b, N, 1, 0);
    CHECK(rc == 0 && et_vk_submit(vkt_ctx) == 0, "chain: %s", et_vk_error(vkt_ctx));
    CHECK(et_vk_barrier_count(vkt_ctx) == CHAIN - 1, "chain of %d got %u barriers", CHAIN,
          et_vk_barrier_count(vkt_ctx));
    nt = et_vk_timings(vkt_ctx, &tm);
    CHECK(nt == CHAIN, "chain timings: %d", nt);
    float *g = vkt_get(CHAIN % 2 ? b : a, N, "chain result");
    int bad = 0;
    for (int i = 0; i < N; i++) bad += g[i] != (float)CHAIN;
    CHECK(bad == 0, "chain: %d of %d values wrong (g[0]=%g)", bad, N, g[0]);
    free(g); free(x);
    et_vk_buf *bs[] = { a, b, c1, c2, bone };
    for (int i = 0; i < 5; i++) et_vk_buf_free(vkt_ctx, bs[i]);
    /* recording misuse is an error, not a crash */
    CHECK(et_vk_submit(vkt_ctx) != 0, "submit without begin accepted");
    CHECK(et_vk_dispatch(vkt_ctx, "eltwise", NULL, 0, NULL, 0, NULL, 0, 1, 1, 1, NULL) != 0,
          "dispatch outside a recording accepted");
    rc = et_vk_begin(vkt_ctx);
    CHECK(et_vk_dispatch(vkt_ctx, "no_such_shader", NULL, 0, NULL, 0, NULL, 0, 1, 1, 1, NULL)
          != 0 && strstr(et_vk_error(vkt_ctx), "no_such_shader"), "unknown shader accepted");
    if (!rc) et_vk_submit(vkt_ctx);
    et_vk_close(vkt_ctx);
}

/* Views: a dispatch on a window of a buffer touches only that window; misaligned or
 * out-of-range views are refused with a message. */
static void test_views(void) {
    vkt_ctx = vkt_open("");
    CHECK(vkt_ctx != NULL, "open");
    if (!vkt_ctx) return;
    enum { N = 1024 };
    float x[N];
    for (int i = 0; i < N; i++) x[i] = (float)i;
    et_vk_buf *a = vkt_buf(x, N);
    uint64_t al = et_vk_info(vkt_ctx)->min_storage_align;
    uint64_t off = ((256 * 4 + al - 1) / al) * al;   /* ~float 256, aligned */
    et_vk_buf *in = et_vk_buf_view(vkt_ctx, a, off, 100 * 4);
    et_vk_buf *out = et_vk_buf_view(vkt_ctx, a, off + 512 * 4, 100 * 4);
    CHECK(in && out, "views: %s", et_vk_error(vkt_ctx));
    if (in && out) {
        int rc = et_vk_begin(vkt_ctx);
        rc = rc ? rc : et_vk_op_ew(vkt_ctx, ET_VK_EW_SCALE, in, NULL, out, 100, 100, -1.0f);
        CHECK(rc == 0 && et_vk_submit(vkt_ctx) == 0, "dispatch on views: %s", et_vk_error(vkt_ctx));
        float *g = vkt_get(a, N, "whole buffer");
        int bad = 0;
        uint64_t o0 = off / 4, o1 = (off + 512 * 4) / 4;
        for (uint64_t i = 0; i < N; i++) {
            float want = (i >= o1 && i < o1 + 100) ? -(float)(i - o1 + o0) : (float)i;
            bad += g[i] != want;
        }
        CHECK(bad == 0, "%d floats wrong after a dispatch on views", bad);
        free(g);
    }
    et_vk_buf_free(vkt_ctx, in);
    et_vk_buf_free(vkt_ctx, out);
    if (al > 4) {
        et_vk_buf *bad = et_vk_buf_view(vkt_ctx, a, 4, 16);
        CHECK(!bad && strstr(et_vk_error(vkt_ctx), "alignment"), "misaligned view accepted");
        et_vk_buf_free(vkt_ctx, bad);
    }
    et_vk_buf *big = et_vk_buf_view(vkt_ctx, a, 0, (N + VKT_GUARD + 1) * 4);
    CHECK(!big && strstr(et_vk_error(vkt_ctx), "outside"), "oversized view accepted");
    et_vk_buf_free(vkt_ctx, big);
    et_vk_buf_free(vkt_ctx, a);
    et_vk_close(vkt_ctx);
}

static void test_pipeline_cache(void) {
    char path[200];
    vkt_ctx = vkt_open("");
    CHECK(vkt_ctx != NULL, "open");
    if (!vkt_ctx) return;
    snprintf(path, sizeof path, "%s", et_vk_cache_path(vkt_ctx));
    CHECK(strncmp(path, cache_dir, strlen(cache_dir)) == 0, "cache path %s not under %s", path,
          cache_dir);
    remove(path);
    float x[16] = { 0 };
    et_vk_buf *a = vkt_buf(x, 16), *o = vkt_buf(NULL, 16);
    int rc = et_vk_begin(vkt_ctx);
    rc = rc ? rc : et_vk_op_ew(vkt_ctx, ET_VK_EW_SILU, a, NULL, o, 16, 16, 0);
    CHECK(rc == 0 && et_vk_submit(vkt_ctx) == 0, "run: %s", et_vk_error(vkt_ctx));
    et_vk_buf_free(vkt_ctx, a); et_vk_buf_free(vkt_ctx, o);
    et_vk_close(vkt_ctx);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size >= 40, "no pipeline cache file (8-byte header + Vulkan's 32) at %s", path);
    FILE *f = fopen(path, "r+b");     /* corrupt it: the next open must still work */
    if (f) { fseek(f, 12, SEEK_SET); fputs("garbage garbage garbage", f); fclose(f); }
    vkt_ctx = vkt_open("");
    CHECK(vkt_ctx != NULL, "open with a corrupt cache failed");
    if (vkt_ctx) et_vk_close(vkt_ctx);
}

static void test_device_list(void) {
    et_vk_device_info info[8];
    char err[256];
    int n = et_vk_list_devices(info, 8, err, sizeof err);
    CHECK(n >= 1, "no devices: %s", err);
    if (n < 1) return;
    CHECK(info[0].name[0] && info[0].max_storage_range > 0 && info[0].max_invocations >= 128,
          "device 0 info incomplete");
    setenv("EDGETUNE_VK_DEVICE", "0", 1);
    et_vk_ctx *c = et_vk_open(-1, err, sizeof err);
    unsetenv("EDGETUNE_VK_DEVICE");
    CHECK(c && !strcmp(et_vk_info(c)->name, info[0].name), "EDGETUNE_VK_DEVICE=0: %s", err);
    if (c) et_vk_close(c);
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--no-driver")) return no_driver_child();
    if (vkt_opted_out()) return 0;
    const char *b = getenv("BUILD");
    snprintf(cache_dir, sizeof cache_dir, "%s/vkcache", b && *b ? b : "build");
    setenv("XDG_CACHE_HOME", cache_dir, 1);
    setenv("VKT_SELF", argv[0], 1);
    char why[256];
    if (!et_vk_available(why, sizeof why)) {
        printf("FAIL vulkan_available: %s (lavapipe is a test dependency; "
               "EDGETUNE_NO_VULKAN_TESTS=1 opts out)\n", why);
        return 1;
    }
    RUN(test_no_driver);
    RUN(test_env_errors);
    RUN(test_device_list);
    RUN(test_mobile_limits);
    RUN(test_buffers);
    RUN(test_barriers_and_timestamps);
    RUN(test_views);
    RUN(test_pipeline_cache);
    return DONE();
}
