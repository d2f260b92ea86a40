/* `edgetune generate` and `edgetune perplexity`: thin wrappers over models/lm.h.
 *   generate    KV-cache decoding (greedy or sampled), stop strings, streaming to stdout,
 *               --chat: the prompt as one user turn in the model's chat template
 *   perplexity  full / llama windows; --kl-base: KL divergence against a base model
 * Both take --device cpu|vulkan[:N]|auto: the graphs run there or the command fails naming the
 * op the device lacks. */
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
    const char *model = NULL, *prompt = NULL, *prompt_file = NULL, *base = NULL, *device = NULL;
    const char *system = NULL, *tmpl = NULL, *profile_dir = NULL, *profile_limits = NULL;
    const char *stops[17] = {0};
    int n_stop = 0;
    long max_new = 64, top_k = 0, threads = 0, seed = 0;
    double temp = 0, top_p = 1;
    bool stats = false, chat = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!strcmp(a, "--model") && has) model = argv[++i];
        else if (!strcmp(a, "--prompt") && has) prompt = argv[++i];
        else if (!strcmp(a, "--prompt-file") && has) prompt_file = argv[++i];
        else if (!strcmp(a, "--base") && has) base = argv[++i];
        else if (!strcmp(a, "--stop") && has && n_stop < 16) stops[n_stop++] = argv[++i];
        else if (!strcmp(a, "--device") && has) device = argv[++i];
        else if (!strcmp(a, "--chat")) chat = true;
        else if (!strcmp(a, "--system") && has) system = argv[++i];
        else if (!strcmp(a, "--chat-template") && has) tmpl = argv[++i];
        else if (!strcmp(a, "--max-new") && has) { if (et__int_arg(a, argv[++i], 0, 1 << 20, &max_new)) return 2; }
        else if (!strcmp(a, "--top-k") && has) { if (et__int_arg(a, argv[++i], 0, 1 << 24, &top_k)) return 2; }
        else if (!strcmp(a, "--threads") && has) { if (et__int_arg(a, argv[++i], 0, 1024, &threads)) return 2; }
        else if (!strcmp(a, "--seed") && has) { if (et__int_arg(a, argv[++i], 0, 0x7fffffff, &seed)) return 2; }
        else if (!strcmp(a, "--temp") && has) { if (et__float_arg(a, argv[++i], 0, 100, &temp)) return 2; }
        else if (!strcmp(a, "--top-p") && has) { if (et__float_arg(a, argv[++i], 0, 1, &top_p)) return 2; }
        else if (!strcmp(a, "--stats")) stats = true;
        else if (!strcmp(a, "--profile") && has) profile_dir = argv[++i];
        else if (!strcmp(a, "--profile-limits") && has) profile_limits = argv[++i];
        else {
            fprintf(stderr, "usage: edgetune generate --model M.gguf (--prompt TEXT | --prompt-file F) [--max-new N]\n"
                            "         [--temp T] [--top-k K] [--top-p P] [--seed S] [--stop STR]... [--base TYPE]\n"
                            "         [--threads N] [--stats] [--device cpu|vulkan[:N]|auto]\n"
                            "         [--profile DIR [--profile-limits KERNELS.jsonl]]\n"
                            "         [--chat [--system TEXT] [--chat-template llama2|llama3|chatml|gemma]]\n"
                            "  --chat: the prompt is one user turn in the model's chat template (special tokens\n"
                            "  parsed, BOS as the tokenizer says); decoding stops at the end-of-turn token.\n"
                            "  Sampling: temperature, then top-k, then top-p, then a seeded draw (--temp 0: greedy).\n"
                            "  --profile DIR: the prefill and one decoding step are re-run under the profiler: per-op\n"
                            "  table (stderr), DIR/{prefill,decode}/ profile.jsonl, trace.json, roofline.png, memory.png.\n");
            return !strcmp(a, "--help") ? 0 : 2;
        }
    }
    if (!model || (!prompt == !prompt_file)) {
        fprintf(stderr, "edgetune generate: --model and exactly one of --prompt / --prompt-file are required\n");
        return 2;
    }
    if ((system || tmpl) && !chat) {
        fprintf(stderr, "edgetune generate: --system and --chat-template need --chat\n");
        return 2;
    }
    char *pbuf = NULL, err[512];
    if (prompt_file && !(prompt = pbuf = et__slurp(prompt_file, NULL))) return 1;
    et_lm *lm;
    et_lm_opts o = { .base_type = base, .n_threads = (int)threads, .device = device };
    if (et_lm_load(model, &o, &lm, err, sizeof err)) { fprintf(stderr, "edgetune generate: %s\n", err); free(pbuf); return 1; }
    char *turn = NULL;
    if (chat && !(prompt = turn = et_lm_chat_prompt(lm, tmpl, system, prompt, err, sizeof err))) {
        fprintf(stderr, "edgetune generate: %s: %s%s\n", model, err, tmpl ? "" : " (--chat-template NAME)");
        et_lm_free(lm);
        free(pbuf);
        return 1;
    }
    et_sample_opts so = { .temperature = (float)temp, .top_k = (int)top_k, .top_p = (float)top_p, .seed = (uint64_t)seed,
                          .stop = n_stop ? stops : NULL, .on_text = et__stream, .chat = chat,
                          .profile_dir = profile_dir, .profile_limits = profile_limits };
    et_gen_stats st;
    int rc = et_lm_generate_ex(lm, prompt, (int)max_new, &so, NULL, 0, &st, err, sizeof err);
    free(turn);
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
    const char *model = NULL, *text = NULL, *tokens = NULL, *base = NULL, *mode = "full", *device = NULL;
    const char *kl_base = NULL;
    long n_ctx = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--model") && has) model = argv[++i];
        else if (!strcmp(a, "--text") && has) text = argv[++i];
        else if (!strcmp(a, "--tokens") && has) tokens = argv[++i];
        else if (!strcmp(a, "--base") && has) base = argv[++i];
        else if (!strcmp(a, "--ppl-mode") && has) mode = argv[++i];
        else if (!strcmp(a, "--device") && has) device = argv[++i];
        else if (!strcmp(a, "--kl-base") && has) kl_base = argv[++i];
        else if (!strcmp(a, "--ctx") && has) { if (et__int_arg(a, argv[++i], 2, 1 << 20, &n_ctx)) return 2; }
        else if (!strcmp(a, "--threads") && has) { if (et__int_arg(a, argv[++i], 0, 1024, &threads)) return 2; }
        else {
            fprintf(stderr, "usage: edgetune perplexity --model M.gguf (--text FILE | --tokens FILE) [--ppl-mode full|llama]\n"
                            "         [--ctx N] [--base TYPE] [--threads N] [--device cpu|vulkan[:N]|auto]\n"
                            "         [--kl-base F32.gguf]\n"
                            "  --kl-base: also run that model (same vocabulary) on the same windows and report the\n"
                            "  KL divergence KL(base || model) of the next-token distributions (mean, median, p90,\n"
                            "  p99, max, in nats) and how often both models' most likely token agree.\n");
            return !strcmp(a, "--help") ? 0 : 2;
        }
    }
    if (!model || (!text == !tokens) || (strcmp(mode, "full") && strcmp(mode, "llama"))) {
        fprintf(stderr, "edgetune perplexity: --model, exactly one of --text / --tokens, and --ppl-mode full|llama\n");
        return 2;
    }
    char err[512];
    et_lm *lm;
    et_lm *kb = NULL;
    et_lm_opts o = { .base_type = base, .n_threads = (int)threads, .device = device };
    if (et_lm_load(model, &o, &lm, err, sizeof err)) { fprintf(stderr, "edgetune perplexity: %s\n", err); return 1; }
    et_lm_opts ko = { .n_threads = (int)threads, .device = device };
    if (kl_base && et_lm_load(kl_base, &ko, &kb, err, sizeof err)) {
        fprintf(stderr, "edgetune perplexity: --kl-base %s\n", err);
        et_lm_free(lm);
        return 1;
    }
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
    if (kb) {
        et_lm_kl_stats ks;
        if (et_lm_kl(lm, kb, ids, n, strcmp(mode, "llama") == 0, (int)n_ctx, &ks, err, sizeof err)) {
            fprintf(stderr, "edgetune perplexity: %s vs --kl-base %s: %s\n", model, kl_base, err);
            goto done;
        }
        printf("tokens: %d, scored: %lld, mean nll: %.6f (base %.6f)\n", n, (long long)ks.n, ks.nll / (double)ks.n,
               ks.nll_base / (double)ks.n);
        printf("kl-divergence vs %s (nats): mean %.6f +- %.6f, median %.6f, p90 %.6f, p99 %.6f, max %.6f\n", kl_base,
               ks.kl_mean, ks.kl_stderr, ks.kl_median, ks.kl_p90, ks.kl_p99, ks.kl_max);
        printf("top-1 agreement: %.2f%%\n", 100.0 * ks.top1);
        printf("base perplexity: %.4f\n", exp(ks.nll_base / (double)ks.n));
        printf("perplexity: %.4f\n", exp(ks.nll / (double)ks.n));
        rc = 0;
        goto done;
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
    et_lm_free(kb);
    et_lm_free(lm);
    return rc;
}
