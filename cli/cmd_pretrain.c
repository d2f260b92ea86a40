/* `edgetune pretrain`: train one of edgetune's own base models from scratch on a corpus
 * (build/corpus from `make corpus`: documents separated by a line holding only U+001E) with
 * a tokenizer (`edgetune tokenizer train`), and write it as GGUF with its tokenizer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "pretrain.h"
#include "vulkan/vk_backend.h"

/* Read a corpus file and tokenize it, joining documents with EOS. */
static int32_t *et__tokenize_corpus(const et_tok *tok, const char *path, int64_t max_bytes, int64_t *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "edgetune pretrain: %s: %s\n", path, strerror(errno)); return NULL; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 0) { fclose(f); return NULL; }
    if (max_bytes > 0 && size > max_bytes) size = (long)max_bytes;
    char *buf = malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "edgetune pretrain: %s: read failed\n", path);
        fclose(f); free(buf); return NULL;
    }
    fclose(f);
    buf[size] = 0;
    int64_t cap = et_tok_encode_bound((size_t)size) + 16, n = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids), eos = et_tok_eos(tok);
    const char *sep = "\n\x1e\n";
    char *p = buf;
    while (ids && *p) {
        char *e = strstr(p, sep);
        size_t len = e ? (size_t)(e - p) : strlen(p);
        long r = et_tok_encode(tok, p, len, 0, ids + n, cap - n - 1);
        if (r < 0 || r > cap - n - 1) { free(ids); ids = NULL; break; }
        n += r;
        if (eos >= 0) ids[n++] = eos;
        p = e ? e + strlen(sep) : p + len;
    }
    free(buf);
    if (!ids) fprintf(stderr, "edgetune pretrain: %s: tokenization failed\n", path);
    *n_out = n;
    return ids;
}

