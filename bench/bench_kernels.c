/* `edgetune bench kernels`: the kernel micro-benchmark, judged against limits measured in the
 * same run.
 *
 *  1. provenance: git commit, compiler and flags, CPU model and features, BLAS, OpenMP.
 *  2. probes: streaming read bandwidth (several access patterns over a huge-page buffer much
 *     larger than the caches; the best sustained one is the limit of matvec), and the peak
 *     throughput of the instructions the kernels use (f32 FMA, bf16 dot, int8 dot) on 1 thread
 *     and on the benchmark's thread count.
 *  3. per weight type: matvec on N×K = 14336×4096 weights cycling through copies totalling
 *     ≥ 256 MiB (nothing is re-read from cache), as GB/s of weights and fraction of the read
 *     bandwidth; matmul at T = 64, 256, 512 tokens as GFLOP/s (2·T·K·N) and fraction of the
 *     peak of the instruction that type's kernel uses on this path; dX = dY·W likewise
 *     (bf16 dot for every type but f32 where the path has it, else f32 FMA); OpenBLAS sgemv/sgemm on
 *     the same shapes as the in-run reference.
 * Every figure is the median of repeated runs after a warm-up, with min and max.  A fraction
 * above 1.0 means the probe or the kernel is wrong, and fails the run.
 * Weights are random bytes with valid (finite, small) scales: speed does not depend on values.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "bench_kernels.h"
#include "kernels.h"
#include "quant.h"
#ifdef ET_HAVE_BLAS
#include <cblas.h>
#endif
#ifndef ET_BUILD_FLAGS
#define ET_BUILD_FLAGS "unknown"
#endif

/* ---- small helpers ------------------------------------------------------------------------ */

/* Wall clock, or with --cpu-time the process's CPU time divided by the thread count: on a
 * machine shared with other jobs that is the time the kernel would take with the cores to
 * itself (spin-waiting at barriers is counted, time spent descheduled is not). */
static int et__cpu_timer_threads;

static double et__now(void) {
    struct timespec ts;
    clock_gettime(et__cpu_timer_threads ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    double t = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    return et__cpu_timer_threads ? t / et__cpu_timer_threads : t;
}

typedef struct { double median, min, max; } et__stats;

static int et__dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static et__stats et__stats_of(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, et__dcmp);
    et__stats s = { n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]), t[0], t[n - 1] };
    return s;
}

static double et__cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Bytes of last-level cache the benchmark must stream past: the sum over the distinct L3
 * instances sysfs lists (0 when it lists none).  A VM may report the host's cache, which can
 * be far larger than the 32 MiB a Zen 4 CCD has; a matrix cycle sized from the real figure
 * is never re-read from cache, whatever machine CI lands on. */
static size_t et__llc_bytes(void) {
    size_t total = 0;
    char seen[16][64];
    int nseen = 0;
    for (int cpu = 0; cpu < 1024; cpu++) {
        char path[128], lvl[16] = "", size[32] = "", shared[64] = "";
        bool any = false;
        for (int idx = 0; idx < 8; idx++) {
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/level", cpu, idx);
            FILE *f = fopen(path, "r");
            if (!f) break;
            any = true;
            bool ok = fgets(lvl, sizeof lvl, f) != NULL;
            fclose(f);
            if (!ok || atoi(lvl) != 3) continue;
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/size", cpu, idx);
            if ((f = fopen(path, "r"))) { if (!fgets(size, sizeof size, f)) *size = 0; fclose(f); }
            snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cache/index%d/shared_cpu_list", cpu, idx);
            if ((f = fopen(path, "r"))) { if (!fgets(shared, sizeof shared, f)) *shared = 0; fclose(f); }
            bool dup = false;
            for (int i = 0; i < nseen; i++) dup |= !strcmp(seen[i], shared);
            if (dup) continue;
            if (nseen < 16) snprintf(seen[nseen++], sizeof seen[0], "%s", shared);
            char *end;
            double v = strtod(size, &end);
            total += (size_t)(v * (*end == 'M' ? 1 << 20 : *end == 'K' ? 1 << 10 : 1));
        }
        if (!any) break;
    }
    return total;
}

/* Total bytes of weight copies a matvec cycles through: at least 256 MiB and four times the
 * last-level cache (so any replacement policy has evicted a copy before it is read again),
 * at most a quarter of physical memory. */
static size_t et__cycle_bytes(void) {
    size_t total = (size_t)256 << 20, llc4 = 4 * et__llc_bytes();
    if (llc4 > total) total = llc4;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    size_t cap = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz / 4 : (size_t)4 << 30;
    if (cap < ((size_t)256 << 20)) cap = (size_t)256 << 20;
    return total < cap ? total : cap;
}

