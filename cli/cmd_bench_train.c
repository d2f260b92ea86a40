/* `edgetune bench train`: training throughput and memory of edgetune against a PyTorch
 * reference of the same Llama + LoRA step (tests/py/bench_train_torch.py), each
 * configuration in its own process so peak RSS is per configuration, all in the same run.
 *
 * Default configuration (issue 4): dim 512, 8 layers, 8 heads, ffn 1376, vocab 32000,
 * batch 4 × 256 tokens, LoRA rank 8 on q,k,v,o,gate,up,down, loss on every position.
 *   edgetune: LoRA over f32, QLoRA (NF4), LoRA over Q8_0 and Q4_0, LoRA over a bf16 base and
 *             head (the bf16-compute setting where the path has vdpbf16ps: bf16 products in the
 *             trunk's and the head's matmul and dX, f32 sums, adapters and optimizer), LoRA and
 *             QLoRA again with activation recomputation (the memory-lean setting: "recompute":
 *             true), and the study's workload (prompts of 200 tokens, answers of 16, loss and
 *             head on answers only) over f32 and over bf16 (its ratio uses the faster);
 *             "compute" says what the base's products ran in on this path (f32, bf16, int8);
 *   pytorch:  f32 and bf16 autocast, each with OMP_WAIT_POLICY unset and =passive (its best is
 *             the maximum of the four), and the study's workload in f32 and bf16.
 * Each process does one warm-up step and then N timed steps (median reported).  The edgetune
 * child times real optimizer steps through et_train_calibrate (lr 0, so weights stay put).
 * Memory: peak RSS (VmHWM) total and net of the process's idle baseline (VmRSS before the
 * model exists: for PyTorch that excludes the interpreter and libtorch).
 *
 * Output: one JSON object per line with --json, a table otherwise; then summary lines with
 * same-run ratios.  --quick: a tiny configuration for `make test` (seconds).  --device runs
 * the edgetune steps on a Vulkan device (each line says which; cpu_ms_per_step is then the
 * host's share: recording, submits, transfers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "kernels.h"
#include "llama_gguf.h"
#include "trainer.h"
#include "vulkan/vk_backend.h"

typedef struct et__bt_cfg {
    int dim, layers, heads, ffn, vocab, batch, seq, answer, steps, threads;
} et__bt_cfg;

static const et__bt_cfg et__full = { 512, 8, 8, 1376, 32000, 4, 256, 0, 3, 2 };
static const et__bt_cfg et__quick = { 64, 2, 4, 128, 512, 2, 32, 0, 2, 2 };
#define ET__STUDY_PROMPT 200
#define ET__STUDY_ANSWER 16

static size_t et__vmrss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) { kb = strtoull(line + 6, NULL, 10); break; }
    fclose(f);
    return kb * 1024;
}

/* ---------------------------------------------------------------- one edgetune run (child) */

/* What the base's products run in on this path: the kernel family (f32, bf16 or int8). */
static const char *et__bt_compute(et_type bt) {
    const char *f = et_kern_matmul_family(bt);
    return !strcmp(f, "bf16") || !strcmp(f, "int8") ? f : "f32";
}

/* The base is made as a user has it: random f32 weights, compressed to the base type and
 * written to a temporary GGUF, then loaded from it (memory-mapped) in a fresh context, so
 * neither the f32 originals nor the set-up count in the measured run.  The peak-RSS mark is
 * reset (/proc/self/clear_refs "5") after the set-up, and the idle baseline taken there. */
