/* `edgetune generate` and `edgetune perplexity`: thin wrappers over models/lm.h. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "lm.h"

/* Read a whole file (NUL-terminated); NULL with a message on failure. */
static char *et__slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "edgetune: %s: %s\n", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += r;
        if (cap - n < 2) { char *nb = realloc(buf, cap * 2); if (!nb) { free(buf); buf = NULL; break; } buf = nb; cap *= 2; }
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "edgetune: %s: out of memory\n", path); return NULL; }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

static int et__int_arg(const char *flag, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        fprintf(stderr, "edgetune: %s '%s' must be an integer in [%ld, %ld]\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int et__float_arg(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (*end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "edgetune: %s '%s' must be a number in [%g, %g]\n", flag, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static void et__stream(void *user, const char *text, size_t len) {
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

int et_cmd_generate(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *prompt_file = NULL, *base = NULL;
    const char *stops[17] = {0};
    int n_stop = 0;
    long max_new = 64, top_k = 0, threads = 0, seed = 0;
    double temp = 0, top_p = 1;
    bool stats = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!strcmp(a, "--model") && has) model = argv[++i];
        else if (!strcmp(a, "--prompt") && has) prompt = argv[++i];
        else if (!strcmp(a, "--prompt-file") && has) prompt_file = argv[++i];
        else if (!strcmp(a, "--base") && has) base = argv[++i];
        else if (!strcmp(a, "--stop") && has && n_stop < 16) stops[n_stop++] = argv[++i];
        else if (!strcmp(a, "--max-new") && has) { if (et__int_arg(a, argv[++i], 0, 1 << 20, &max_new)) return 2; }
        else if (!strcmp(a, "--top-k") && has) { if (et__int_arg(a, argv[++i], 0, 1 << 24, &top_k)) return 2; }
        else if (!strcmp(a, "--threads") && has) { if (et__int_arg(a, argv[++i], 0, 1024, &threads)) return 2; }
        else if (!strcmp(a, "--seed") && has) { if (et__int_arg(a, argv[++i], 0, 0x7fffffff, &seed)) return 2; }
        else if (!strcmp(a, "--temp") && has) { if (et__float_arg(a, argv[++i], 0, 100, &temp)) return 2; }
        else if (!strcmp(a, "--top-p") && has) { if (et__float_arg(a, argv[++i], 0, 1, &top_p)) return 2; }
        else if (!strcmp(a, "--stats")) stats = true;
        else {
            fprintf(stderr, "usage: edgetune generate --model M.gguf (--prompt TEXT | --prompt-file F) [--max-new N]\n"
                            "         [--temp T] [--top-k K] [--top-p P] [--seed S] [--stop STR]... [--base TYPE]\n"
                            "         [--threads N] [--stats]\n");
            return !strcmp(a, "--help") ? 0 : 2;
        }
    }
    if (!model || (!prompt == !prompt_file)) {
        fprintf(stderr, "edgetune generate: --model and exactly one of --prompt / --prompt-file are required\n");
        return 2;
    }
    char *pbuf = NULL, err[512];
    if (prompt_file && !(prompt = pbuf = et__slurp(prompt_file, NULL))) return 1;
    et_lm *lm;
    et_lm_opts o = { .base_type = base, .n_threads = (int)threads };
    if (et_lm_load(model, &o, &lm, err, sizeof err)) { fprintf(stderr, "edgetune generate: %s\n", err); free(pbuf); return 1; }
    et_sample_opts so = { .temperature = (float)temp, .top_k = (int)top_k, .top_p = (float)top_p, .seed = (uint64_t)seed,
                          .stop = n_stop ? stops : NULL, .on_text = et__stream };
    et_gen_stats st;
    int rc = et_lm_generate_ex(lm, prompt, (int)max_new, &so, NULL, 0, &st, err, sizeof err);
    printf("\n");
    if (rc) fprintf(stderr, "edgetune generate: %s\n", err);
    else if (stats)
        fprintf(stderr, "prompt %d tokens in %.3f s (%.1f tokens/s, time to first token), %d generated in %.3f s "
                        "(%.1f tokens/s), KV cache %.1f KiB\n", st.n_prompt, st.prefill_s,
                st.prefill_s > 0 ? st.n_prompt / st.prefill_s : 0, st.n_gen, st.decode_s,
                st.decode_s > 0 ? (st.n_gen > 1 ? st.n_gen - 1 : 0) / st.decode_s : 0, st.kv_bytes / 1024.0);
    et_lm_free(lm);
    free(pbuf);
    return rc ? 1 : 0;
}