/* 2 MiB-aligned, advised for transparent huge pages, touched (so no page faults are timed). */
static void *et__big_alloc(size_t bytes) {
    size_t al = (size_t)2 << 20;
    void *p = aligned_alloc(al, (bytes + al - 1) / al * al);
    if (!p) return NULL;
    madvise(p, (bytes + al - 1) / al * al, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

static uint64_t et__rng(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void et__fill_f32(float *x, int64_t n, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int64_t i = 0; i < n; i++) x[i] = (float)((et__rng(&s) >> 40) * (2.0 / 16777216.0) - 1.0);
}

static void et__put_h(uint8_t *p, float v) { uint16_t h = et_fp32_to_fp16(v); memcpy(p, &h, 2); }

/* N×K weights of type t with random quants and valid small scales. */
static void et__fill_weights(et_type t, uint8_t *w, int64_t N, int64_t K, uint64_t seed) {
    size_t nbytes = et_type_nbytes(t, K, N);
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    if (t == ET_F32 || t == ET_F16 || t == ET_BF16) {
        const int64_t chunk = 4096;
        float tmp[4096];
        for (int64_t i = 0; i < N * K; i += chunk) {
            int64_t n = N * K - i < chunk ? N * K - i : chunk;
            et__fill_f32(tmp, n, seed + (uint64_t)i);
            if (t == ET_F32) memcpy((float *)w + i, tmp, (size_t)n * 4);
            else
                for (int64_t j = 0; j < n; j++)
                    ((uint16_t *)w)[i + j] = t == ET_F16 ? et_fp32_to_fp16(tmp[j]) : et_fp32_to_bf16(tmp[j]);
        }
        return;
    }
    for (size_t i = 0; i + 8 <= nbytes; i += 8) { uint64_t r = et__rng(&s); memcpy(w + i, &r, 8); }
    const size_t bs = et_type_get(t)->type_size;
    const int64_t nb = (int64_t)(et_type_row_size(t, K) / bs) * N;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = w + (size_t)b * bs;
        switch (t) {
        case ET_Q8_0: case ET_Q4_0: case ET_IQ4_NL: et__put_h(p, 0.01f); break;
        case ET_Q4_1: case ET_Q4_K: et__put_h(p, 0.01f); et__put_h(p + 2, 0.002f); break;
        case ET_Q6_K: et__put_h(p + offsetof(et_block_q6_K, d), 0.001f); break;
        default: break;
        }
    }
    if (t == ET_NF4) {   /* tail: group scales, then the offset */
        int64_t ng = (nb + ET_NF4_GROUP - 1) / ET_NF4_GROUP;
        float gs = 0.05f, off = 0.0f;
        for (int64_t g = 0; g < ng; g++) memcpy(w + (size_t)nb * bs + (size_t)g * 4, &gs, 4);
        memcpy(w + (size_t)nb * bs + (size_t)ng * 4, &off, 4);
    }
}

/* ---- output ----------------------------------------------------------------------------------- */

typedef struct {
    const et_bench_kernels_opts *o;
    int over;            /* lines with frac_limit > 1 */
    int reprobes;        /* peak re-measurements so far (at most 6 a run) */
    int read_pat;        /* the fastest read loop of the last bandwidth probe (et__read_pass) */
    int threads;         /* all the benchmark may use */
    int run_threads;     /* the kernels' thread count in the pass under way (1, then all) */
    /* OpenBLAS's figure on the same shape in this pass, for "vs_openblas" (0: none yet) */
    struct { const char *bench; int64_t T; double gflops; } blas[16];
    int n_blas, below_blas;
} et__ctx;

/* OpenBLAS's GFLOP/s for (bench, T) in this pass, 0 if not measured. */
static double et__blas_fig(const et__ctx *c, const char *bench, int64_t T) {
    for (int i = 0; i < c->n_blas; i++)
        if (c->blas[i].T == T && !strcmp(c->blas[i].bench, bench)) return c->blas[i].gflops;
    return 0;
}

static void et__line(et__ctx *c, const char *bench, const char *type, int64_t M, int64_t K,
                     int64_t N, const char *isa, int threads, et__stats st, double gbps,
                     double gflops, const char *limit, double limit_val, const char *xjson,
                     const char *xtext) {
    double fig = limit && !strcmp(limit, "read_bw") ? gbps : gflops;
    double frac = limit_val > 0 ? fig / limit_val : 0.0;
    if (frac > 1.0) c->over++;
    /* the products against OpenBLAS f32 on the same shape, measured just before in this pass */
    bool is_blas = strstr(type, "openblas") != NULL, product = strcmp(bench, "matvec") != 0;
    if (is_blas && product && c->n_blas < 16)
        c->blas[c->n_blas++] = (typeof(c->blas[0])){ bench, M, gflops };
    double bf = !is_blas && product ? et__blas_fig(c, bench, M) : 0, vs = bf > 0 ? gflops / bf : 0;
    if (vs > 0 && vs < 1.0) c->below_blas++;
    char vsj[48] = "", vst[48] = "";
    if (vs > 0) {
        snprintf(vsj, sizeof vsj, ",\"vs_openblas\":%.3f", vs);
        snprintf(vst, sizeof vst, "  %.2fx OpenBLAS%s", vs, vs < 1.0 ? " (below)" : "");
    }
    FILE *f = c->o->out;
    if (c->o->json)
        fprintf(f, "{\"bench\":\"%s\",\"type\":\"%s\",\"M\":%ld,\"K\":%ld,\"N\":%ld,\"isa\":\"%s\","
                   "\"threads\":%d,\"median_s\":%.6e,\"min_s\":%.6e,\"max_s\":%.6e,\"gbps\":%.3f,"
                   "\"gflops\":%.3f,\"limit\":\"%s\",\"limit_value\":%.3f,\"frac_limit\":%.4f%s%s}\n",
                bench, type, (long)M, (long)K, (long)N, isa, threads, st.median, st.min, st.max,
                gbps, gflops, limit, limit_val, frac, vsj, xjson ? xjson : "");
    else
        fprintf(f, "%-7s %-13s %5ld %6ld %6ld %-11s %2d %10.3f %8.3f %8.3f %8.1f  %-10s %5.1f%%%s%s%s\n",
                bench, type, (long)M, (long)K, (long)N, isa, threads, st.median * 1e3,
                st.min * 1e3, gbps, gflops, limit, 100.0 * frac, frac > 1.0 ? "  > LIMIT!" : "", vst,
                xtext ? xtext : "");
    fflush(f);
}

static void et__probe_line(et__ctx *c, const char *what, const char *extra, int threads,
                           double value, const char *unit, et__stats st) {
    FILE *f = c->o->out;
    if (c->o->json)
        fprintf(f, "{\"bench\":\"probe\",\"what\":\"%s\",%s\"isa\":\"%s\",\"threads\":%d,"
                   "\"%s\":%.3f,\"median_s\":%.6e,\"min_s\":%.6e,\"max_s\":%.6e}\n",
                what, extra, et_isa_name(et_kern_isa()), threads, unit, value, st.median, st.min,
                st.max);
    else
        fprintf(f, "probe   %-22s %s threads %d: %.1f %s\n", what, extra, threads, value,
                !strcmp(unit, "gbps") ? "GB/s" : "GFLOP/s");
}

static void et__provenance(et__ctx *c) {
    char git[80] = "unknown", cpu[160] = "unknown", line[512];
    FILE *p = popen("git rev-parse --short=12 HEAD 2>/dev/null", "r");
    if (p) {
        if (fgets(line, sizeof line, p)) { line[strcspn(line, "\n")] = 0; if (*line) snprintf(git, sizeof git, "%.60s", line); }
        pclose(p);
    }
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci) {
        while (fgets(line, sizeof line, ci))
            if (!strncmp(line, "model name", 10)) {
                char *v = strchr(line, ':');
                if (v) { v += 1 + (v[1] == ' '); v[strcspn(v, "\n")] = 0; snprintf(cpu, sizeof cpu, "%.150s", v); }
                break;
            }
        fclose(ci);
    }
    char feats[256] = "";
    for (int i = 1; i < ET_ISA_COUNT; i++)
        if (et_kern_isa_available((et_isa)i)) {
            strncat(feats, et_isa_name((et_isa)i), sizeof feats - strlen(feats) - 2);
            strcat(feats, " ");
        }
    if (*feats) feats[strlen(feats) - 1] = 0;
    char blas[160] = "none (engine GEMM)";
#ifdef ET_HAVE_BLAS
    int par = openblas_get_parallel();
    snprintf(blas, sizeof blas, "%s [%s]", openblas_get_config(),
             par == 2 ? "openmp" : par == 1 ? "pthreads" : "sequential");
#endif
    const char *ont = getenv("OMP_NUM_THREADS"), *opb = getenv("OMP_PROC_BIND");
    FILE *f = c->o->out;
    if (c->o->json)
        fprintf(f, "{\"bench\":\"provenance\",\"git\":\"%s\",\"compiler\":\"gcc %s\",\"flags\":\"%s\","
                   "\"cpu\":\"%s\",\"features\":\"%s\",\"isa\":\"%s\",\"blas\":\"%s\","
                   "\"omp_max_threads\":%d,\"threads\":%d,\"OMP_NUM_THREADS\":\"%s\","
                   "\"OMP_PROC_BIND\":\"%s\",\"quick\":%s,\"timer\":\"%s\"}\n",
                git, __VERSION__, ET_BUILD_FLAGS, cpu, feats, et_isa_name(et_kern_isa()), blas,
                omp_get_max_threads(), c->threads, ont ? ont : "", opb ? opb : "",
                c->o->quick ? "true" : "false", c->o->cpu_time ? "cpu/threads" : "wall");
    else {
        fprintf(f, "edgetune bench kernels — git %s, gcc %s [%s]\ncpu: %s (%s); path %s\n"
                   "blas: %s; OpenMP: %d threads (OMP_NUM_THREADS=%s OMP_PROC_BIND=%s); timer: %s\n",
                git, __VERSION__, ET_BUILD_FLAGS, cpu, feats, et_isa_name(et_kern_isa()), blas,
                c->threads, ont ? ont : "-", opb ? opb : "-",
                c->o->cpu_time ? "process CPU time / threads" : "wall clock");
    }
}