static int et__bt_one(const et__bt_cfg *b, const char *method, const char *base, bool recompute, bool recompute_mlp,
                      const char *device, FILE *out) {
    et_type bt = et_type_from_name(base);
    if (bt == ET_TYPE_COUNT) { fprintf(stderr, "bench train: unknown base type '%s'\n", base); return 1; }
    /* NF4 blocks 64 weights along a row: ffn_down's rows (ffn long) must be a multiple of 64,
     * so QLoRA runs with ffn rounded up (1376 -> 1408, +2.3% MLP FLOPs), and says so */
    int ffn = bt == ET_NF4 ? (b->ffn + 63) / 64 * 64 : b->ffn;
    const et_llama_config cfg = { .vocab = b->vocab, .dim = b->dim, .n_layers = b->layers, .n_heads = b->heads,
                                  .n_kv_heads = b->heads, .head_dim = b->dim / b->heads, .ffn = ffn,
                                  .max_seq = b->seq, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
    char err[512], path[64];
    snprintf(path, sizeof path, "/tmp/et-bench-train-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) { fprintf(stderr, "bench train: cannot create a temporary file: %s\n", strerror(errno)); return 1; }
    close(fd);
    {
        et_ctx *c0 = et_ctx_new(1 << 12);
        et_llama m0;
        bool ok = c0 && et_llama_init(&m0, c0, &cfg, 1, 0) && (bt == ET_F32 || et_llama_compress(&m0, bt, NULL, NULL)) &&
                  /* bf16 and QLoRA's nf4: head and embeddings in bf16 too (as edgetune finetune does) */
                  ((bt != ET_BF16 && bt != ET_NF4) || et_llama_frozen_tables_bf16(&m0));
        et_gguf_writer *w = ok ? et_gguf_writer_new() : NULL;
        if (w) et_llama_to_gguf(&m0, w, "bench");
        int rc = w ? et_gguf_writer_write(w, path, err, sizeof err) : -1;
        if (!ok) snprintf(err, sizeof err, "%s", c0 ? et_ctx_error(c0) : "out of memory");
        if (w) et_gguf_writer_free(w);
        if (c0) et_ctx_free(c0);
        if (rc) { fprintf(stderr, "bench train: base model: %s\n", err); unlink(path); return 1; }
    }
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    if (cr) { fputs("5", cr); fclose(cr); }
    size_t idle = et__vmrss();
    et_gguf *g = NULL;
    et_ctx *ctx = et_ctx_new(1 << 17);
    et_llama m;
    if (et_gguf_open(path, &g, err, sizeof err) || et_llama_from_gguf(&m, ctx, g, err, sizeof err)) {
        fprintf(stderr, "bench train: %s\n", err);
        unlink(path);
        return 1;
    }
    unlink(path);   /* the mapping keeps the bytes */
    if (!et_llama_add_lora(&m, 8, 16.0f, 0.0f, "all", 1)) {
        fprintf(stderr, "bench train: lora: %s\n", et_ctx_error(ctx));
        return 1;
    }
    int32_t *ids = malloc((size_t)b->batch * b->seq * sizeof *ids);
    et_example *ex = malloc((size_t)b->batch * sizeof *ex);
    if (!ids || !ex) return 1;
    uint64_t s = 7;
    for (int i = 0; i < b->batch * b->seq; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((s >> 33) % (uint64_t)b->vocab);
    }
    for (int j = 0; j < b->batch; j++)
        ex[j] = (et_example){ ids + (size_t)j * b->seq, b->seq, b->answer > 0 ? b->answer : b->seq - 1 };
    et_train_cfg c = et_train_defaults();
    c.batch = b->batch;
    c.seq_len = b->seq;
    c.n_threads = b->threads;
    c.opt.lr = 1e-4f;
    c.device = device;
    c.recompute = recompute;
    c.recompute_mlp = recompute_mlp;
    double sec = 0, cpu = 0;
    if (et_train_calibrate(&m, &c, ex, b->batch, b->steps, &sec, &cpu, err, sizeof err)) {
        fprintf(stderr, "bench train: %s\n", err);
        return 1;
    }
    size_t peak = et_train_peak_rss();
    fprintf(out,
            "{\"engine\": \"edgetune\", \"method\": \"%s\", \"base\": \"%s\", \"compute\": \"%s\", \"recompute\": %s, "
            "\"recompute_mlp\": %s, "
            "\"loss_positions\": \"%s\", \"batch\": %d, \"seq\": %d, \"dim\": %d, \"ffn\": %d, "
            "\"tokens_per_s\": %.1f, \"ms_per_step\": %.2f, \"cpu_ms_per_step\": %.2f, "
            "\"steps\": %d, \"peak_rss_bytes\": %zu, \"idle_rss_bytes\": %zu, \"peak_rss_net_bytes\": %zu, "
            "\"threads\": %d, \"device\": \"%s\"}\n",
            method, base, et__bt_compute(bt), recompute ? "true" : "false", recompute_mlp ? "true" : "false", b->answer > 0 ? "answer" : "all", b->batch, b->seq, b->dim, ffn, b->batch * b->seq / sec,
            sec * 1e3, cpu * 1e3, b->steps, peak, idle, peak - idle, b->threads, device);
    fflush(out);
    free(ids);
    free(ex);
    et_ctx_free(ctx);
    et_gguf_close(g);
    return 0;
}

/* ---------------------------------------------------------------- the driver (parent) */

typedef struct et__bt_row {
    char   engine[16], method[16], base[16], compute[8], pos[8], wait[12], device[16];
    bool   recompute, recompute_mlp;
    double tok_s, ms, cpu_ms;
    double peak, net;
    bool   ok;
} et__bt_row;

static double et__jnum(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(line, k);
    return p ? strtod(p + strlen(k), NULL) : -1;
}

static void et__jstr(const char *line, const char *key, char *out, size_t cap) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": \"", key);
    const char *p = strstr(line, k);
    out[0] = 0;
    if (!p) return;
    p += strlen(k);
    size_t n = 0;
    while (p[n] && p[n] != '"' && n + 1 < cap) n++;
    memcpy(out, p, n);
    out[n] = 0;
}

