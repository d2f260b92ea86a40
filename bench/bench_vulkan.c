/* `edgetune bench vulkan`: per-shader throughput on a Vulkan device, and the autotuner.
 *
 * For each weight type: matvec (decode, T = 1) in GB/s of weight bytes streamed, tiled matmul
 * (prefill, T = 64) and dX = dY·W in GFLOP/s (2·T·K·N per call).  Times are the GPU's own, from
 * timestamp queries around each dispatch: REPS dispatches of the op are recorded in one submit
 * after one warm-up submit; the median and the 10th/90th percentiles are reported.
 *
 * --autotune first times the candidates for the matvec workgroup size and the matmul tile
 * (TS, RM, RN, BK) that fit the device's (possibly clamped) limits on a Q4_0 weight, keeps the
 * fastest, and stores it for this device and driver (engine/vulkan/vk_tune.c); et_vk_open
 * applies it in later runs.
 *
 * JSON lines: {"bench":"vulkan","device":...,"op":"matvec|matmul|matmul_dx","type":"q4_0",
 *   "T":1,"K":..,"N":..,"variant":"matvec_q4_0_sg","median_us":..,"p10_us":..,"p90_us":..,
 *   "gbps":..,"gflops":..}   and one {"bench":"vulkan_autotune",...} line per choice.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bench/bench_vulkan.h"
#include "dtype.h"
#include "engine/vulkan/vk.h"
#include "engine/vulkan/vk_ops.h"
#include "ref/quant_ref.h"

typedef struct { double med, p10, p90; } et__bv_stat;

static int et__bv_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef enum { ET__BV_MATVEC, ET__BV_MATMUL, ET__BV_DX } et__bv_op;

/* Time `reps` dispatches of one op; the GPU time of each from its timestamps. */
static int et__bv_time(et_vk_ctx *c, et__bv_op op, const et_vk_weight *w, et_vk_buf *in,
                       et_vk_buf *out, int64_t T, int reps, et__bv_stat *st, char *variant,
                       size_t vlen) {
    for (int pass = 0; pass < 2; pass++) {          /* pass 0 warms up (pipelines, caches) */
        int n = pass ? reps : 1, rc = et_vk_begin(c);
        for (int r = 0; r < n && !rc; r++)
            rc = op == ET__BV_DX ? et_vk_op_matmul_dx(c, w, in, out, T, false)
                                 : et_vk_op_matmul(c, w, in, out, T, false);
        if (rc || et_vk_submit(c)) return -1;
    }
    const et_vk_timing *tm;
    int nt = et_vk_timings(c, &tm);
    if (nt <= 0) return -1;
    double *ns = malloc((size_t)nt * sizeof *ns);
    if (!ns) return -1;
    /* a weight split into chunks makes several dispatches per call: sum them per call */
    int per = nt / reps, k = 0;
    for (int r = 0; r < reps; r++) {
        double s = 0;
        for (int i = 0; i < per; i++) s += tm[r * per + i].ns;
        ns[k++] = s;
    }
    qsort(ns, (size_t)k, sizeof *ns, et__bv_cmp);
    st->med = ns[k / 2] / 1e3;
    st->p10 = ns[k / 10] / 1e3;
    st->p90 = ns[(k * 9) / 10 < k ? (k * 9) / 10 : k - 1] / 1e3;
    snprintf(variant, vlen, "%s", tm[0].label);
    free(ns);
    return 0;
}

static int et__bv_weight(et_vk_ctx *c, et_type t, int64_t K, int64_t N, et_vk_weight *w) {
    float *f = malloc((size_t)(K * N) * 4);
    void *q = malloc(et_type_nbytes(t, K, N));
    if (!f || !q) { free(f); free(q); return -1; }
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int64_t i = 0; i < K * N; i++) {
        s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
        f[i] = (float)((s * 0x2545F4914F6CDD1DULL >> 40) * (2.0 / 16777216.0) - 1.0);
    }
    if (t == ET_NF4) et_ref_quantize_nf4(f, q, K * N);
    else et_type_get(t)->from_f32(f, q, K * N);
    int rc = et_vk_weight_upload(c, t, q, K, N, w);
    free(f); free(q);
    return rc;
}