/* ---- probes ----------------------------------------------------------------------------------- */

typedef float et__v8 __attribute__((vector_size(32)));
static volatile float et__sink;

/* The read loops are never instrumented (ASan builds would otherwise measure the sanitizer). */
#define ET__PROBE_FN __attribute__((noinline, no_sanitize("address", "undefined")))

/* Sum of a range with `acc` independent accumulators (4 or 8), one 32-byte vector each; with
 * `pf` (acc 8) each line is also prefetched as the matvec kernels do (ET_KERN_PF_L1 ahead
 * into L1, ET_KERN_PF_L2 into L2; the 4-bit formats' farther L2 distance read less here).  Where the hardware prefetchers are weak (the
 * Sapphire Rapids VM here) prefetching kernels outran every plain loop, and a kernel above the
 * "measured limit" fails the run: the limit must include the best read the kernels can do. */
ET__PROBE_FN static float et__read_range(const float *p, int64_t n, int acc, bool pf) {
    et__v8 a[8] = {{0}};
    const et__v8 *v = (const et__v8 *)p;
    int64_t nv = n / 8;
    if (acc == 8)
        for (int64_t i = 0; i + 8 <= nv; i += 8) {
            if (pf)
                for (int l = 0; l < 4; l++) {   /* 8 vectors = 256 bytes = 4 lines */
                    __builtin_prefetch((const char *)(v + i) + ET_KERN_PF_L1 + 64 * l, 0, 3);
                    __builtin_prefetch((const char *)(v + i) + ET_KERN_PF_L2 + 64 * l, 0, 2);
                }
            for (int j = 0; j < 8; j++) a[j] += v[i + j];
        }
    else
        for (int64_t i = 0; i + 4 <= nv; i += 4)
            for (int j = 0; j < 4; j++) a[j] += v[i + j];
    et__v8 s = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
    return s[0] + s[7];
}

