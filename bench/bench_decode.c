/* `edgetune bench decode`: one model's inference speed, judged like llama-bench and against
 * the machine's read bandwidth measured in the same run (et_bench_read_bw, the kernel
 * benchmark's probe).  Every timed figure is the median of repeated runs after a warm-up,
 * with min and max; JSON lines carry "bench":"decode" and a "test" name that
 * `edgetune bench compare` matches on.
 *
 *   load_cold   et_lm_load after the file was dropped from the page cache (fdatasync +
 *               posix_fadvise DONTNEED); resident_before says how much of it was still cached
 *               (mincore), so a drop that did not happen is visible, not silently "cold"
 *   ttft_cold   the first token after a cold load: prefill of ttft_prompt tokens, with the
 *               weights' page faults (weights are memory-mapped: loading reads little)
 *   load_warm   et_lm_load with the file in the page cache
 *   ttft_warm   time to first token on a loaded, warmed model (prefill + sampling)
 *   ppN         prefill of N tokens: tokens/s
 *   tgN         N tokens decoded one at a time after a 1-token prompt: tokens/s, bytes read
 *               per token (the decode graph's weights, the embedding's one row, and the KV
 *               cache at the run's mean length), GB/s and the fraction of the read bandwidth.
 *               fits_llc: the weights fit in the last-level cache, where a fraction above 1 is
 *               possible (the probe reads 1 GiB, far beyond any cache)
 *   kv_cache    KV-cache bytes per token, for the pp context and for the model's full context
 *   sustained   decoding tg-token runs back to back for sustain_s seconds: tokens/s overall,
 *               in the first and last tenth of the runs, and as a fraction of tgN (burst);
 *               a phone that throttles shows a ratio well below 1
 *
 * Without --model the benchmark writes its own model so that `make bench` runs on a fresh
 * machine: random weights (et_llama_init) in a temporary GGUF, "135m" shaped like SmolLM-135M
 * (576 wide, 30 layers, GQA 9:3, 49152 tokens, tied embeddings) in q8_0, or "tiny" for smoke
 * tests.  Speed does not depend on the weights' values.
 */
#include "bench_decode.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "bench_kernels.h"
#include "kernels.h"
#include "lm.h"
#include "llama.h"
#include "llama_gguf.h"
#include "tok/tok_gguf.h"

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct { double median, min, max; } et__st;

static int et__dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static et__st et__stats(const double *t, int n) {
    double *s = malloc((size_t)n * sizeof *s);
    if (!s || n < 1) { free(s); return (et__st){ NAN, NAN, NAN }; }
    memcpy(s, t, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, et__dcmp);
    et__st r = { n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]), s[0], s[n - 1] };
    free(s);
    return r;
}

/* ---- the synthetic model ------------------------------------------------------------------ */