int et_cmd_perplexity(int argc, char **argv) {
    const char *model = NULL, *text = NULL, *tokens = NULL, *base = NULL, *mode = "full";
    long n_ctx = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--model") && has) model = argv[++i];
        else if (!strcmp(a, "--text") && has) text = argv[++i];
        else if (!strcmp(a, "--tokens") && has) tokens = argv[++i];
        else if (!strcmp(a, "--base") && has) base = argv[++i];
        else if (!strcmp(a, "--ppl-mode") && has) mode = argv[++i];
        else if (!strcmp(a, "--ctx") && has) { if (et__int_arg(a, argv[++i], 2, 1 << 20, &n_ctx)) return 2; }
        else if (!strcmp(a, "--threads") && has) { if (et__int_arg(a, argv[++i], 0, 1024, &threads)) return 2; }
        else {
            fprintf(stderr, "usage: edgetune perplexity --model M.gguf (--text FILE | --tokens FILE) [--ppl-mode full|llama]\n"
                            "         [--ctx N] [--base TYPE] [--threads N]\n");
            return !strcmp(a, "--help") ? 0 : 2;
        }
    }
    if (!model || (!text == !tokens) || (strcmp(mode, "full") && strcmp(mode, "llama"))) {
        fprintf(stderr, "edgetune perplexity: --model, exactly one of --text / --tokens, and --ppl-mode full|llama\n");
        return 2;
    }
    char err[512];
    et_lm *lm;
    et_lm_opts o = { .base_type = base, .n_threads = (int)threads };
    if (et_lm_load(model, &o, &lm, err, sizeof err)) { fprintf(stderr, "edgetune perplexity: %s\n", err); return 1; }
    size_t len = 0;
    char *buf = et__slurp(text ? text : tokens, &len);
    int32_t *ids = NULL, n = 0;
    int rc = 1;
    if (!buf) goto done;
    if (text) {
        ids = et_lm_tokenize(lm, buf, true, &n);
        if (!ids) { fprintf(stderr, "edgetune perplexity: %s: cannot tokenize\n", text); goto done; }
    } else {
        /* whitespace-separated ids; no BOS is added */
        size_t cap = len / 2 + 2;
        ids = malloc(cap * sizeof *ids);
        char *p = buf, *end;
        while (ids) {
            while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
            if (!*p) break;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < 0 || v >= et_lm_vocab(lm)) {
                fprintf(stderr, "edgetune perplexity: %s: token %d ('%.12s') is not an id in [0, %d)\n", tokens, n, p,
                        et_lm_vocab(lm));
                goto done;
            }
            ids[n++] = (int32_t)v;
            p = end;
        }
    }
    double nll;
    int64_t count;
    if (et_lm_nll(lm, ids, n, strcmp(mode, "llama") == 0, (int)n_ctx, &nll, &count, err, sizeof err)) {
        fprintf(stderr, "edgetune perplexity: %s\n", err);
        goto done;
    }
    printf("tokens: %d, scored: %lld, mean nll: %.6f\n", n, (long long)count, nll / (double)count);
    printf("perplexity: %.4f\n", exp(nll / (double)count));
    rc = 0;
done:
    free(ids);
    free(buf);
    et_lm_free(lm);
    return rc;
}