ET__PROBE_FN static float et__read_streams4(const float *b, int64_t per) {
    int64_t q = per / 4;
    et__v8 a[4] = {{0}};
    for (int64_t i = 0; i < q; i += 16)
        for (int s = 0; s < 4; s++) {
            const et__v8 *v = (const et__v8 *)(b + s * q + i);
            a[s] += v[0] + v[1];
        }
    et__v8 s = a[0] + a[1] + a[2] + a[3];
    return s[0];
}

/* One timed pass of pattern `pat` over buf (n floats) on `threads` threads.  Two clocks: the
 * kernels' (returned), and each thread's own CPU clock, whose summed rates (*cpu_time: the
 * equivalent time) do not drop when a thread is descheduled on a shared machine — but run
 * high when the threads did not overlap.  The probe takes the faster where the two agree
 * within 25%. */
static double et__read_pass(const float *buf, int64_t n, int threads, int pat, double *cpu_time) {
    float total = 0;
    double rate = 0;
    double t0 = et__now();
    #pragma omp parallel num_threads(threads) reduction(+ : total, rate)
    {
        int it = omp_get_thread_num(), nt = omp_get_num_threads();
        double c0 = et__cpu_now(), done = 0;
        if (pat == 0 || pat == 1) {          /* contiguous slice per thread */
            int64_t per = n / nt / 64 * 64;
            total += et__read_range(buf + it * per, per, pat == 0 ? 4 : 8, false);
            done = (double)per;
        } else if (pat == 2) {               /* 2 MiB chunks dealt round-robin */
            const int64_t ch = (int64_t)1 << 19;
            for (int64_t c = it; c < n / ch; c += nt) {
                total += et__read_range(buf + c * ch, ch, 8, false);
                done += (double)ch;
            }
        } else if (pat == 5) {               /* seq8 with the kernels' software prefetch */
            int64_t per = n / nt / 64 * 64;
            total += et__read_range(buf + it * per, per, 8, true);
            done = (double)per;
        } else if (pat == 4) {               /* the path's widest loads (zmm), slice per thread */
            int64_t per = n / nt / 64 * 64;
            done = et_kern_read_loop(buf + it * per, (size_t)per * 4) / 4;
        } else {                             /* 4 interleaved streams per thread */
            int64_t per = n / nt / 256 * 256;
            total += et__read_streams4(buf + it * per, per);
            done = (double)per;
        }
        double dt = et__cpu_now() - c0;
        rate += dt > 0 ? done * 4 / dt : 0;
    }
    et__sink = total;
    *cpu_time = rate > 0 ? (double)n * 4 / rate : 1e9;
    return et__now() - t0;
}

static double et__probe_bw(et__ctx *c, int threads) {
    static const char *const names[6] = { "seq4", "seq8", "chunks2m", "streams4", "widest", "seq8pf" };
    /* the full probe even with --quick: a short probe underestimates the limit on a noisy
     * machine and the kernels then "exceed" it (a few seconds; the limit must be right) */
    int64_t bytes = 1024 * ((int64_t)1 << 20);   /* ≫ L3 */
    float *buf = et__big_alloc((size_t)bytes);
    if (!buf) return 0;
    for (int64_t i = 0; i < bytes / 4; i += 1024) buf[i] = (float)i;
    double best = 0, best_loop = 0;
    const char *best_name = names[0];
    et__stats best_st = { 0, 0, 0 };
    int reps = 9;
    const bool widest = et_kern_read_loop(buf, 256) > 0;
    for (int pat = 0; pat < 6; pat++) {
        if (pat == 4 && !widest) continue;
        double t[16], tc;
        et__read_pass(buf, bytes / 4, threads, pat, &tc);    /* warm-up */
        for (int r = 0; r < reps; r++) {
            t[r] = et__read_pass(buf, bytes / 4, threads, pat, &tc);
            /* the CPU clocks' figure only where the threads overlapped: a pass whose threads
             * ran one after the other (wall ≈ their sum) adds two solo rates, and the
             * "limit" then read 56 GB/s on this 37 GB/s host */
            if (tc < t[r] && tc > 0.75 * t[r]) t[r] = tc;
        }
        et__stats st = et__stats_of(t, reps);
        /* the limit is what the machine can sustain: the best run of the best pattern (the
         * patterns leave at most 1 KiB per thread unread: counted, an error below 1e-5) */
        double gbps = (double)bytes / st.min / 1e9;
        char extra[64];
        snprintf(extra, sizeof extra, "\"pattern\":\"%s\",", names[pat]);
        et__probe_line(c, "read_bw_pattern", extra, threads, gbps, "gbps", st);
        if (gbps > best) { best = gbps; best_name = names[pat]; best_st = st; }
        /* the pairing's loop: the fastest with a slice per thread (chunks2m deals 2 MiB
         * chunks, and a quick run's copies are single chunks: one thread would read) */
        if (pat != 2 && gbps > best_loop) { best_loop = gbps; c->read_pat = pat; }
    }
#ifdef ET_HAVE_BLAS
    /* One more pattern: OpenBLAS's sgemv over the buffer as rows of 4096 floats, the matvec
     * shape's K (it reads every byte once).  Its row streams can beat the loops above (on a
     * Sapphire Rapids host by 5%, and with rows of 1024 it did not), and a read kernel faster
     * than the "measured limit" would be a probe bug. */
    {
        const int64_t K = 4096, N = bytes / 4 / K;
        float *xv = calloc((size_t)K, sizeof *xv), *yv = calloc((size_t)N, sizeof *yv);
        if (xv && yv) {
            double t[16];
            openblas_set_num_threads(threads);
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1.0f, buf, (int)K, xv, 1, 0.0f, yv, 1);
            for (int r = 0; r < reps; r++) {
                double t0 = et__now();
                cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1.0f, buf, (int)K, xv, 1, 0.0f, yv, 1);
                t[r] = et__now() - t0;
            }
            et__stats st = et__stats_of(t, reps);
            double gbps = (double)bytes / st.min / 1e9;
            et__probe_line(c, "read_bw_pattern", "\"pattern\":\"sgemv\",", threads, gbps, "gbps", st);
            if (gbps > best) { best = gbps; best_name = "sgemv"; best_st = st; }
        }
        free(xv);
        free(yv);
    }