static bool et__preset(const char *name, et_llama_config *c) {
    if (!strcmp(name, "tiny"))
        *c = (et_llama_config){ .vocab = 512, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
                                .ffn = 128, .max_seq = 256, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
    else if (!strcmp(name, "135m"))   /* SmolLM-135M's shape */
        *c = (et_llama_config){ .vocab = 49152, .dim = 576, .n_layers = 30, .n_heads = 9, .n_kv_heads = 3,
                                .head_dim = 64, .ffn = 1536, .max_seq = 2048, .rope_theta = 10000.0f,
                                .rms_eps = 1e-5f, .tied_embeddings = true };
    else return false;
    return true;
}

static size_t et__utf8(uint32_t cp, char *s) {
    if (cp < 0x80) { s[0] = (char)cp; return 1; }
    if (cp < 0x800) { s[0] = (char)(0xC0 | cp >> 6); s[1] = (char)(0x80 | (cp & 63)); return 2; }
    s[0] = (char)(0xE0 | cp >> 12), s[1] = (char)(0x80 | ((cp >> 6) & 63)), s[2] = (char)(0x80 | (cp & 63));
    return 3;
}

/* A byte-level vocabulary (256 bytes, no merges, <|end|> as EOS): what et_lm_load needs; the
 * benchmark feeds token ids, so the model's larger embedding table is used whole. */
static et_tok *et__byte_tok(char *err, size_t errlen) {
    static char pieces[256][4];
    const char *toks[257];
    int32_t types[257];
    for (int b = 0; b < 256; b++) {
        size_t l = et__utf8(et_bytelevel_cp((uint8_t)b), pieces[b]);
        pieces[b][l] = 0;
        toks[b] = pieces[b], types[b] = ET_TOKT_NORMAL;
    }
    toks[256] = "<|end|>", types[256] = ET_TOKT_CONTROL;
    et_tok_spec sp;
    et_tok_spec_init(&sp, ET_TOK_BPE);
    sp.pretok = ET_PRETOK_GPT2, sp.n_vocab = 257, sp.tokens = toks, sp.types = types, sp.eos = 256;
    return et_tok_create(&sp, err, errlen);
}

static int et__write_synthetic(const char *name, const char *type, const char *path, char *err, size_t errlen) {
    et_llama_config cfg;
    if (!et__preset(name, &cfg)) { snprintf(err, errlen, "--synthetic '%s' is not tiny or 135m", name); return -1; }
    et_type t = et_type_from_name(type);
    if (t == ET_TYPE_COUNT || t == ET_I32 || t == ET_Q8_K) { snprintf(err, errlen, "--type '%s' is not a weight type", type); return -1; }
    et_tok *tok = et__byte_tok(err, errlen);
    if (!tok) return -1;
    et_ctx *ctx = et_ctx_new(4096);
    et_llama m;
    double sparsity;
    int rc = -1;
    et_gguf_writer *w = NULL;
    if (!ctx || !et_llama_init(&m, ctx, &cfg, 1234, 0) || (t != ET_F32 && !et_llama_compress(&m, t, NULL, &sparsity))) {
        snprintf(err, errlen, "synthetic model: %s", ctx ? et_ctx_error(ctx) : "out of memory");
        goto done;
    }
    w = et_gguf_writer_new();
    char title[64];
    snprintf(title, sizeof title, "edgetune-bench-%s", name);
    if (w) et_llama_to_gguf(&m, w, title);
    if (!w || et_tok_to_gguf(tok, w, err, errlen) || et_gguf_writer_write(w, path, err, errlen)) {
        if (!w) snprintf(err, errlen, "out of memory");
        goto done;
    }
    rc = 0;
done:
    et_gguf_writer_free(w);
    et_ctx_free(ctx);
    et_tok_free(tok);
    return rc;
}

/* ---- page cache ------------------------------------------------------------------------------ */

/* Flush (dirty pages cannot be dropped) and drop the file's cached pages. */
static int et__drop_cache(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    fdatasync(fd);
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return rc;
}

/* Fraction of the file's pages in the page cache (mincore over a fresh mapping). */
static double et__resident(const char *path) {
    int fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) || sb.st_size == 0) { if (fd >= 0) close(fd); return NAN; }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return NAN;
    long ps = sysconf(_SC_PAGESIZE);
    size_t np = ((size_t)sb.st_size + (size_t)ps - 1) / (size_t)ps, in = 0;
    unsigned char *v = malloc(np);
    if (v && mincore(p, (size_t)sb.st_size, v) == 0)
        for (size_t i = 0; i < np; i++) in += v[i] & 1;
    else in = (size_t)-1;
    free(v);
    munmap(p, (size_t)sb.st_size);
    return in == (size_t)-1 ? NAN : (double)in / (double)np;
}

/* ---- output ---------------------------------------------------------------------------------- */

typedef struct {
    const et_bench_decode_opts *o;
    char model[160];          /* JSON-safe */
    const char *type, *device, *isa;
    int threads;
} et__ctx;

static void et__safe(char *dst, size_t cap, const char *s) {
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) dst[n++] = *s == '"' || *s == '\\' || (unsigned char)*s < 0x20 ? '_' : *s;
    dst[n] = 0;
}

/* One result: JSON (common fields, timing when st.median is a number, then `extra`, which is
 * either empty or starts with a comma) or a human line (`human` after the timing). */
