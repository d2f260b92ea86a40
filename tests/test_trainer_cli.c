/* `edgetune finetune` end to end, and kill-and-resume bit-identity.
 *
 * The test writes a tiny Llama GGUF (et_llama_to_gguf, 2 layers, dim 64) whose tokenizer is
 * a SentencePiece-style vocabulary built from arrays (<unk> <s> </s>, the 256 byte-fallback
 * tokens, '▁' and the 26 lowercase letters), and a JSON-lines file of prompt/answer pairs
 * (letter sequences with a fixed stride; the answer continues them).  It then runs the
 * edgetune binary ($ET, or ../edgetune next to this test) as a child process:
 *   - LoRA for a few steps: exit 0, the adapter file is a GGUF with the LoRA tensors, and
 *     the loss fell (a stride task is learnable; the bound is only "below the first loss");
 *   - argument and data errors: exit status 2 / 1 with a message naming the option or the
 *     file:line and field;
 *   - --mem-limit too small: refused with both figures before training;
 *   - kill-and-resume: one uninterrupted run (checkpoint every step), then the same command
 *     with --resume started again and again and SIGKILLed after a random delay until it
 *     finishes.  ET_CKPT_TEST_DELAY_US makes every checkpoint write pause half way, so many
 *     kills land inside a write (seen as leftover temporary files).  The resumed run's
 *     adapter and final checkpoint must equal the uninterrupted run's byte for byte.
 * The kill delays come from a seed printed at the start (ET_TEST_SEED=N reproduces them).
 */
#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "io/gguf.h"
#include "llama_gguf.h"
#include "adapter_io.h"

static char dir[256], et_bin[512], model[300], data[300];

static bool write_model(void) {
    /* tokenizer: 3 specials, 256 bytes, '▁', a..z */
    enum { NV = 3 + 256 + 1 + 26 };
    static char strs[NV][16];
    static et_gguf_str toks[NV];
    static float scores[NV];
    static int32_t types[NV];
    int n = 0;
    const char *spec[] = { "<unk>", "<s>", "</s>" };
    for (int i = 0; i < 3; i++) { snprintf(strs[n], 16, "%s", spec[i]); types[n] = i == 0 ? 2 : 3; n++; }
    for (int b = 0; b < 256; b++) { snprintf(strs[n], 16, "<0x%02X>", b); types[n] = 6; n++; }
    snprintf(strs[n], 16, "\xe2\x96\x81"); types[n] = 1; scores[n] = -1; n++;
    for (int c = 0; c < 26; c++) { snprintf(strs[n], 16, "%c", 'a' + c); types[n] = 1; scores[n] = -2 - c; n++; }
    for (int i = 0; i < NV; i++) toks[i] = (et_gguf_str){ strs[i], strlen(strs[i]) };

    const et_llama_config cfg = { .vocab = NV, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                                  .head_dim = 16, .ffn = 128, .max_seq = 64, .rope_theta = 10000.0f,
                                  .rms_eps = 1e-5f };
    et_ctx *ctx = et_ctx_new(1 << 12);
    et_llama m;
    if (!et_llama_init(&m, ctx, &cfg, 9, 0)) { et_ctx_free(ctx); return false; }
    et_gguf_writer *w = et_gguf_writer_new();
    et_llama_to_gguf(&m, w, "tiny");
    et_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    et_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", ET_GGUF_STR, toks, NV);
    et_gguf_writer_set_arr(w, "tokenizer.ggml.scores", ET_GGUF_F32, scores, NV);
    et_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", ET_GGUF_I32, types, NV);
    et_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    et_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    et_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    char err[512];
    int rc = et_gguf_writer_write(w, model, err, sizeof err);
    if (rc) printf("  write model: %s\n", err);
    et_gguf_writer_free(w);
    et_ctx_free(ctx);

    FILE *f = fopen(data, "w");
    if (!f) return false;
    for (int i = 0; i < 64; i++) {
        int s = (i * 7) % 26, k = 1 + i % 3;
        char p[16], a[8];
        for (int t = 0; t < 6; t++) p[t] = (char)('a' + (s + k * t) % 26);
        p[6] = 0;
        for (int t = 0; t < 2; t++) a[t] = (char)('a' + (s + k * (6 + t)) % 26);
        a[2] = 0;
        fprintf(f, "{\"prompt\": \"%s\", \"answer\": \"%s\"}\n", p, a);
    }
    fclose(f);
    return rc == 0;
}