#endif
    char extra[64];
    snprintf(extra, sizeof extra, "\"pattern\":\"%s\",", best_name);
    et__probe_line(c, "read_bw", extra, threads, best, "gbps", best_st);
    free(buf);
    return best;
}

static double et__probe_peak(et__ctx *c, et_peak_kind kind, int threads) {
    static const char *const what[3] = { "fma_peak", "bf16_peak", "int8_peak" };
    if (et_kern_peak_loop(kind, 16) == 0.0) return 0.0;   /* path lacks it (also: init) */
    const int64_t iters = c->o->quick ? 200000 : 2000000;
    int reps = c->o->quick ? 3 : 5;
    double t[8], flops = 0;
    /* Each thread times its loop by its own CPU clock and the peak is the sum of the threads'
     * rates: an upper bound of what the cores can issue together, which time spent
     * descheduled on a shared machine does not lower. */
    for (int r = 0; r < reps; r++) {
        double rate = 0, sum = 0;
        #pragma omp parallel num_threads(threads) reduction(+ : rate, sum)
        {
            double t0 = et__cpu_now(), f = et_kern_peak_loop(kind, iters);
            double dt = et__cpu_now() - t0;
            rate += dt > 0 ? f / dt : 0;
            sum += f;
        }
        flops = sum;
        t[r] = rate > 0 ? flops / rate : 1e9;
    }
    et__stats st = et__stats_of(t, reps);
    double g = flops / st.min / 1e9;   /* a peak: the best run */
    et__probe_line(c, what[kind], "", threads, g, "gflops", st);
    return g;
}

/* ---- kernels ---------------------------------------------------------------------------------- */

typedef struct { double bw, peak[3], blas_peak; } et__limits;

static et__stats et__time_calls(int reps, void (*fn)(void *, int), void *arg) {
    double t[64];
    if (reps > 64) reps = 64;
    fn(arg, -1);                                /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = et__now();
        fn(arg, r);
        t[r] = et__now() - t0;
    }
    return et__stats_of(t, reps);
}

typedef struct {
    et_type t;
    uint8_t *w;       /* ncopies consecutive tensors of `bytes` */
    size_t bytes, ldw;
    int ncopies;
    int64_t T, K, N;
    float *x, *y;
    void *work;
    int blas;         /* 1: OpenBLAS instead of our kernel */
    int which;        /* 0 matvec/matmul, 1 dx */
} et__job;

static void et__run_job(void *arg, int rep) {
    et__job *j = arg;
    int c = rep < 0 ? 0 : rep % j->ncopies;
    const uint8_t *w = j->w + (size_t)c * j->bytes;
#ifdef ET_HAVE_BLAS
    if (j->blas) {
        if (j->which == 1)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)j->T, (int)j->K, (int)j->N,
                        1.0f, j->y, (int)j->N, (const float *)w, (int)j->K, 0.0f, j->x, (int)j->K);
        else if (j->T == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)j->N, (int)j->K, 1.0f, (const float *)w,
                        (int)j->K, j->x, 1, 0.0f, j->y, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->T, (int)j->N, (int)j->K,
                        1.0f, j->x, (int)j->K, (const float *)w, (int)j->K, 0.0f, j->y, (int)j->N);
        return;
    }
#endif
    if (j->which == 1)
        et_kern_matmul_dx(j->t, w, j->ldw, j->y, (size_t)j->N, j->x, (size_t)j->K, j->T, j->K,
                          j->N, false, j->work);
    else
        et_kern_matmul(j->t, w, j->ldw, j->x, (size_t)j->K, j->y, (size_t)j->N, j->T, j->K, j->N,
                       false, j->work);
}

/* Warm-up for matvec cycles through all copies once. */
static void et__run_matvec(void *arg, int rep) {
    et__job *j = arg;
    if (rep < 0) {
        for (int c = 0; c < j->ncopies; c++) et__run_job(arg, c);
        return;
    }
    et__run_job(arg, rep);
}