static void et__emit(et__ctx *c, const char *test, int n, int reps, et__st st, const char *extra,
                     const char *human) {
    FILE *f = c->o->out;
    if (c->o->json) {
        fprintf(f, "{\"bench\":\"decode\",\"test\":\"%s\",\"model\":\"%s\",\"type\":\"%s\",\"device\":\"%s\","
                   "\"isa\":\"%s\",\"threads\":%d", test, c->model, c->type, c->device, c->isa, c->threads);
        if (!isnan(st.median))
            fprintf(f, ",\"n\":%d,\"reps\":%d,\"median_s\":%.6e,\"min_s\":%.6e,\"max_s\":%.6e", n, reps, st.median,
                    st.min, st.max);
        fprintf(f, "%s}\n", extra);
    } else if (!isnan(st.median)) {
        fprintf(f, "%-10s %10.3f ms  (min %.3f, max %.3f, %d reps)  %s\n", test, st.median * 1e3, st.min * 1e3,
                st.max * 1e3, reps, human);
    } else {
        fprintf(f, "%-10s %s\n", test, human);
    }
    fflush(f);
}

/* ---- the tests ------------------------------------------------------------------------------- */

/* seeded random token ids */
static void et__ids(int32_t *ids, int n, int32_t vocab, uint64_t seed) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 7;
    for (int i = 0; i < n; i++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        ids[i] = (int32_t)((s * 0x2545F4914F6CDD1DULL >> 33) % (uint64_t)vocab);
    }
}

static int et__gen(et_lm *lm, const int32_t *prompt, int np, int max_new, int32_t *out, et_gen_stats *st) {
    char err[512] = "";
    int n = 0;
    if (et_lm_generate_tokens(lm, prompt, np, max_new, NULL, false, out, &n, st, err, sizeof err) || n != max_new) {
        fprintf(stderr, "edgetune bench decode: %s\n", n != max_new && !err[0] ? "short generation" : err);
        return -1;
    }
    return 0;
}