static bool et__bv_wanted(const char *only, const char *name) {
    if (!only) return true;
    size_t n = strlen(name);
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == n && !strncmp(p, name, n)) return true;
        p += l + (e ? 1 : 0);
    }
    return false;
}

/* The autotuner: every candidate that fits the limits, timed on Q4_0; keeps the fastest. */
static int et__bv_autotune(et_vk_ctx *c, const et_bench_vulkan_opts *o, int64_t K, int64_t N,
                           int64_t T, int reps) {
    et_vk_weight w;
    if (et__bv_weight(c, ET_Q4_0, K, N, &w)) return -1;
    et_vk_buf *x = et_vk_buf_alloc_bytes(c, (uint64_t)(T * K) * 4 + 64);
    et_vk_buf *y = et_vk_buf_alloc_bytes(c, (uint64_t)(T * N) * 4 + 64);
    int rc = (!x || !y) ? -1 : 0;
    et_vk_tuning *tu = et_vk_tuning_get(c), best = *tu;
    char var[64];
    const char *dev = et_vk_info(c)->name;
    /* matvec workgroup size */
    double best_us = INFINITY;
    const uint32_t wgs[] = { 32, 64, 128, 256 };
    for (size_t i = 0; i < 4 && !rc; i++) {
        et_vk_tuning cand = best;
        cand.wg = wgs[i];
        if (!et_vk_tuning_valid(c, &cand)) continue;
        *tu = cand;
        et__bv_stat st;
        if (et__bv_time(c, ET__BV_MATVEC, &w, x, y, 1, reps, &st, var, sizeof var)) { rc = -1; break; }
        if (o->json)
            fprintf(o->out, "{\"bench\":\"vulkan_autotune\",\"device\":\"%s\",\"op\":\"matvec\","
                    "\"wg\":%u,\"median_us\":%.2f}\n", dev, cand.wg, st.med);
        if (st.med < best_us) { best_us = st.med; best.wg = cand.wg; }
    }
    /* matmul tile */
    const uint32_t tiles[][4] = { { 8, 2, 2, 16 }, { 16, 2, 2, 16 }, { 16, 1, 1, 16 },
                                  { 8, 4, 4, 16 }, { 16, 2, 2, 32 }, { 16, 4, 4, 8 },
                                  { 8, 4, 4, 32 } };
    best_us = INFINITY;
    for (size_t i = 0; i < sizeof tiles / sizeof tiles[0] && !rc; i++) {
        et_vk_tuning cand = best;
        cand.mm_ts = tiles[i][0]; cand.mm_rm = tiles[i][1]; cand.mm_rn = tiles[i][2];
        cand.mm_bk = tiles[i][3];
        if (!et_vk_tuning_valid(c, &cand)) continue;
        *tu = cand;
        et__bv_stat st;
        if (et__bv_time(c, ET__BV_MATMUL, &w, x, y, T, reps, &st, var, sizeof var)) { rc = -1; break; }
        if (o->json)
            fprintf(o->out, "{\"bench\":\"vulkan_autotune\",\"device\":\"%s\",\"op\":\"matmul\","
                    "\"ts\":%u,\"rm\":%u,\"rn\":%u,\"bk\":%u,\"median_us\":%.2f}\n", dev,
                    cand.mm_ts, cand.mm_rm, cand.mm_rn, cand.mm_bk, st.med);
        if (st.med < best_us) {
            best_us = st.med;
            best.mm_ts = cand.mm_ts; best.mm_rm = cand.mm_rm; best.mm_rn = cand.mm_rn;
            best.mm_bk = cand.mm_bk;
        }
    }
    *tu = best;
    char path[1100];
    if (!rc && et_vk_tuning_save(c)) {
        fprintf(stderr, "edgetune bench vulkan: %s\n", et_vk_error(c));
        rc = -1;
    }
    if (!rc)
        fprintf(o->json ? stderr : o->out, "autotune: matvec wg %u, matmul tile %ux%u threads x "
                "%ux%u outputs, BK %u -> %s\n", best.wg, best.mm_ts, best.mm_ts, best.mm_rm,
                best.mm_rn, best.mm_bk, et_vk_tuning_path(c, path, sizeof path));
    et_vk_buf_free(c, x); et_vk_buf_free(c, y);
    et_vk_weight_free(c, &w);
    return rc;
}