/* Matvec timed in pairs with the read loop: before each kernel call, the probe's fastest
 * slice-per-thread read loop (`pat`: on Zen 4 the zmm "widest", on a Sapphire Rapids host
 * seq8, 10% faster than widest there) streams another copy of the same bytes on the same
 * threads.  On a shared machine the memory bus's state changes from second
 * to second (2 threads here: ~31 GB/s for seconds, then ~50), so a kernel's fraction of a
 * probe taken earlier mixes its speed with the bus's; the pair's fraction does not.  Returns
 * the kernel's statistics; *rd gets the read loop's (timed the same way). */
static et__stats et__time_matvec_paired(et__job *j, int reps, int pat, et__stats *rd) {
    double tk[64], tr[64];
    if (reps > 64) reps = 64;
    et__run_matvec(j, -1);                         /* warm-up: every copy once */
    const int nt = omp_get_max_threads();
    for (int r = 0; r < reps; r++) {
        const uint8_t *other = j->w + (size_t)((r + j->ncopies / 2) % j->ncopies) * j->bytes;
        double tc;
        tr[r] = et__read_pass((const float *)other, (int64_t)(j->bytes / 4), nt, pat, &tc);
        double t0 = et__now();
        et__run_job(j, r);
        tk[r] = et__now() - t0;
    }
    *rd = et__stats_of(tr, reps);
    return et__stats_of(tk, reps);
}

static const char *const et__bench_types[] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1",
                                               "iq4_nl", "q4_k", "q6_k", "nf4" };

static bool et__wanted(const char *only, const char *name) {
    if (!only || !*only) return true;
    size_t n = strlen(name);
    for (const char *p = only; (p = strstr(p, name)); p += n)
        if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return true;
    return false;
}

/* A product faster than its peak means the probe ran while the cores were not all ours (on
 * this shared host the hypervisor can run both vCPUs on one core for seconds: the 2-thread
 * FMA probe once read 119 GFLOP/s, the 1-thread one 117, and OpenBLAS then ran at 181).
 * Measure that peak again, keep the better figure, then judge. */
static double et__peak_for(et__ctx *c, et__limits *L, et_peak_kind pk, bool blas, double fig) {
    double *lim = blas ? &L->blas_peak : &L->peak[pk];
    if (fig > *lim && c->reprobes < 6) {
        c->reprobes++;
        fprintf(stderr, "edgetune bench: %.1f GFLOP/s is above the %.1f GFLOP/s probe; "
                        "measuring that peak again\n", fig, *lim);
        et_isa cur = et_kern_isa();
        bool swap = blas && cur != et_kern_isa_best() && et_kern_set_isa(et_kern_isa_best());
        double again = et__probe_peak(c, pk, c->run_threads);
        if (swap) et_kern_set_isa(cur);
        if (again > *lim) *lim = again;
    }
    return *lim;
}

/* The same for the bandwidth: a matvec that reads faster than the limit met the probe at a
 * slow moment of the shared bus (here 31 GB/s for seconds, then 33).  Probe again, keep the
 * better, then judge. */
static double et__bw_for(et__ctx *c, et__limits *L, double gbps) {
    if (gbps > L->bw && c->reprobes < 6) {
        c->reprobes++;
        fprintf(stderr, "edgetune bench: a matvec read %.1f GB/s, above the %.1f GB/s probe; "
                        "measuring the bandwidth again\n", gbps, L->bw);
        double again = et__probe_bw(c, c->run_threads);
        if (again > L->bw) L->bw = again;
    }
    return L->bw;
}

