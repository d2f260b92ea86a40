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
 * Then a LoRA training step (rank 8 on every linear layer over a Q4_0 base: forward, backward,
 * AdamW, all on the device through the backend) timed per op from the same timestamps: one
 * warm-up step, then TRAIN_STEPS steps; per op (grouped with the shader that ran it) the
 * median time per step, its share, GFLOP/s and GB/s from the op table's cost functions.
 * --quick: a tiny Llama (dim 64, 2 layers, vocab 256, batch 2 x 32); else issue 4's bench
 * config (dim 512, 8 layers, ffn 1376, vocab 32000, batch 4 x 256).
 *
 * JSON lines: {"bench":"vulkan","device":...,"op":"matvec|matmul|matmul_dx","type":"q4_0",
 *   "T":1,"K":..,"N":..,"variant":"matvec_q4_0_sg","median_us":..,"p10_us":..,"p90_us":..,
 *   "gbps":..,"gflops":..}, one {"bench":"vulkan_autotune",...} line per choice, one
 *   {"bench":"vulkan_train","op":..,"variant":..,"nodes":..,"ms_per_step":..,"share":..,
 *   "gflops":..,"gbps":..} per op of the step and {"bench":"vulkan_train_step",
 *   "ms_per_step":.. (wall, median),"gpu_ms_per_step":..,"tokens_per_s":..}.  --types filters
 *   the weight types; the training step runs unless --types is given without "train".
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench/bench_vulkan.h"
#include "dtype.h"
#include "engine/vulkan/vk.h"
#include "engine/vulkan/vk_backend.h"
#include "engine/vulkan/vk_ops.h"
#include "llama.h"
#include "optim.h"
#include "profile.h"
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

/* ---- a LoRA training step, per op ----------------------------------------------------- */

#define ET__BV_TRAIN_STEPS 5