/* Leftover temporary checkpoint files (prefix) in dir: counted, and removed when `remove`. */
static int tmp_files(const char *prefix, bool remove) {
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix))) continue;
        n++;
        if (remove) {
            char p[600];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d) closedir(d);
    return n;
}

/* Start $ET with args (NULL-terminated), its output to log. */
static pid_t spawn(const char *log, const char *const *args) {
    const char *argv[64];
    int n = 0;
    argv[n++] = et_bin;
    for (int i = 0; args[i] && n < 63; i++) argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
        execv(et_bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int status_of(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st); }

/* Run $ET with args; kill after kill_ms (< 0: never).  Returns the exit status, or -SIGNAL
 * when killed. */
static int run(const char *log, int kill_ms, const char *const *args) {
    pid_t pid = spawn(log, args);
    if (pid < 0) return -1000;
    int st;
    if (kill_ms >= 0) {
        struct timespec ts = { kill_ms / 1000, (kill_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    waitpid(pid, &st, 0);
    return status_of(st);
}

/* Run $ET and SIGKILL it by its progress, not by the clock (a shared machine makes run
 * times vary 5x): after `writes` checkpoint writes have begun (a temporary file named
 * `tmp_prefix`… appeared), kill either during that write (inside_write) or once it has been
 * renamed into place plus `after_us` microseconds.  Each write lasts at least the
 * ET_CKPT_TEST_DELAY_US the test sets, so polling every 0.2 ms sees every one.  Returns the
 * exit status, or -SIGKILL. */
static int run_kill_after_writes(const char *log, const char *tmp_prefix, int writes, bool inside_write,
                                 int after_us, const char *const *args) {
    pid_t pid = spawn(log, args);
    if (pid < 0) return -1000;
    int st, seen = 0;
    bool was = false;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid) return status_of(st);
        bool now = tmp_files(tmp_prefix, false) > 0;
        if (now && !was) seen++;
        if (seen >= writes && (inside_write ? now : !now)) break;
        was = now;
        nanosleep(&(struct timespec){ 0, 200000L }, NULL);
    }
    if (!inside_write && after_us > 0) nanosleep(&(struct timespec){ 0, after_us * 1000L }, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return status_of(st);
}

static bool file_has(const char *path, const char *needle) {
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strstr(buf, needle) != NULL;
}

static long file_bytes(const char *path, uint8_t *buf, long cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long n = (long)fread(buf, 1, (size_t)cap, f);
    fclose(f);
    return n;
}

static char log_path[300];

static void test_finetune_lora(void) {
    char out[300];
    snprintf(out, sizeof out, "%s/lora.gguf", dir);
    const char *args[] = { "finetune", "--model", model, "--data", data, "--method", "lora", "--rank", "4",
                           "--steps", "30", "--lr", "1e-2", "--batch", "8", "--eval-every", "15",
                           "--out", out, NULL };
    int rc = run(log_path, -1, args);
    CHECK(rc == 0, "finetune exited %d (see %s)", rc, log_path);
    CHECK(file_has(log_path, "plan: ") && file_has(log_path, "trained 30 steps") &&
          file_has(log_path, "eval at step 30"), "expected plan, eval and summary lines in %s", log_path);
    /* the loss fell: parse "loss A -> B" */
    static char buf[1 << 16];
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    const char *p = strstr(buf, "trained 30 steps");
    float a = 0, b = 0;
    CHECK(p && sscanf(strstr(p, "loss "), "loss %f -> %f", &a, &b) == 2 && b < a, "loss did not fall: %.4f -> %.4f",
          a, b);
    printf("  lora via CLI: loss %.3f -> %.3f\n", a, b);
    et_adapter ad = {0};
    char err[256];
    CHECK(et_adapter_load(out, NULL, &ad, err, sizeof err) == 0, "adapter: %s", err);
    CHECK(ad.n == 2 * 7 * 2 && !strcmp(ad.method, "lora") && ad.rank == 4 &&
          et_adapter_find(&ad, "blk.1.ffn_down.weight.lora_b"),
          "adapter: %lld tensors (want 28: 2 layers x 7 targets x A,B), method '%s', rank %d", (long long)ad.n,
          ad.method, ad.rank);
    et_adapter_free(&ad);
}

static void test_finetune_errors(void) {
    const char *a1[] = { "finetune", "--model", model, "--data", data, "--method", "bogus", NULL };
    CHECK(run(log_path, -1, a1) == 2 && file_has(log_path, "--method 'bogus'"), "bad method");
    const char *a2[] = { "finetune", "--model", model, "--data", data, "--rank", "0", NULL };
    CHECK(run(log_path, -1, a2) == 2 && file_has(log_path, "--rank '0'"), "bad rank");
    const char *a3[] = { "finetune", "--model", model, "--data", data, "--method", "qlora", "--base", "q8_0", NULL };
    CHECK(run(log_path, -1, a3) == 2 && file_has(log_path, "qlora"), "qlora with q8_0");
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", dir);
    FILE *f = fopen(bad, "w");
    fprintf(f, "{\"prompt\": \"abc\", \"answer\": \"d\"}\n{\"prompt\": \"abc\"}\n");
    fclose(f);
    const char *a4[] = { "finetune", "--model", model, "--data", bad, "--steps", "1", NULL };
    CHECK(run(log_path, -1, a4) == 1 && file_has(log_path, "bad.jsonl:2: field \"answer\""), "bad data line");
    const char *a5[] = { "finetune", "--model", model, "--data", data, "--steps", "1", "--mem-limit", "64K", NULL };
    CHECK(run(log_path, -1, a5) == 1 && file_has(log_path, "memory limit: the run needs") &&
          file_has(log_path, "limit is 0.1 MiB"), "mem-limit refusal (see %s)", log_path);
    const char *a6[] = { "finetune", "--model", data, "--data", data, "--steps", "1", NULL };
    CHECK(run(log_path, -1, a6) == 1 && file_has(log_path, "data.jsonl"), "a non-GGUF model is refused by name");
}

static void test_methods_cli(void) {
    const char *methods[] = { "qlora", "ia3", "prompt", "full" };
    for (int i = 0; i < 4; i++) {
        char out[300];
        snprintf(out, sizeof out, "%s/%s.gguf", dir, methods[i]);
        const char *args[] = { "finetune", "--model", model, "--data", data, "--method", methods[i], "--steps", "3",
                               "--batch", "4", "--out", out, NULL };
        int rc = run(log_path, -1, args);
        CHECK(rc == 0 && access(out, F_OK) == 0, "%s: exit %d (see %s)", methods[i], rc, log_path);
        if (rc || i == 3) continue;
        et_adapter ad = {0};
        char err[256];
        CHECK(et_adapter_load(out, NULL, &ad, err, sizeof err) == 0 && !strcmp(ad.method, methods[i]) &&
              !strcmp(ad.base_type, i == 0 ? "nf4" : "stored"), "%s: adapter method '%s' base '%s' %s", methods[i],
              ad.method, ad.base_type, err);
        et_adapter_free(&ad);
    }
    /* full fine-tuning writes a whole model that loads again, tokenizer included */
    char full[300], err[256];
    snprintf(full, sizeof full, "%s/full.gguf", dir);
    et_gguf *g = NULL;
    CHECK(et_gguf_open(full, &g, err, sizeof err) == 0, "full: %s", err);
    if (g) {
        et_ctx *ctx = et_ctx_new(1 << 12);
        et_llama m;
        CHECK(et_llama_from_gguf(&m, ctx, g, err, sizeof err) == 0, "full model: %s", err);
        CHECK(et_gguf_find(g, "tokenizer.ggml.tokens") != NULL, "full model lacks its tokenizer");
        et_ctx_free(ctx);
        et_gguf_close(g);
    }
}

/* "plan: X MiB planned peak" and "loss A -> B" of the log */
static bool log_figures(double *planned, char *losses, size_t cap) {
    static char buf[1 << 16];
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    const char *p = strstr(buf, "plan: "), *l = strstr(buf, ": loss ");
    const char *e = l ? strchr(l, '\n') : NULL;
    if (!p || !l || !e || sscanf(p, "plan: %lf MiB planned peak", planned) != 1) return false;
    snprintf(losses, cap, "%.*s", (int)(e - l - 2), l + 2);
    return true;
}

/* --recompute-mlp: the same arithmetic (bit-identical losses: the recomputed gate and up
 * products are the kept ones), a smaller plan */
static void test_recompute_mlp_cli(void) {
    double plain = 0, mlp = 0;
    char lp[128] = "", lm[128] = "";
    const char *a[] = { "finetune", "--model", model, "--data", data, "--method", "lora", "--steps", "3", "--batch",
                        "64", "--lr", "1e-2", NULL, NULL };
    int rc = run(log_path, -1, a);
    bool ok = rc == 0 && log_figures(&plain, lp, sizeof lp);
    CHECK(ok, "plain run: exit %d (see %s)", rc, log_path);
    a[13] = "--recompute-mlp";
    rc = run(log_path, -1, a);
    ok = ok && rc == 0 && log_figures(&mlp, lm, sizeof lm);
    CHECK(ok, "--recompute-mlp run: exit %d (see %s)", rc, log_path);
    if (!ok) return;
    printf("  planned peak %.1f MiB -> %.1f MiB with --recompute-mlp; %s\n", plain, mlp, lm);
    CHECK(!strcmp(lp, lm), "losses differ: '%s' vs '%s'", lp, lm);
    CHECK(mlp < plain, "--recompute-mlp plans %.1f MiB, no less than %.1f MiB", mlp, plain);
}

static uint8_t bufa[1 << 20], bufb[1 << 20];

static void test_kill_resume(void) {
    char ca[300], cb[300], oa[300], ob[300];
    snprintf(ca, sizeof ca, "%s/a.ckpt", dir);
    snprintf(cb, sizeof cb, "%s/b.ckpt", dir);
    snprintf(oa, sizeof oa, "%s/a.gguf", dir);
    snprintf(ob, sizeof ob, "%s/b.gguf", dir);
#define ARGS(ck, out)                                                                                          \
    { "finetune", "--model", model, "--data", data, "--method", "lora", "--rank", "4", "--dropout", "0.1",      \
      "--steps", "24", "--schedule", "cosine", "--warmup", "3", "--batch", "4", "--accum", "2", "--lr", "1e-2", \
      "--ckpt", ck, "--ckpt-every", "1", "--resume", "--out", out, NULL }
    const char *a[] = ARGS(ca, oa);
    const char *b[] = ARGS(cb, ob);
    setenv("ET_CKPT_TEST_DELAY_US", "15000", 1);
    double t0 = (double)clock_gettime(CLOCK_MONOTONIC, &(struct timespec){0});
    struct timespec s0, s1;
    clock_gettime(CLOCK_MONOTONIC, &s0);
    int rc = run(log_path, -1, a);
    clock_gettime(CLOCK_MONOTONIC, &s1);
    (void)t0;
    int full_ms = (int)((s1.tv_sec - s0.tv_sec) * 1000 + (s1.tv_nsec - s0.tv_nsec) / 1000000);
    CHECK(rc == 0, "uninterrupted run exited %d (see %s)", rc, log_path);
    if (rc) return;
    unsigned seed = getenv("ET_TEST_SEED") ? (unsigned)atoi(getenv("ET_TEST_SEED")) : (unsigned)time(NULL);
    printf("  uninterrupted run: %d ms; kill seed %u (ET_TEST_SEED)\n", full_ms, seed);
    srand(seed);
    int kills = 0, attempts = 0, tmp_left = 0;
    for (; attempts < 60; attempts++) {
        /* each attempt dies after 1..3 more checkpoint writes (24 steps, one write each):
         * every other kill lands inside a write, the others between writes; from attempt 40
         * the run is left to finish */
        bool inside = attempts % 2;
        int writes = 1 + rand() % 3;
        rc = attempts < 40 ? run_kill_after_writes(log_path, "b.ckpt.tmp.", writes, inside, rand() % 5000, b)
                           : run(log_path, -1, b);
        if (rc == 0) break;
        if (rc != -SIGKILL) { CHECK(0, "resumed run exited %d (see %s)", rc, log_path); break; }
        kills++;
        tmp_left += tmp_files("b.ckpt.tmp.", true);
    }
    unsetenv("ET_CKPT_TEST_DELAY_US");
    printf("  %d kills (%d inside a checkpoint write), finished on attempt %d\n", kills, tmp_left, attempts + 1);
    CHECK(rc == 0, "the resumed run never finished");
    CHECK(kills >= 3, "only %d kills landed: the test did not exercise resuming", kills);
    CHECK(tmp_left >= 1, "no kill landed inside a checkpoint write (%d kills)", kills);
    long na = file_bytes(oa, bufa, sizeof bufa), nb = file_bytes(ob, bufb, sizeof bufb);
    CHECK(na > 0 && na == nb && memcmp(bufa, bufb, (size_t)na) == 0, "adapters differ (%ld vs %ld bytes)", na, nb);
    na = file_bytes(ca, bufa, sizeof bufa);
    nb = file_bytes(cb, bufb, sizeof bufb);
    CHECK(na > 0 && na == nb && memcmp(bufa, bufb, (size_t)na) == 0, "final checkpoints differ (%ld vs %ld bytes)",
          na, nb);
}

int main(int argc, char **argv) {
    (void)argc;
    const char *et = getenv("ET");
    if (et && et[0] == '/') snprintf(et_bin, sizeof et_bin, "%s", et);
    else if (et) {
        char cwd[256];
        snprintf(et_bin, sizeof et_bin, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : ".", et);
    } else {
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s", argv[0]);
        snprintf(et_bin, sizeof et_bin, "%s/../edgetune", dirname(tmp));
    }
    if (access(et_bin, X_OK)) { printf("FAIL edgetune binary not found at %s\n", et_bin); return 1; }
    snprintf(dir, sizeof dir, "%s/tmp-test-trainer-cli-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) { printf("FAIL mkdtemp\n"); return 1; }
    snprintf(model, sizeof model, "%s/tiny.gguf", dir);
    snprintf(data, sizeof data, "%s/data.jsonl", dir);
    snprintf(log_path, sizeof log_path, "%s/run.log", dir);
    if (!write_model()) { printf("FAIL could not write the tiny model\n"); return 1; }
    RUN(test_finetune_lora);
    RUN(test_finetune_errors);
    RUN(test_methods_cli);
    RUN(test_recompute_mlp_cli);
    RUN(test_kill_resume);
    int failed = DONE();
    if (!failed) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd)) {}
    } else {
        printf("  files kept in %s\n", dir);
    }
    return failed;
}