static int et__bench_type(et__ctx *c, et_type t, et__limits *L) {
    const bool quick = c->o->quick;
    const int64_t K = quick ? 1024 : 4096, N = quick ? 2048 : 14336;
    const int64_t Ts[3] = { quick ? 8 : 64, quick ? 32 : 256, quick ? 64 : 512 };
    const int nT = 3, Tmax = (int)Ts[2];
    const size_t bytes = (et_type_nbytes(t, K, N) + 4095) / 4096 * 4096;
    const size_t total = et__cycle_bytes();   /* ≥ 4× the last-level cache, quick or not */
    int ncopies = (int)((total + bytes - 1) / bytes);
    if (ncopies < 2) ncopies = 2;
    const char *isa = et_isa_name(et_kern_isa());
    const char *name = et_type_get(t)->name;
    et__job j = { .t = t, .bytes = bytes, .ldw = et_type_row_size(t, K), .ncopies = ncopies,
                  .K = K, .N = N };
    j.w = et__big_alloc(bytes * (size_t)ncopies);
    j.x = et__big_alloc((size_t)(Tmax * (K > N ? K : N)) * 4);
    j.y = et__big_alloc((size_t)(Tmax * (K > N ? K : N)) * 4);
    size_t ws = et_kern_matmul_work(t, Tmax, K, N), wd = et_kern_matmul_dx_work(t, Tmax, K, N);
    j.work = malloc((ws > wd ? ws : wd) + 64);
    if (!j.w || !j.x || !j.y || !j.work) {
        fprintf(stderr, "edgetune bench: out of memory for %s (%zu MiB of weights)\n", name,
                bytes * (size_t)ncopies >> 20);
        free(j.w); free(j.x); free(j.y); free(j.work);
        return 2;
    }
    et__fill_weights(t, j.w, N, K, 7);
    for (int i = 1; i < ncopies; i++) memcpy(j.w + (size_t)i * bytes, j.w, bytes);
    et__fill_f32(j.x, Tmax * K, 1);
    et__fill_f32(j.y, Tmax * N, 2);
    const size_t wbytes = et_type_nbytes(t, K, N);
    const int mv_reps = quick ? 5 : 30, mm_reps = quick ? 2 : 3;

    /* f32: OpenBLAS first, so every product after it (this type's and the others') carries
     * its ratio to OpenBLAS on the same shape */
    for (int pass = 0; pass <= (t == ET_F32 ? 1 : 0); pass++) {
        int blas = t == ET_F32 ? 1 - pass : 0;
#ifndef ET_HAVE_BLAS
        if (blas) continue;
#endif
        j.blas = blas;
        const char *ty = blas ? "f32-openblas" : name;
        const char *is = blas ? "blas" : isa;
        j.which = 0;
        j.T = 1;
        et__stats rd;
        et__stats st = et__time_matvec_paired(&j, mv_reps, c->read_pat, &rd);
        double mv_gbps = (double)wbytes / st.median / 1e9;
        /* beside the probe's figure (the run's best moment), the same-moment read: the read
         * loop over another copy of these weights just before each kernel call */
        const double rd_gbps = (double)bytes / rd.median / 1e9;
        /* The limit is the best sustained read this run has seen: the probe's, or the median
         * of the read loop's beside these calls when the bus was faster then (the probe may
         * have run while another job on this shared machine held it).  Not the fastest single
         * read: one pass of 33 MB now and then reads at 53-60 GB/s on this 37 GB/s host (part
         * of it still in the last-level cache), which made every 4-bit matvec look like 50%. */
        if (rd_gbps > L->bw) L->bw = rd_gbps;
        char xj[128], xt[64];
        snprintf(xj, sizeof xj, ",\"read_gbps_paired\":%.3f,\"frac_paired\":%.4f", rd_gbps,
                 mv_gbps / rd_gbps);
        snprintf(xt, sizeof xt, "  %.1f%% of %.1f GB/s read beside it", 100.0 * mv_gbps / rd_gbps,
                 rd_gbps);
        et__line(c, "matvec", ty, 1, K, N, is, c->run_threads, st, mv_gbps,
                 2.0 * K * N / st.median / 1e9, "read_bw", et__bw_for(c, L, mv_gbps), xj, xt);
        for (int i = 0; i < nT; i++) {
            j.T = Ts[i];
            st = et__time_calls(mm_reps, et__run_job, &j);
            et_peak_kind pk = blas ? ET_PEAK_F32_FMA : et_kern_matmul_peak_kind(t);
            static const char *const lim[3] = { "fma_peak", "bf16_peak", "int8_peak" };
            double g = 2.0 * (double)j.T * K * N / st.median / 1e9;
            et__line(c, "matmul", ty, j.T, K, N, is, c->run_threads, st, 0, g, lim[pk],
                     et__peak_for(c, L, pk, blas, g), NULL, NULL);
        }
        j.which = 1;
        for (int i = 0; i < nT; i++) {
            j.T = Ts[i];
            st = et__time_calls(mm_reps, et__run_job, &j);
            double g = 2.0 * (double)j.T * K * N / st.median / 1e9;
            const et_peak_kind pk = blas ? ET_PEAK_F32_FMA : et_kern_matmul_dx_peak_kind(t);
            static const char *const lim[3] = { "fma_peak", "bf16_peak", "int8_peak" };
            et__line(c, "dx", ty, j.T, K, N, is, c->run_threads, st, 0, g, lim[pk],
                     et__peak_for(c, L, pk, blas, g), NULL, NULL);
        }
    }
    free(j.w); free(j.x); free(j.y); free(j.work);
    return 0;
}

int et_bench_kernels(const et_bench_kernels_opts *o) {
    et__ctx c = { .o = o, .threads = o->threads > 0 ? o->threads : omp_get_max_threads() };
    omp_set_num_threads(c.threads);
    et__cpu_timer_threads = o->cpu_time ? c.threads : 0;
#ifdef ET_HAVE_BLAS
    openblas_set_num_threads(c.threads);
#endif
    et__provenance(&c);
    if (!o->json)
        fprintf(o->out, "%-7s %-13s %5s %6s %6s %-11s %2s %10s %8s %8s %8s  %-10s %6s\n", "bench",
                "type", "M", "K", "N", "isa", "th", "median_ms", "min_ms", "GB/s", "GFLOP/s",
                "limit", "frac");
    /* limits for 1 thread (L1) and for all (L): each pass of kernels is judged by its own */
    et__limits L = { 0 }, L1 = { 0 };
    for (int i = 0; i < (c.threads > 1 ? 2 : 1); i++) {
        int th = i == 0 && c.threads > 1 ? 1 : c.threads;
        double bw = et__probe_bw(&c, th);
        double pk[3];
        for (int k = 0; k < 3; k++) pk[k] = et__probe_peak(&c, (et_peak_kind)k, th);
        if (th == 1) { L1.bw = bw; memcpy(L1.peak, pk, sizeof pk); }
        if (th == c.threads) { L.bw = bw; memcpy(L.peak, pk, sizeof pk); }
    }
    if (L.bw <= 0 || L1.bw <= 0) {
        fprintf(stderr, "edgetune bench: could not allocate the bandwidth probe's buffer\n");
        return 2;
    }
    /* OpenBLAS may use wider FMAs than the path in use: its limit is the CPU's best FMA */
    L.blas_peak = L.peak[ET_PEAK_F32_FMA];
    L1.blas_peak = L1.peak[ET_PEAK_F32_FMA];
    et_isa cur = et_kern_isa();
    if (cur != et_kern_isa_best() && et_kern_set_isa(et_kern_isa_best())) {
        L.blas_peak = et__probe_peak(&c, ET_PEAK_F32_FMA, c.threads);
        L1.blas_peak = c.threads > 1 ? et__probe_peak(&c, ET_PEAK_F32_FMA, 1) : L.blas_peak;
        et_kern_set_isa(cur);
    }
    int rc = 0;
    /* every kernel on 1 thread and on all (--quick: all only, a smoke test) */
    const int npass = c.threads > 1 && !o->quick ? 2 : 1;
    for (int pass = 0; pass < npass; pass++) {
        c.run_threads = npass == 2 && pass == 0 ? 1 : c.threads;
        c.n_blas = 0;
        omp_set_num_threads(c.run_threads);
#ifdef ET_HAVE_BLAS
        openblas_set_num_threads(c.run_threads);
#endif
        for (size_t i = 0; i < sizeof et__bench_types / sizeof et__bench_types[0]; i++) {
            if (!et__wanted(o->only, et__bench_types[i])) continue;
            et_type t = et_type_from_name(et__bench_types[i]);
            if (t == ET_TYPE_COUNT || !et_kern_matmul_supports(t)) continue;
            int r = et__bench_type(&c, t, c.run_threads == 1 && c.threads > 1 ? &L1 : &L);
            if (r) rc = r;
        }
    }
    omp_set_num_threads(c.threads);
    if (c.below_blas)
        fprintf(stderr, "edgetune bench: %d product figure(s) below OpenBLAS f32 on the same shape "
                        "(vs_openblas < 1)\n", c.below_blas);
    if (c.over) {
        fprintf(stderr, "edgetune bench: %d figure(s) above their measured limit: the probe or "
                        "the kernel is wrong\n", c.over);
        if (!rc) rc = 1;
    }
    return rc;
}