static double et__bv_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int et__bv_train(const et_bench_vulkan_opts *o) {
    const et_llama_config cfg = o->quick
        ? (et_llama_config){ .vocab = 256, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
                             .ffn = 192, .max_seq = 32, .rope_theta = 10000.0f, .rms_eps = 1e-5f }
        : (et_llama_config){ .vocab = 32000, .dim = 512, .n_layers = 8, .n_heads = 8, .n_kv_heads = 8,
                             .head_dim = 64, .ffn = 1376, .max_seq = 256, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
    const int64_t T = o->quick ? 32 : 256, B = o->quick ? 2 : 4;
    char err[512];
    et_backend *be = et_vk_backend_new(o->device, err, sizeof err);
    if (!be) { fprintf(stderr, "edgetune bench vulkan: training step: %s\n", err); return 2; }
    et_ctx *ctx = et_ctx_new(1 << 16);
    et_llama m;
    et_llama_batch b;
    et_graph *g = ctx ? et_graph_new(ctx, 1 << 15) : NULL;
    et_optim opt = {0};
    et_adamw_cfg ac = et_adamw_defaults();
    ac.lr = 1e-4f;
    et_plan plan = {0};
    et_backward_opts bo = {0};
    et_tensor *loss = NULL;
    et_profile *prof = NULL;
    double wall[ET__BV_TRAIN_STEPS];
    int rc = 2;
    bool ok = g && et_llama_init(&m, ctx, &cfg, 42, 0) && et_llama_compress(&m, ET_Q4_0, NULL, NULL) &&
              et_llama_add_lora(&m, 8, 16.0f, 0.0f, "all", 7) && et_llama_batch_new(&b, &m, T, B, (T - 1) * B) &&
              (loss = et_llama_loss(&m, &b, false)) && et_graph_backward(g, loss, &bo) &&
              et_optim_adamw_init(&opt, g, &ac) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
              (prof = et_profile_new(g, ET__BV_TRAIN_STEPS)) && be->prepare(be, g, &plan);
    for (int s = -1; ok && s < ET__BV_TRAIN_STEPS; s++) {   /* step -1: warm-up, not recorded */
        int32_t *ids = b.ids->data, *sel = b.sel->data, *tgt = b.targets->data;
        uint64_t r = (uint64_t)(s + 2) * 0x9E3779B97F4A7C15ull;
        for (int64_t i = 0; i < T * B; i++) { r ^= r << 13; r ^= r >> 7; r ^= r << 17; ids[i] = (int32_t)(r % (uint64_t)cfg.vocab); }
        for (int64_t j = 0, k = 0; j < B; j++)
            for (int64_t t = 0; t + 1 < T; t++, k++) { sel[k] = (int32_t)(t + T * j); tgt[k] = ids[t + 1 + T * j]; }
        et_optim_next_step(&opt, ac.lr, 1.0f);
        be->prof = s >= 0 ? prof : NULL;
        double t0 = et__bv_now_ms();
        ok = et_backend_upload_inputs(be, g) && be->run(be, g, &plan, 0, g->n_nodes) && be->download(be, loss);
        if (s >= 0) wall[s] = et__bv_now_ms() - t0;
        be->prof = NULL;
    }
    if (!ok) {
        fprintf(stderr, "edgetune bench vulkan: training step: %s\n", ctx ? et_ctx_error(ctx) : "out of memory");
        goto done;
    }
    /* per op and shader: the nodes' median times per step */
    typedef struct { et_op op; const char *variant; int nodes; double ns, flops, bytes; } grp;
    grp *gr = calloc((size_t)g->n_nodes, sizeof *gr);
    if (!gr) goto done;
    int ng = 0;
    double gpu_ns = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
        if (prof->count[i] == 0) continue;
        const char *v = prof->variant[i] ? prof->variant[i] : "";
        int k = 0;
        while (k < ng && !(gr[k].op == g->nodes[i]->op && !strcmp(gr[k].variant, v))) k++;
        if (k == ng) gr[ng++] = (grp){ .op = g->nodes[i]->op, .variant = v };
        double ns = et_profile_step_ns(prof, i), per = (double)prof->count[i] / (double)et_profile_steps(prof);
        gr[k].nodes++;
        gr[k].ns += ns;
        gr[k].flops += prof->flops[i] * per;
        gr[k].bytes += prof->bytes[i] * per;
        gpu_ns += ns;
    }
    for (int i = 1; i < ng; i++)   /* largest first */
        for (int j = i; j > 0 && gr[j - 1].ns < gr[j].ns; j--) { grp x = gr[j]; gr[j] = gr[j - 1]; gr[j - 1] = x; }
    const char *dev = et_vk_backend_device(be), *conf = o->quick ? "quick" : "bench";
    if (!o->json)
        fprintf(o->out, "\ntraining step: LoRA rank 8 on all linear layers over a q4_0 base, %s config (dim %d, %d "
                "layers, vocab %d, batch %lld x %lld), %d steps\n%-20s %-20s %5s %10s %7s %9s %8s\n", conf, cfg.dim,
                cfg.n_layers, cfg.vocab, (long long)B, (long long)T, ET__BV_TRAIN_STEPS, "op", "variant", "nodes",
                "ms/step", "share", "GFLOP/s", "GB/s");
    for (int k = 0; k < ng; k++) {
        double ms = gr[k].ns * 1e-6, s = gr[k].ns * 1e-9;
        double gf = s > 0 ? gr[k].flops / s * 1e-9 : 0, gb = s > 0 ? gr[k].bytes / s * 1e-9 : 0;
        if (o->json)
            fprintf(o->out, "{\"bench\":\"vulkan_train\",\"device\":\"%s\",\"method\":\"lora\",\"base\":\"q4_0\","
                    "\"config\":\"%s\",\"op\":\"%s\",\"variant\":\"%s\",\"nodes\":%d,\"ms_per_step\":%.4f,"
                    "\"share\":%.4f,\"gflops\":%.3f,\"gbps\":%.3f}\n", dev, conf, et_op_name(gr[k].op),
                    gr[k].variant, gr[k].nodes, ms, gpu_ns > 0 ? gr[k].ns / gpu_ns : 0, gf, gb);
        else
            fprintf(o->out, "%-20s %-20s %5d %10.3f %6.1f%% %9.2f %8.2f\n", et_op_name(gr[k].op), gr[k].variant,
                    gr[k].nodes, ms, gpu_ns > 0 ? 100 * gr[k].ns / gpu_ns : 0, gf, gb);
    }
    qsort(wall, ET__BV_TRAIN_STEPS, sizeof *wall, et__bv_cmp);
    double wmed = wall[ET__BV_TRAIN_STEPS / 2];
    if (o->json)
        fprintf(o->out, "{\"bench\":\"vulkan_train_step\",\"device\":\"%s\",\"method\":\"lora\",\"base\":\"q4_0\","
                "\"config\":\"%s\",\"steps\":%d,\"nodes\":%d,\"ms_per_step\":%.3f,\"gpu_ms_per_step\":%.3f,"
                "\"tokens_per_s\":%.1f}\n", dev, conf, ET__BV_TRAIN_STEPS, g->n_nodes, wmed, gpu_ns * 1e-6,
                (double)(T * B) / (wmed * 1e-3));
    else
        fprintf(o->out, "step: %.2f ms wall (median), %.2f ms of GPU time in %d nodes, %.0f tokens/s\n", wmed,
                gpu_ns * 1e-6, g->n_nodes, (double)(T * B) / (wmed * 1e-3));
    free(gr);
    rc = 0;
done:
    et_profile_free(prof);
    et_plan_free(&plan);
    et_optim_free(&opt);
    if (g) et_graph_free(g);
    if (ctx) et_ctx_free(ctx);
    be->free(be);
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
    const et_type types[] = { ET_F32, ET_F16, ET_BF16, ET_Q8_0, ET_Q4_0, ET_Q4_1, ET_Q5_0, ET_Q5_1,
                              ET_Q4_K, ET_Q6_K, ET_IQ4_NL, ET_NF4 };
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
    if (!rc && et__bv_wanted(o->only ? o->only : "train", "train")) rc = et__bv_train(o);
    return rc;
}