/* Run argv in a child (env: OMP_WAIT_POLICY=wait when non-NULL), read its last JSON line. */
static bool et__bt_spawn(char *const *argv, const char *wait, char *line, size_t cap) {
    int fd[2];
    if (pipe(fd)) return false;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 1);
        close(fd[1]);
        if (wait) setenv("OMP_WAIT_POLICY", wait, 1);
        else unsetenv("OMP_WAIT_POLICY");
        execv(argv[0], argv);
        fprintf(stderr, "bench train: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fd[1]);
    if (pid < 0) { close(fd[0]); return false; }
    FILE *f = fdopen(fd[0], "r");
    char buf[2048];
    line[0] = 0;
    while (f && fgets(buf, sizeof buf, f))
        if (buf[0] == '{') snprintf(line, cap, "%s", buf);
    if (f) fclose(f);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && line[0];
}

#define ET__BT_ROUNDS_MAX 9

static double et__bt_median(double *v, int n) {   /* sorts v */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) { double t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void et__bt_usage(FILE *f) {
    fprintf(f, "usage: edgetune bench train [--json] [--quick | --core] [--steps N] [--threads N] [--no-torch]\n"
               "                            [--rounds N] [--torch-script tests/py/bench_train_torch.py] [--out FILE]\n"
               "                            [--device cpu|vulkan[:N]|auto]   (where the edgetune steps run)\n"
               "  --rounds N: run the whole list N times, interleaved, and take each row's median over the\n"
               "              rounds for the ratios (default 3; 1 with --quick): on a shared machine one\n"
               "              round's engine-to-engine ratio moved by a third between runs\n");
}

int et_cmd_bench_train(int argc, char **argv) {
    bool json = false, quick = false, torch = true, core = false;
    const char *script = "tests/py/bench_train_torch.py", *outp = NULL, *one = NULL, *device = "cpu";
    int steps = 0, threads = 0, answer = 0, rounds = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quick")) quick = true;
        else if (!strcmp(a, "--no-torch")) torch = false;
        else if (!strcmp(a, "--core")) core = true;
        else if (!strcmp(a, "--torch-script") && i + 1 < argc) script = argv[++i];
        else if (!strcmp(a, "--out") && i + 1 < argc) outp = argv[++i];
        else if (!strcmp(a, "--one") && i + 1 < argc) one = argv[++i];   /* internal: child mode */
        else if (!strcmp(a, "--answer") && i + 1 < argc) answer = atoi(argv[++i]);
        else if (!strcmp(a, "--device") && i + 1 < argc) {
            device = argv[++i];
            char e[200];
            if (!et_backend_spec_ok(device, e, sizeof e)) { fprintf(stderr, "bench train: %s\n", e); return 2; }
        }
        else if (!strcmp(a, "--steps") && i + 1 < argc) {
            steps = atoi(argv[++i]);
            if (steps < 1 || steps > 1000) { fprintf(stderr, "bench train: --steps must be 1..1000\n"); return 2; }
        } else if (!strcmp(a, "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
            if (threads < 1 || threads > 1024) { fprintf(stderr, "bench train: --threads must be 1..1024\n"); return 2; }
        } else if (!strcmp(a, "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
            if (rounds < 1 || rounds > ET__BT_ROUNDS_MAX) {
                fprintf(stderr, "bench train: --rounds must be 1..%d\n", ET__BT_ROUNDS_MAX);
                return 2;
            }
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { et__bt_usage(stdout); return 0; }
        else { et__bt_usage(stderr); return 2; }
    }
    et__bt_cfg cfg = quick ? et__quick : et__full;
    if (steps) cfg.steps = steps;
    if (threads) cfg.threads = threads;
    if (one) {   /* child: "method:base" (the method's default: QLoRA recomputes the MLP's gate and
                  up products, as finetune), "method:base:rc" (checkpointing), ":mlp" (the MLP
                  recomputed) or ":keep" (not) */
        char method[16], base[16], rc[8] = "";
        if (sscanf(one, "%15[^:]:%15[^:]:%7s", method, base, rc) < 2 || (rc[0] && strcmp(rc, "rc") && strcmp(rc, "mlp") && strcmp(rc, "keep"))) {
            fprintf(stderr, "bench train: --one '%s'\n", one);
            return 2;
        }
        cfg.answer = answer;
        if (answer > 0) cfg.seq = (quick ? 24 : ET__STUDY_PROMPT) + answer;
        bool mlp = !strcmp(rc, "mlp") || (!rc[0] && !strcmp(method, "qlora"));
        return et__bt_one(&cfg, method, base, !strcmp(rc, "rc"), mlp, device, stdout);
    }
    FILE *out = stdout;
    if (outp && !(out = fopen(outp, "w"))) { fprintf(stderr, "bench train: %s: %s\n", outp, strerror(errno)); return 1; }

    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) { fprintf(stderr, "bench train: cannot find my own executable\n"); return 1; }
    self[n] = 0;
    char s_steps[16], s_thr[16], s_ans[16], s_seq[16], s_dim[16], s_lay[16], s_head[16], s_ffn[16], s_voc[16],
        s_bat[16];
    snprintf(s_steps, sizeof s_steps, "%d", cfg.steps);
    snprintf(s_thr, sizeof s_thr, "%d", cfg.threads);
    snprintf(s_ans, sizeof s_ans, "%d", quick ? 8 : ET__STUDY_ANSWER);
    snprintf(s_seq, sizeof s_seq, "%d", cfg.seq);
    snprintf(s_dim, sizeof s_dim, "%d", cfg.dim);
    snprintf(s_lay, sizeof s_lay, "%d", cfg.layers);
    snprintf(s_head, sizeof s_head, "%d", cfg.heads);
    snprintf(s_ffn, sizeof s_ffn, "%d", cfg.ffn);
    snprintf(s_voc, sizeof s_voc, "%d", cfg.vocab);
    snprintf(s_bat, sizeof s_bat, "%d", cfg.batch);
    char s_studyseq[16];
    snprintf(s_studyseq, sizeof s_studyseq, "%d", (quick ? 24 : ET__STUDY_PROMPT) + (quick ? 8 : ET__STUDY_ANSWER));

    /* quick: one run per engine and workload for `make test` (the plumbing: LoRA with
     * recomputation and the bf16 rows of both engines included); core: no Q8_0/Q4_0 bases,
     * no OMP_WAIT_POLICY=passive variants */
    struct { const char *engine, *spec, *wait; bool study, quick, core; } runs[] = {
        { "edgetune", "lora:f32", NULL, false, true, true },
        { "edgetune", "qlora:nf4", NULL, false, true, true },
        { "edgetune", "lora:q8_0", NULL, false, false, false },
        { "edgetune", "lora:q4_0", NULL, false, false, false },
        { "edgetune", "lora:bf16", NULL, false, true, true },
        { "edgetune", "lora:f32", NULL, true, true, true },
        { "edgetune", "lora:bf16", NULL, true, false, true },
        { "edgetune", "lora:f32:rc", NULL, false, true, true },
        { "edgetune", "qlora:nf4:rc", NULL, false, false, true },
        { "edgetune", "lora:f32:mlp", NULL, false, false, true },
        { "edgetune", "qlora:nf4:keep", NULL, false, false, true },
        { "pytorch", "f32", NULL, false, true, true },
        { "pytorch", "f32", "passive", false, false, false },
        { "pytorch", "bf16", NULL, false, true, true },
        { "pytorch", "bf16", "passive", false, false, false },
        { "pytorch", "f32", NULL, true, true, true },
        { "pytorch", "bf16", NULL, true, false, true },
    };
    int n_runs = (int)(sizeof runs / sizeof runs[0]);
    if (!rounds) rounds = quick ? 1 : 3;
    static et__bt_row all[ET__BT_ROUNDS_MAX][sizeof runs / sizeof runs[0]];
    et__bt_row rows[sizeof runs / sizeof runs[0]];
    int n_rows = 0, failures = 0;
    memset(all, 0, sizeof all);
    for (int k = 0; k < rounds * n_runs; k++) {
        const int r = k % n_runs, round = k / n_runs;
        bool is_torch = !strcmp(runs[r].engine, "pytorch");
        if ((is_torch && !torch) || (quick && !runs[r].quick) || (core && !runs[r].core)) continue;
        char line[2048];
        bool ok;
        if (!is_torch) {
            char *av[] = { self, "bench", "train", "--one", (char *)runs[r].spec, "--steps", s_steps, "--threads", s_thr,
                           "--answer", runs[r].study ? s_ans : "0", "--device", (char *)device,
                           quick ? "--quick" : NULL, NULL };
            ok = et__bt_spawn(av, runs[r].wait, line, sizeof line);
        } else {
            char *av[] = { "/usr/bin/python3", (char *)script, "--dtype", (char *)runs[r].spec, "--steps", s_steps,
                           "--threads", s_thr, "--dim", s_dim, "--layers", s_lay, "--heads", s_head, "--ffn", s_ffn,
                           "--vocab", s_voc, "--batch", s_bat, "--seq", runs[r].study ? s_studyseq : s_seq,
                           "--answer", runs[r].study ? s_ans : "0", NULL };
            ok = et__bt_spawn(av, runs[r].wait, line, sizeof line);
        }
        if (!ok) {
            fprintf(stderr, "bench train: the %s %s%s run failed\n", runs[r].engine, runs[r].spec,
                    runs[r].study ? " (study workload)" : "");
            failures++;
            continue;
        }
        if (json) {   /* the child's line, with its round */
            char *end = strrchr(line, '}');
            if (end && rounds > 1) fprintf(out, "%.*s, \"round\": %d}\n", (int)(end - line), line, round);
            else fputs(line, out);
            fflush(out);
        }
        et__bt_row *w = &all[round][r];
        memset(w, 0, sizeof *w);
        et__jstr(line, "engine", w->engine, sizeof w->engine);
        et__jstr(line, "method", w->method, sizeof w->method);
        et__jstr(line, "base", w->base, sizeof w->base);
        et__jstr(line, "compute", w->compute, sizeof w->compute);
        et__jstr(line, "loss_positions", w->pos, sizeof w->pos);
        snprintf(w->wait, sizeof w->wait, "%s", runs[r].wait ? runs[r].wait : "default");
        et__jstr(line, "device", w->device, sizeof w->device);
        w->recompute = strstr(line, "\"recompute\": true") != NULL;
        w->recompute_mlp = strstr(line, "\"recompute_mlp\": true") != NULL;
        if (!w->device[0]) snprintf(w->device, sizeof w->device, "cpu");
        w->tok_s = et__jnum(line, "tokens_per_s");
        w->ms = et__jnum(line, "ms_per_step");
        w->cpu_ms = et__jnum(line, "cpu_ms_per_step");
        w->peak = et__jnum(line, "peak_rss_bytes");
        w->net = et__jnum(line, "peak_rss_net_bytes");
        w->ok = true;
        if (!json)
            fprintf(out, "%-8s %-5s base %-4s compute %-4s loss %-6s omp %-7s on %-8s%s %8.0f tok/s %9.1f ms/step (cpu "
                    "%9.1f ms)  peak %7.1f MiB (net %7.1f MiB)\n", w->engine, w->method, w->base, w->compute, w->pos,
                    w->wait, w->device, w->recompute ? " recompute" : w->recompute_mlp ? " rc-mlp" : "", w->tok_s, w->ms, w->cpu_ms,
                    w->peak / 1048576.0, w->net / 1048576.0);
    }
    /* each row: its median over the rounds (per figure) */
    for (int r = 0; r < n_runs; r++) {
        double v[5][ET__BT_ROUNDS_MAX];
        int m = 0;
        const et__bt_row *first = NULL;
        for (int k = 0; k < rounds; k++) {
            const et__bt_row *w = &all[k][r];
            if (!w->ok) continue;
            if (!first) first = w;
            v[0][m] = w->tok_s, v[1][m] = w->ms, v[2][m] = w->cpu_ms, v[3][m] = w->peak, v[4][m] = w->net;
            m++;
        }
        if (!m) continue;
        et__bt_row *w = &rows[n_rows++];
        *w = *first;
        w->tok_s = et__bt_median(v[0], m);
        w->ms = et__bt_median(v[1], m);
        w->cpu_ms = et__bt_median(v[2], m);
        w->peak = et__bt_median(v[3], m);
        w->net = et__bt_median(v[4], m);
        if (!json && rounds > 1)
            fprintf(out, "median of %d: %-8s %-5s base %-4s compute %-4s loss %-6s omp %-7s%s %8.0f tok/s %9.1f "
                    "ms/step  peak %7.1f MiB (net %7.1f MiB)\n", m, w->engine, w->method, w->base, w->compute, w->pos,
                    w->wait, w->recompute ? " recompute" : w->recompute_mlp ? " rc-mlp" : "", w->tok_s, w->ms,
                    w->peak / 1048576.0, w->net / 1048576.0);
    }
    /* same-run ratios */
    const et__bt_row *et_all = NULL, *et_nf4 = NULL, *et_study = NULL, *pt_f32 = NULL, *pt_best = NULL,
                     *pt_study = NULL, *et_all_rc = NULL, *et_nf4_rc = NULL, *et_bf16 = NULL,
                     *pt_bf16 = NULL, *et_all_mlp = NULL, *et_nf4_keep = NULL;
    for (int i = 0; i < n_rows; i++) {
        const et__bt_row *w = &rows[i];
        bool all = !strcmp(w->pos, "all");
        if (!strcmp(w->engine, "edgetune") && w->recompute) {
            if (!strcmp(w->base, "f32")) et_all_rc = w;
            if (!strcmp(w->base, "nf4")) et_nf4_rc = w;
        } else if (!strcmp(w->engine, "edgetune") && !strcmp(w->base, "nf4")) {   /* QLoRA: MLP recomputed by default */
            if (w->recompute_mlp) et_nf4 = w;
            else et_nf4_keep = w;
        } else if (!strcmp(w->engine, "edgetune") && w->recompute_mlp) {
            if (!strcmp(w->base, "f32")) et_all_mlp = w;
        } else if (!strcmp(w->engine, "edgetune")) {
            if (all && !strcmp(w->base, "f32")) et_all = w;
            if (all && !strcmp(w->base, "bf16")) et_bf16 = w;
            if (!all && (!et_study || w->tok_s > et_study->tok_s)) et_study = w;
        } else {
            if (all && !strcmp(w->compute, "f32") && (!pt_f32 || w->tok_s > pt_f32->tok_s)) pt_f32 = w;
            if (all && (!pt_best || w->tok_s > pt_best->tok_s)) pt_best = w;
            if (all && !strcmp(w->compute, "bf16") && (!pt_bf16 || w->tok_s > pt_bf16->tok_s)) pt_bf16 = w;
            if (!all && (!pt_study || w->tok_s > pt_study->tok_s)) pt_study = w;
        }
    }
    const char *pre = json ? "# " : "";
    fprintf(out, "%sconfig: dim %d, %d layers, %d heads, ffn %d, vocab %d, batch %d x %d tokens, LoRA rank 8 on all "
            "linear layers, %d threads, median of %d steps; each row the median of %d interleaved rounds\n", pre,
            cfg.dim, cfg.layers, cfg.heads, cfg.ffn, cfg.vocab, cfg.batch, cfg.seq, cfg.threads, cfg.steps, rounds);
    if (et_all && pt_f32)
        fprintf(out, "%sedgetune f32 LoRA / PyTorch f32 (best wait policy): %.2fx tokens/s (%.2fx by CPU time per "
                "step); peak RSS %.2fx total, %.2fx net\n", pre, et_all->tok_s / pt_f32->tok_s,
                pt_f32->cpu_ms / et_all->cpu_ms, et_all->peak / pt_f32->peak, et_all->net / pt_f32->net);
    if (et_all && pt_best)
        fprintf(out, "%sedgetune f32 LoRA / PyTorch best (%s, %s): %.2fx tokens/s (%.2fx by CPU time)\n", pre,
                pt_best->compute, pt_best->wait, et_all->tok_s / pt_best->tok_s, pt_best->cpu_ms / et_all->cpu_ms);
    if (et_bf16 && pt_bf16)
        fprintf(out, "%sedgetune LoRA over a bf16 base, head and embeddings (bf16 products in their matmul and dX; f32 sums, "
                "adapters and attention) / PyTorch bf16 autocast (best wait policy): %.2fx tokens/s; "
                "/ edgetune f32 LoRA: %.2fx\n", pre, et_bf16->tok_s / pt_bf16->tok_s,
                et_all ? et_bf16->tok_s / et_all->tok_s : 0.0);
    if (et_nf4 && pt_f32)
        fprintf(out, "%sedgetune QLoRA-NF4 (head and embeddings bf16, the MLP's gate and up recomputed) / PyTorch f32 "
                "LoRA: %.2fx tokens/s; peak RSS %.2fx total, %.2fx net\n", pre, et_nf4->tok_s / pt_f32->tok_s,
                et_nf4->peak / pt_f32->peak, et_nf4->net / pt_f32->net);
    if (et_nf4_keep && pt_f32)
        fprintf(out, "%skeeping the MLP's gate and up: edgetune QLoRA-NF4 / PyTorch f32 LoRA: %.2fx tokens/s; peak "
                "RSS %.2fx total, %.2fx net\n", pre, et_nf4_keep->tok_s / pt_f32->tok_s,
                et_nf4_keep->peak / pt_f32->peak, et_nf4_keep->net / pt_f32->net);
    if (et_all_rc && pt_f32)
        fprintf(out, "%swith recomputation: edgetune f32 LoRA / PyTorch f32: %.2fx tokens/s; peak RSS %.2fx total, "
                "%.2fx net\n", pre, et_all_rc->tok_s / pt_f32->tok_s, et_all_rc->peak / pt_f32->peak,
                et_all_rc->net / pt_f32->net);
    if (et_nf4_rc && pt_f32)
        fprintf(out, "%swith recomputation: edgetune QLoRA-NF4 / PyTorch f32 LoRA: %.2fx tokens/s; peak RSS %.2fx total, "
                "%.2fx net\n", pre, et_nf4_rc->tok_s / pt_f32->tok_s, et_nf4_rc->peak / pt_f32->peak,
                et_nf4_rc->net / pt_f32->net);
    if (et_all_mlp && pt_f32)
        fprintf(out, "%swith the MLP's gate and up recomputed: edgetune f32 LoRA / PyTorch f32: %.2fx tokens/s; peak "
                "RSS %.2fx total, %.2fx net\n", pre, et_all_mlp->tok_s / pt_f32->tok_s, et_all_mlp->peak / pt_f32->peak,
                et_all_mlp->net / pt_f32->net);
    if (et_study && pt_study)
        fprintf(out, "%sstudy workload (answer-only loss and head): edgetune best (LoRA over %s) / PyTorch best (%s): "
                "%.2fx tokens/s (%.2fx by CPU time)\n", pre, et_study->base, pt_study->compute,
                et_study->tok_s / pt_study->tok_s, pt_study->cpu_ms / et_study->cpu_ms);
    if (out != stdout) fclose(out);
    return failures ? 1 : 0;
}