int et_cmd_pretrain(int argc, char **argv) {
    const char *corpus = "build/corpus", *tokp = NULL, *preset = NULL, *out = NULL, *logp = NULL;
    const char *device = NULL;
    double minutes = -1;
    long steps = 0, long_steps = -1, seq = 0, threads = 0, max_mb = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--corpus") && has) corpus = argv[++i];
        else if (!strcmp(a, "--tokenizer") && has) tokp = argv[++i];
        else if (!strcmp(a, "--preset") && has) preset = argv[++i];
        else if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--log") && has) logp = argv[++i];
        else if (!strcmp(a, "--minutes") && has) minutes = atof(argv[++i]);
        else if (!strcmp(a, "--steps") && has) steps = atol(argv[++i]);
        else if (!strcmp(a, "--long-steps") && has) long_steps = atol(argv[++i]);
        else if (!strcmp(a, "--seq-len") && has) seq = atol(argv[++i]);
        else if (!strcmp(a, "--threads") && has) threads = atol(argv[++i]);
        else if (!strcmp(a, "--max-mb") && has) max_mb = atol(argv[++i]);
        else if (!strcmp(a, "--device") && has) device = argv[++i];
        else {
            fprintf(stderr, "usage: edgetune pretrain --tokenizer T --preset tiny|small|medium --out M.gguf\n"
                            "         [--corpus DIR] [--steps N [--long-steps L] | --minutes M] [--seq-len N]\n"
                            "         [--threads N] [--max-mb N (read at most N MB of the corpus)] [--log FILE]\n"
                            "  A preset trains a fixed number of steps (reproducible for a seed and thread count):\n"
                            "  windows of 256 tokens, then its last eighth at the full context of 1024.\n"
                            "  --steps N      N steps in all instead of the preset's (the last eighth long)\n"
                            "  --long-steps L of those, the last L at the full context (0: none)\n"
                            "  --minutes M    a wall-clock budget instead of steps (a busy machine trains less)\n"
                            "  --seq-len N    phase 1 windows of N tokens\n"
                            "  --device D     cpu (default), vulkan[:N] or auto: where the steps run\n");
            return !strcmp(a, "--help") ? 0 : 2;
        }
    }
    et_pretrain_cfg cfg;
    if (!tokp || !preset || !out) { fprintf(stderr, "edgetune pretrain: --tokenizer, --preset and --out are required\n"); return 2; }
    if (!et_pretrain_preset(preset, &cfg)) { fprintf(stderr, "edgetune pretrain: --preset '%s' (tiny, small, medium)\n", preset); return 2; }
    if (minutes == 0 || minutes > 1e4 || steps < 0 || seq < 0 || seq > 1 << 16 || threads < 0 || max_mb < 0 ||
        (long_steps > 0 && steps > 0 && long_steps > steps) || (minutes > 0 && (steps > 0 || long_steps >= 0))) {
        fprintf(stderr, "edgetune pretrain: --minutes (0, 1e4] (not with --steps / --long-steps); --steps, "
                        "--long-steps (<= --steps), --seq-len, --threads, --max-mb must be >= 0\n");
        return 2;
    }
    if (minutes > 0) cfg.minutes = minutes;
    if (steps > 0) cfg.steps = steps, cfg.long_steps = steps / 8;
    if (long_steps >= 0) cfg.long_steps = long_steps;
    if (cfg.long_steps > cfg.steps) {
        fprintf(stderr, "edgetune pretrain: --long-steps %lld exceeds the %lld steps in all\n", (long long)cfg.long_steps,
                (long long)cfg.steps);
        return 2;
    }
    if (seq > 0) cfg.seq_len = (int32_t)seq;
    if (cfg.seq_len > cfg.model.max_seq) cfg.model.max_seq = cfg.seq_len;
    if (cfg.long_seq_len < cfg.seq_len) cfg.long_seq_len = cfg.seq_len;
    cfg.n_threads = (int)threads;
    cfg.device = device;
    char derr[200];
    if (!et_backend_spec_ok(device, derr, sizeof derr)) { fprintf(stderr, "edgetune pretrain: %s\n", derr); return 2; }
    char err[512], path[4096];
    et_tok *tok = et_tok_load(tokp, err, sizeof err);
    if (!tok) { fprintf(stderr, "edgetune pretrain: %s\n", err); return 1; }
    cfg.model.vocab = et_tok_n_vocab(tok);
    int64_t n_train = 0, n_held = 0;
    snprintf(path, sizeof path, "%s/train.txt", corpus);
    int32_t *train = et__tokenize_corpus(tok, path, max_mb * 1000000, &n_train);
    snprintf(path, sizeof path, "%s/heldout.txt", corpus);
    int32_t *held = train ? et__tokenize_corpus(tok, path, 2000000, &n_held) : NULL;
    int rc = 1;
    FILE *log = logp ? fopen(logp, "w") : stderr;
    if (!log) { fprintf(stderr, "edgetune pretrain: %s: %s\n", logp, strerror(errno)); goto done; }
    cfg.log = log;
    if (!train || !held) goto done;
    fprintf(stderr, "pretrain %s: %lld training tokens, %lld held-out, vocab %d, %lld parameters (%lld without embeddings)\n",
            preset, (long long)n_train, (long long)n_held, cfg.model.vocab,
            (long long)et_llama_n_params(&cfg.model, true), (long long)et_llama_n_params(&cfg.model, false));
    et_pretrain_result r;
    if (et_pretrain_run(&cfg, tok, train, n_train, held, n_held, out, &r, err, sizeof err)) {
        fprintf(stderr, "edgetune pretrain: %s\n", err);
        goto done;
    }
    double s1 = r.seconds - r.long_seconds;
    printf("%s: %lld steps (%lld at %d tokens: %.0f tokens/s; %lld at %d: %.0f tokens/s), %lld tokens in %.0f s; "
           "train loss %.3f; held-out perplexity %.2f (windows of %d) -> %s\n", preset, (long long)r.steps,
           (long long)(r.steps - r.long_steps), cfg.seq_len, s1 > 0 ? (double)(r.tokens - r.long_tokens) / s1 : 0,
           (long long)r.long_steps, cfg.long_seq_len, r.long_seconds > 0 ? (double)r.long_tokens / r.long_seconds : 0,
           (long long)r.tokens, r.seconds, r.train_loss, r.heldout_ppl, r.heldout_window, out);
    rc = 0;
done:
    if (log && log != stderr) fclose(log);
    free(train);
    free(held);
    et_tok_free(tok);
    return rc;
}