int et_bench_decode(const et_bench_decode_opts *o) {
    et_bench_decode_opts d = *o;
    if (!d.out) d.out = stdout;
    int threads = d.threads > 0 ? d.threads : omp_get_max_threads();
    omp_set_num_threads(threads);
    if (d.pp <= 0) d.pp = d.quick ? 16 : 128;
    if (d.tg <= 0) d.tg = d.quick ? 8 : 64;
    if (d.ttft_prompt <= 0) d.ttft_prompt = d.quick ? 8 : 32;
    if (d.reps <= 0) d.reps = d.quick ? 2 : 5;
    if (d.sustain_s <= 0) d.sustain_s = d.quick ? 2 : 60;
    int load_reps = d.quick ? 2 : 3;
    char path[512], err[512];
    bool tmp = !d.model;
    int rc = 2;
    et_lm *lm = NULL;
    int32_t *ids = NULL, *out = NULL;
    double *t = NULL, *t2 = NULL;
    et__ctx c = { .o = &d, .threads = threads, .isa = et_isa_name(et_kern_isa()) };

    /* options a synthetic model can check before the probe's seconds are spent */
    if (tmp) {
        et_llama_config pc;
        const char *name = d.synthetic ? d.synthetic : "135m", *ty = d.type ? d.type : "q8_0";
        et_type wt = et_type_from_name(ty);
        if (!et__preset(name, &pc) || wt == ET_TYPE_COUNT || wt == ET_I32 || wt == ET_Q8_K) {
            if (!et__preset(name, &pc)) fprintf(stderr, "edgetune bench decode: --synthetic '%s' is not tiny or 135m\n", name);
            else fprintf(stderr, "edgetune bench decode: --type '%s' is not a weight type\n", ty);
            return 2;
        }
        if (d.pp + 1 > pc.max_seq || d.tg + 2 > pc.max_seq || d.ttft_prompt + 1 > pc.max_seq) {
            fprintf(stderr, "edgetune bench decode: --pp %d / --tg %d / --ttft-prompt %d do not fit the model's context "
                            "of %d tokens\n", d.pp, d.tg, d.ttft_prompt, pc.max_seq);
            return 2;
        }
    }

    /* 1. the limit, measured first (while nothing else of ours is in memory) */
    et_bench_kernels_opts ko = { .json = d.json, .threads = threads, .out = d.out };
    double bw = et_bench_read_bw(&ko);
    if (bw <= 0) { fprintf(stderr, "edgetune bench decode: could not allocate the bandwidth probe's buffer\n"); return 2; }

    /* 2. the model */
    if (tmp) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/edgetune-bench-decode-XXXXXX", dir && *dir ? dir : "/tmp");
        int fd = mkstemp(path);
        if (fd < 0) { fprintf(stderr, "edgetune bench decode: %s: %s\n", path, strerror(errno)); return 2; }
        close(fd);
        const char *name = d.synthetic ? d.synthetic : "135m";
        double t0 = et__now();
        if (et__write_synthetic(name, d.type ? d.type : "q8_0", path, err, sizeof err)) {
            fprintf(stderr, "edgetune bench decode: %s\n", err);
            goto done;
        }
        if (!d.json) fprintf(d.out, "synthetic model '%s' written to %s in %.1f s\n", name, path, et__now() - t0);
        snprintf(c.model, sizeof c.model, "synthetic:%s", name);
    } else {
        snprintf(path, sizeof path, "%s", d.model);
        const char *b = strrchr(d.model, '/');
        et__safe(c.model, sizeof c.model, b ? b + 1 : d.model);
    }
    et_lm_opts lo = { .base_type = tmp ? NULL : d.type, .n_threads = threads, .device = d.device };
    int nt = d.reps > load_reps ? d.reps : load_reps;
    t = malloc((size_t)(nt + 1) * sizeof *t), t2 = malloc((size_t)(nt + 1) * sizeof *t2);
    int32_t maxn = d.pp > d.tg + 1 ? d.pp : d.tg + 1;
    if (d.ttft_prompt > maxn) maxn = d.ttft_prompt;
    ids = malloc((size_t)maxn * sizeof *ids), out = malloc(((size_t)maxn + 1) * sizeof *out);
    if (!t || !t2 || !ids || !out) { fprintf(stderr, "edgetune bench decode: out of memory\n"); goto done; }

    /* 3. cold loads, each followed by its first token */
    et_gen_stats st;
    et_lm_info info;
    double resident = 0;
    for (int r = 0; r < load_reps; r++) {
        if (et__drop_cache(path)) { fprintf(stderr, "edgetune bench decode: %s: cannot drop it from the page cache\n", path); goto done; }
        double res = et__resident(path);
        if (isnan(res)) { fprintf(stderr, "edgetune bench decode: %s: mincore failed\n", path); goto done; }
        if (res > resident) resident = res;
        double t0 = et__now();
        if (et_lm_load(path, &lo, &lm, err, sizeof err)) { fprintf(stderr, "edgetune bench decode: %s\n", err); goto done; }
        t[r] = et__now() - t0;
        if (r == 0) {
            if (et_lm_get_info(lm, &info, err, sizeof err)) { fprintf(stderr, "edgetune bench decode: %s\n", err); goto done; }
            c.type = info.weight_type, c.device = info.device;
            if (d.pp + 1 > info.n_ctx || d.tg + 2 > info.n_ctx || d.ttft_prompt + 1 > info.n_ctx) {
                fprintf(stderr, "edgetune bench decode: --pp %d / --tg %d / --ttft-prompt %d do not fit the model's context "
                                "of %d tokens\n", d.pp, d.tg, d.ttft_prompt, info.n_ctx);
                goto done;
            }
            size_t llc = et_bench_llc_bytes();
            char ex[512], hu[512];
            snprintf(ex, sizeof ex, ",\"n_params\":%lld,\"weight_bytes\":%zu,\"decode_weight_bytes\":%zu,"
                     "\"kv_bytes_per_token\":%zu,\"n_ctx\":%d,\"vocab\":%d,\"n_layers\":%d,\"dim\":%d,\"llc_bytes\":%zu,"
                     "\"fits_llc\":%s,\"read_bw_gbps\":%.3f", (long long)info.n_params, info.weight_bytes,
                     info.decode_weight_bytes, info.kv_bytes_per_token, info.n_ctx, info.vocab, info.n_layers, info.dim,
                     llc, llc && info.weight_bytes < llc ? "true" : "false", bw);
            snprintf(hu, sizeof hu, "%s: %.1fM parameters, %.1f MiB of %s weights (%.1f MiB read per token), %d layers, "
                     "dim %d, vocab %d, context %d; read bandwidth %.1f GB/s; last-level cache %.0f MiB%s",
                     c.model, info.n_params / 1e6, info.weight_bytes / 1048576.0, c.type,
                     info.decode_weight_bytes / 1048576.0, info.n_layers, info.dim, info.vocab, info.n_ctx, bw,
                     llc / 1048576.0, llc && info.weight_bytes < llc ? " (the weights fit in it)" : "");
            et__emit(&c, "model", 0, 0, (et__st){ NAN, NAN, NAN }, ex, hu);
        }
        et__ids(ids, d.ttft_prompt, info.vocab, 100 + (uint64_t)r);
        if (et__gen(lm, ids, d.ttft_prompt, 1, out, &st)) goto done;
        t2[r] = st.prefill_s;
        et_lm_free(lm);
        lm = NULL;
    }
    char ex[512], hu[512];
    et__st s = et__stats(t, load_reps);
    snprintf(ex, sizeof ex, ",\"resident_before\":%.4f", resident);
    snprintf(hu, sizeof hu, "load after dropping the file from the page cache (at most %.1f%% of it was still cached)",
             100 * resident);
    et__emit(&c, "load_cold", 0, load_reps, s, ex, hu);
    s = et__stats(t2, load_reps);
    snprintf(ex, sizeof ex, ",\"n_prompt\":%d", d.ttft_prompt);
    snprintf(hu, sizeof hu, "first token after a cold load (%d-token prompt, weights paged in)", d.ttft_prompt);
    et__emit(&c, "ttft_cold", 0, load_reps, s, ex, hu);

    /* 4. warm loads: the file is in the page cache now (the least cached fraction is reported) */
    double warm_res = 1;
    for (int r = 0; r < load_reps; r++) {
        double res = et__resident(path);
        if (isnan(res)) { fprintf(stderr, "edgetune bench decode: %s: mincore failed\n", path); goto done; }
        if (res < warm_res) warm_res = res;
        double t0 = et__now();
        if (et_lm_load(path, &lo, &lm, err, sizeof err)) { fprintf(stderr, "edgetune bench decode: %s\n", err); goto done; }
        t[r] = et__now() - t0;
        if (r + 1 < load_reps) { et_lm_free(lm); lm = NULL; }
    }
    snprintf(ex, sizeof ex, ",\"resident_before\":%.4f", warm_res);
    snprintf(hu, sizeof hu, "load with the file in the page cache (at least %.1f%% of it cached)", 100 * warm_res);
    et__emit(&c, "load_warm", 0, load_reps, et__stats(t, load_reps), ex, hu);

    /* 5. warm-up, then time to first token on the loaded model */
    et__ids(ids, maxn, info.vocab, 7);
    if (et__gen(lm, ids, d.pp, 1, out, &st) || et__gen(lm, ids, 1, d.tg + 1, out, &st)) goto done;
    for (int r = 0; r < d.reps; r++) {
        et__ids(ids, d.ttft_prompt, info.vocab, 200 + (uint64_t)r);
        if (et__gen(lm, ids, d.ttft_prompt, 1, out, &st)) goto done;
        t[r] = st.prefill_s;
    }
    s = et__stats(t, d.reps);
    snprintf(ex, sizeof ex, ",\"n_prompt\":%d", d.ttft_prompt);
    snprintf(hu, sizeof hu, "time to first token, %d-token prompt, model loaded", d.ttft_prompt);
    et__emit(&c, "ttft_warm", 0, d.reps, s, ex, hu);

    /* 6. prefill */
    et__ids(ids, maxn, info.vocab, 8);
    for (int r = 0; r < d.reps; r++) {
        if (et__gen(lm, ids, d.pp, 1, out, &st)) goto done;
        t[r] = st.prefill_s;
    }
    s = et__stats(t, d.reps);
    char test[32];
    snprintf(test, sizeof test, "pp%d", d.pp);
    snprintf(ex, sizeof ex, ",\"tokens_per_s\":%.3f", d.pp / s.median);
    snprintf(hu, sizeof hu, "%.1f tokens/s", d.pp / s.median);
    et__emit(&c, test, d.pp, d.reps, s, ex, hu);

    /* 7. decode: per-token time of tg steps after a 1-token prompt */
    for (int r = 0; r < d.reps; r++) {
        if (et__gen(lm, ids + r % maxn, 1, d.tg + 1, out, &st)) goto done;
        t[r] = st.decode_s / d.tg;
    }
    s = et__stats(t, d.reps);
    double burst = 1.0 / s.median;
    /* step i (1..tg) reads the cache at 1 + i positions: mean 1 + (tg + 1) / 2 */
    double kv_mean = (double)info.kv_bytes_per_token * (1.0 + (d.tg + 1) / 2.0);
    double bytes = (double)info.decode_weight_bytes + kv_mean, gbps = bytes * burst / 1e9;
    size_t llc = et_bench_llc_bytes();
    bool fits = llc && info.weight_bytes < llc;
    snprintf(test, sizeof test, "tg%d", d.tg);
    snprintf(ex, sizeof ex, ",\"tokens_per_s\":%.3f,\"bytes_per_token\":%.0f,\"gbps\":%.6f,\"limit\":\"read_bw\","
             "\"limit_value\":%.3f,\"frac_limit\":%.6f,\"fits_llc\":%s", burst, bytes, gbps, bw, gbps / bw,
             fits ? "true" : "false");
    snprintf(hu, sizeof hu, "%.1f tokens/s, %.2f MB read per token = %.2f GB/s, %.1f%% of the read bandwidth%s", burst,
             bytes / 1e6, gbps, 100 * gbps / bw, fits ? " (weights fit in the last-level cache)" : "");
    et__emit(&c, test, d.tg, d.reps, s, ex, hu);

    /* 8. KV cache */
    snprintf(ex, sizeof ex, ",\"bytes_per_token\":%zu,\"n_ctx\":%d,\"bytes_at_pp\":%zu,\"bytes_at_n_ctx\":%zu",
             info.kv_bytes_per_token, info.n_ctx, info.kv_bytes_per_token * (size_t)d.pp,
             info.kv_bytes_per_token * (size_t)info.n_ctx);
    snprintf(hu, sizeof hu, "%.1f KiB per token: %.2f MiB at %d tokens, %.2f MiB at the full context of %d (f32)",
             info.kv_bytes_per_token / 1024.0, info.kv_bytes_per_token * (double)d.pp / 1048576.0, d.pp,
             info.kv_bytes_per_token * (double)info.n_ctx / 1048576.0, info.n_ctx);
    et__emit(&c, "kv_cache", 0, 0, (et__st){ NAN, NAN, NAN }, ex, hu);

    /* 9. sustained: tg-token runs back to back for sustain_s seconds */
    {
        int cap = 64, n = 0;
        double *per = malloc((size_t)cap * sizeof *per), tok_time = 0, t0 = et__now();
        if (!per) { fprintf(stderr, "edgetune bench decode: out of memory\n"); goto done; }
        do {
            if (et__gen(lm, ids + n % maxn, 1, d.tg + 1, out, &st)) { free(per); goto done; }
            if (n == cap) {
                double *np = realloc(per, (size_t)(cap *= 2) * sizeof *per);
                if (!np) { free(per); fprintf(stderr, "edgetune bench decode: out of memory\n"); goto done; }
                per = np;
            }
            per[n++] = st.decode_s / d.tg;
            tok_time += st.decode_s;
        } while (et__now() - t0 < d.sustain_s);
        double wall = et__now() - t0, tps = (double)n * d.tg / tok_time;
        int k = n / 10 > 0 ? n / 10 : 1;
        double first = 0, last = 0;
        for (int i = 0; i < k; i++) first += per[i], last += per[n - 1 - i];
        first = k / first, last = k / last;
        s = et__stats(per, n);
        free(per);
        snprintf(ex, sizeof ex, ",\"seconds\":%.3f,\"runs\":%d,\"tokens\":%d,\"tokens_per_s\":%.3f,"
                 "\"first_tokens_per_s\":%.3f,\"last_tokens_per_s\":%.3f,\"burst_tokens_per_s\":%.3f,"
                 "\"frac_burst\":%.4f", wall, n, n * d.tg, tps, first, last, burst, tps / burst);
        snprintf(hu, sizeof hu, "%.1f tokens/s over %.1f s (%d runs of %d; first tenth %.1f, last tenth %.1f tokens/s), "
                 "%.0f%% of burst", tps, wall, n, d.tg, first, last, 100 * tps / burst);
        et__emit(&c, "sustained", d.tg, n, s, ex, hu);
    }
    rc = 0;
done:
    et_lm_free(lm);
    if (tmp) unlink(path);
    free(ids);
    free(out);
    free(t);
    free(t2);
    return rc;
}