size_t et_bench_llc_bytes(void) { return et__llc_bytes(); }

double et_bench_read_bw(const et_bench_kernels_opts *o) {
    et__ctx c = { .o = o, .threads = o->threads > 0 ? o->threads : omp_get_max_threads() };
    et__cpu_timer_threads = o->cpu_time ? c.threads : 0;
    return et__probe_bw(&c, c.threads);
}

/* ---- compare ---------------------------------------------------------------------------------- */

typedef struct { char key[192]; double median; } et__entry;

static int et__load(const char *path, et__entry **out, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) { fprintf(stderr, "edgetune bench compare: cannot open %s\n", path); return -1; }
    char line[4096];
    int cap = 64, lineno = 0;
    *n = 0;
    *out = malloc((size_t)cap * sizeof **out);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[strspn(line, " \t\r\n")] == 0) continue;
        cJSON *j = cJSON_Parse(line);
        if (!j) {
            fprintf(stderr, "edgetune bench compare: %s:%d: not a JSON object\n", path, lineno);
            fclose(f);
            free(*out);
            return -1;
        }
        const cJSON *b = cJSON_GetObjectItem(j, "bench"), *m = cJSON_GetObjectItem(j, "median_s");
        if (cJSON_IsString(b) && cJSON_IsNumber(m) && strcmp(b->valuestring, "probe") != 0) {
            const cJSON *ty = cJSON_GetObjectItem(j, "type"), *isa = cJSON_GetObjectItem(j, "isa");
            const cJSON *M = cJSON_GetObjectItem(j, "M"), *K = cJSON_GetObjectItem(j, "K");
            const cJSON *N = cJSON_GetObjectItem(j, "N"), *th = cJSON_GetObjectItem(j, "threads");
            const cJSON *te = cJSON_GetObjectItem(j, "test");   /* bench decode: pp128, tg64, ... */
            if (*n == cap) { cap *= 2; *out = realloc(*out, (size_t)cap * sizeof **out); }
            snprintf((*out)[*n].key, sizeof (*out)[*n].key, "%s%s%s %s M=%d K=%d N=%d %s th=%d",
                     b->valuestring, cJSON_IsString(te) ? " " : "", cJSON_IsString(te) ? te->valuestring : "",
                     cJSON_IsString(ty) ? ty->valuestring : "?",
                     cJSON_IsNumber(M) ? M->valueint : -1, cJSON_IsNumber(K) ? K->valueint : -1,
                     cJSON_IsNumber(N) ? N->valueint : -1, cJSON_IsString(isa) ? isa->valuestring : "?",
                     cJSON_IsNumber(th) ? th->valueint : -1);
            (*out)[(*n)++].median = m->valuedouble;
        }
        cJSON_Delete(j);
    }
    fclose(f);
    return 0;
}

int et_bench_compare(const char *old_path, const char *new_path, double threshold, FILE *out) {
    et__entry *a, *b;
    int na, nb, reg = 0, matched = 0;
    if (et__load(old_path, &a, &na)) return -1;
    if (et__load(new_path, &b, &nb)) { free(a); return -1; }
    fprintf(out, "%-58s %12s %12s %8s\n", "benchmark", "old_ms", "new_ms", "change");
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < na; k++)
            if (!strcmp(a[k].key, b[i].key)) {
                double ch = b[i].median / a[k].median - 1.0;
                bool bad = ch > threshold;
                reg += bad;
                matched++;
                fprintf(out, "%-58s %12.3f %12.3f %+7.1f%%%s\n", b[i].key, a[k].median * 1e3,
                        b[i].median * 1e3, 100.0 * ch, bad ? "  REGRESSION" : "");
                break;
            }
    fprintf(out, "%d compared, %d regression(s) above %.1f%%\n", matched, reg, 100.0 * threshold);
    free(a);
    free(b);
    return reg;
}