int et_bench_vulkan(const et_bench_vulkan_opts *o) {
    char err[256];
    et_vk_ctx *c = et_vk_open(o->device, err, sizeof err);
    if (!c) {
        fprintf(stderr, "edgetune bench vulkan: %s\n", err);
        return 2;
    }
    const int64_t K = o->quick ? 512 : 2048, N = o->quick ? 512 : 2048;
    const int64_t T = o->quick ? 16 : 64;
    const int reps = o->quick ? 5 : 20;
    const et_vk_device_info *di = et_vk_info(c);
    int rc = 0;
    if (o->autotune && et__bv_autotune(c, o, K, N, T, reps)) {
        fprintf(stderr, "edgetune bench vulkan: autotune failed: %s\n", et_vk_error(c));
        et_vk_close(c);
        return 2;
    }
    const et_vk_tuning *tu = et_vk_tuning_get(c);
    if (!o->json)
        fprintf(o->out, "device %s (driver %s %s), tiles: matvec wg %u, matmul %ux%u x %ux%u "
                "BK %u\n%-10s %-6s %5s %6s %6s %-18s %10s %10s %10s %9s %9s\n", di->name,
                di->driver_name, di->driver_info, tu->wg, tu->mm_ts, tu->mm_ts, tu->mm_rm,
                tu->mm_rn, tu->mm_bk, "op", "type", "T", "K", "N", "variant", "median_us",
                "p10_us", "p90_us", "GB/s", "GFLOP/s");
    const et_type types[] = { ET_F32, ET_F16, ET_Q8_0, ET_Q4_0, ET_Q4_K, ET_NF4 };
    et_vk_buf *x = et_vk_buf_alloc_bytes(c, (uint64_t)(T * (K > N ? K : N)) * 4 + 64);
    et_vk_buf *y = et_vk_buf_alloc_bytes(c, (uint64_t)(T * (K > N ? K : N)) * 4 + 64);
    if (!x || !y) rc = 2;
    for (size_t i = 0; i < sizeof types / sizeof types[0] && !rc; i++) {
        et_type t = types[i];
        const char *tn = et_type_get(t)->name;
        if (!et__bv_wanted(o->only, tn)) continue;
        et_vk_weight w;
        if (et__bv_weight(c, t, K, N, &w)) { rc = 2; break; }
        double wbytes = (double)et_type_nbytes(t, K, N);
        const struct { et__bv_op op; const char *name; int64_t T; } runs[] = {
            { ET__BV_MATVEC, "matvec", 1 }, { ET__BV_MATMUL, "matmul", T },
            { ET__BV_DX, "matmul_dx", T } };
        for (int r = 0; r < 3 && !rc; r++) {
            et__bv_stat st;
            char var[64];
            if (et__bv_time(c, runs[r].op, &w, x, y, runs[r].T, reps, &st, var, sizeof var)) {
                rc = 2;
                break;
            }
            double s = st.med * 1e-6;
            double gbps = (wbytes + 4.0 * runs[r].T * (K + N)) / s / 1e9;
            double gflops = 2.0 * runs[r].T * K * N / s / 1e9;
            if (o->json)
                fprintf(o->out, "{\"bench\":\"vulkan\",\"device\":\"%s\",\"driver_version\":%u,"
                        "\"op\":\"%s\",\"type\":\"%s\",\"T\":%lld,\"K\":%lld,\"N\":%lld,"
                        "\"variant\":\"%s\",\"median_us\":%.2f,\"p10_us\":%.2f,\"p90_us\":%.2f,"
                        "\"gbps\":%.3f,\"gflops\":%.3f}\n", di->name, di->driver_version,
                        runs[r].name, tn, (long long)runs[r].T, (long long)K, (long long)N, var,
                        st.med, st.p10, st.p90, gbps, gflops);
            else
                fprintf(o->out, "%-10s %-6s %5lld %6lld %6lld %-18s %10.1f %10.1f %10.1f %9.2f "
                        "%9.2f\n", runs[r].name, tn, (long long)runs[r].T, (long long)K,
                        (long long)N, var, st.med, st.p10, st.p90, gbps, gflops);
        }
        et_vk_weight_free(c, &w);
    }
    if (rc) fprintf(stderr, "edgetune bench vulkan: %s\n", et_vk_error(c));
    et_vk_buf_free(c, x); et_vk_buf_free(c, y);
    et_vk_close(c);
    return rc;
}
