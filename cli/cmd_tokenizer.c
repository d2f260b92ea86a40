/* `edgetune tokenizer train|convert|info` and `edgetune tokenize`: thin wrappers over
 * engine/tok/ (argument checks, file reading, printing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "io/gguf.h"
#include "llama_hf.h"
#include "tok/bpe_train.h"
#include "tok/tok_gguf.h"
#include "tok/tokenizer.h"

static double et__now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *et__slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; }
            else buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return NULL; }
    *n = len;
    return buf;
}

static int et__parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static void et__train_usage(FILE *f) {
    fprintf(f,
            "usage: edgetune tokenizer train --text FILE... --vocab-size N --out FILE\n"
            "         [--pretok gpt2|llama3|qwen2] [--special TOKEN]... [--min-frequency N] [--quiet]\n"
            "  Trains a byte-level BPE vocabulary (deterministic).  FILE ending in .json is written\n"
            "  as a Hugging Face tokenizer.json, anything else in edgetune's own format.\n"
            "  Default special token: <|endoftext|> (id 0, the EOS); --special replaces it.\n"
            "       edgetune tokenizer convert --tokenizer IN --out OUT\n"
            "       edgetune tokenizer info --tokenizer FILE\n");
}

static int et__tokenizer_train(int argc, char **argv) {
    const char **files = calloc((size_t)argc, sizeof *files), **special = calloc((size_t)argc, sizeof *special);
    int nfiles = 0, nspecial = 0, quiet = 0, rc = 2;
    long vocab = 0, minf = 0;
    const char *out = NULL;
    et_pretok pretok = ET_PRETOK_GPT2;
    et_bpe_trainer *tr = NULL;
    et_tok *t = NULL;
    if (!files || !special) goto done;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--text")) {
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) files[nfiles++] = argv[++i];
        } else if (!strcmp(a, "--special") && i + 1 < argc) special[nspecial++] = argv[++i];
        else if (!strcmp(a, "--vocab-size") && i + 1 < argc) {
            if (et__parse_int(argv[++i], 257, 1 << 24, &vocab)) {
                fprintf(stderr, "edgetune tokenizer train: --vocab-size '%s' is not an integer in 257..16777216\n", argv[i]);
                goto done;
            }
        } else if (!strcmp(a, "--min-frequency") && i + 1 < argc) {
            if (et__parse_int(argv[++i], 0, 1L << 40, &minf)) {
                fprintf(stderr, "edgetune tokenizer train: --min-frequency '%s' is not a non-negative integer\n", argv[i]);
                goto done;
            }
        } else if (!strcmp(a, "--pretok") && i + 1 < argc) {
            int p = et_pretok_from_name(argv[++i]);
            if (p <= 0) {
                fprintf(stderr, "edgetune tokenizer train: --pretok '%s' is not gpt2, llama3 or qwen2\n", argv[i]);
                goto done;
            }
            pretok = (et_pretok)p;
        } else if (!strcmp(a, "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(a, "--quiet")) quiet = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { et__train_usage(stdout); rc = 0; goto done; }
        else {
            fprintf(stderr, "edgetune tokenizer train: unknown or incomplete option '%s'\n", a);
            et__train_usage(stderr);
            goto done;
        }
    }
    if (!nfiles || !vocab || !out) {
        fprintf(stderr, "edgetune tokenizer train: --text, --vocab-size and --out are required\n");
        et__train_usage(stderr);
        goto done;
    }
    static const char *const def_special[] = {"<|endoftext|>"};
    et_bpe_train_opts o = {(int32_t)vocab, pretok, nspecial ? special : def_special, nspecial ? nspecial : 1,
                           minf, !quiet};
    char err[512];
    rc = 1;
    double t0 = et__now();
    if (!(tr = et_bpe_trainer_new(&o, err, sizeof err))) { fprintf(stderr, "edgetune: %s\n", err); goto done; }
    long long bytes = 0;
    for (int k = 0; k < nfiles; k++) {
        FILE *f = fopen(files[k], "rb");
        if (f) { fseek(f, 0, SEEK_END); bytes += ftell(f); fclose(f); }
        if (et_bpe_trainer_feed_file(tr, files[k], err, sizeof err)) { fprintf(stderr, "edgetune: %s\n", err); goto done; }
    }
    double t1 = et__now();
    if (!(t = et_bpe_trainer_finish(tr, err, sizeof err))) { fprintf(stderr, "edgetune: %s\n", err); goto done; }
    double t2 = et__now();
    if (et_tok_save(t, out, err, sizeof err)) { fprintf(stderr, "edgetune: %s\n", err); goto done; }
    printf("trained %s: vocabulary %d, %d merges, pre-tokenizer %s\n", out, et_tok_n_vocab(t),
           et_tok_n_merges(t), et_pretok_name(pretok));
    printf("text: %lld bytes, %lld words, %lld unique; count %.2f s, merge %.2f s, total %.2f s\n", bytes,
           (long long)et_bpe_trainer_n_words(tr), (long long)et_bpe_trainer_n_unique(tr), t1 - t0, t2 - t1, t2 - t0);
    rc = 0;
done:
    et_tok_free(t);
    et_bpe_trainer_free(tr);
    free(files);
    free(special);
    return rc;
}

/* --tokenizer FILE (ours or tokenizer.json) or --model M.gguf */
static et_tok *et__open_tok(const char *tokpath, const char *model) {
    char err[512];
    et_tok *t = NULL;
    if (tokpath) t = et_tok_load(tokpath, err, sizeof err);
    else if (et_hf_is_dir(model)) t = et_tok_from_hf_dir(model, err, sizeof err);   /* HF checkpoint */
    else {
        et_gguf *g;
        if (et_gguf_open(model, &g, err, sizeof err) == 0) {
            t = et_tok_from_gguf(g, err, sizeof err);
            et_gguf_close(g);
        }
    }
    if (!t) fprintf(stderr, "edgetune: %s\n", err);
    return t;
}

static int et__tokenizer_convert(int argc, char **argv, int info) {
    const char *in = NULL, *model = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) in = argv[++i];
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc && !info) out = argv[++i];
        else { fprintf(stderr, "edgetune tokenizer: unknown or incomplete option '%s'\n", argv[i]); return 2; }
    }
    if ((!in == !model) || (!info && !out)) {
        fprintf(stderr, "edgetune tokenizer %s: need one of --tokenizer FILE / --model M.gguf%s\n",
                info ? "info" : "convert", info ? "" : ", and --out FILE");
        return 2;
    }
    et_tok *t = et__open_tok(in, model);
    if (!t) return 1;
    int rc = 0;
    if (info) {
        printf("model: %s\npre-tokenizer: %s\nvocabulary: %d\nmerges: %d\nbos: %d\neos: %d\nchat: %s\n",
               et_tok_model_kind(t) == ET_TOK_SPM ? "spm" : "bpe", et_pretok_name(et_tok_pretok(t)),
               et_tok_n_vocab(t), et_tok_n_merges(t), et_tok_bos(t), et_tok_eos(t),
               et_chat_name(et_tok_chat_style(t)));
    } else {
        char err[512];
        if (et_tok_save(t, out, err, sizeof err)) { fprintf(stderr, "edgetune: %s\n", err); rc = 1; }
    }
    et_tok_free(t);
    return rc;
}

int et_cmd_tokenizer(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "train")) return et__tokenizer_train(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "convert")) return et__tokenizer_convert(argc - 1, argv + 1, 0);
    if (argc >= 2 && !strcmp(argv[1], "info")) return et__tokenizer_convert(argc - 1, argv + 1, 1);
    int help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
    et__train_usage(help ? stdout : stderr);
    return help ? 0 : 2;
}

int et_cmd_tokenize(int argc, char **argv) {
    const char *tokpath = NULL, *model = NULL, *text = NULL;
    unsigned flags = ET_TOK_ADD_SPECIAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--tokenizer") && i + 1 < argc) tokpath = argv[++i];
        else if (!strcmp(a, "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(a, "--text") && i + 1 < argc) text = argv[++i];
        else if (!strcmp(a, "--no-bos")) flags &= ~(unsigned)ET_TOK_ADD_SPECIAL;
        else if (!strcmp(a, "--parse-special")) flags |= ET_TOK_PARSE_SPECIAL;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: edgetune tokenize (--tokenizer FILE | --model M.gguf) --text FILE [--no-bos] [--parse-special]\n"
                   "  Prints the token ids of the file's text on one line, space-separated.\n"
                   "  BOS/EOS are added as the tokenizer says unless --no-bos; --parse-special matches\n"
                   "  control tokens' text (e.g. <|eot_id|>) in the input.\n");
            return 0;
        } else {
            fprintf(stderr, "edgetune tokenize: unknown or incomplete option '%s'\n", a);
            return 2;
        }
    }
    if (!text || (!tokpath == !model)) {
        fprintf(stderr, "edgetune tokenize: need --text FILE and one of --tokenizer FILE / --model M.gguf\n");
        return 2;
    }
    size_t n = 0;
    char *buf = et__slurp(text, &n);
    if (!buf) { fprintf(stderr, "edgetune tokenize: %s: cannot read\n", text); return 1; }
    et_tok *t = et__open_tok(tokpath, model);
    if (!t) { free(buf); return 1; }
    long cap = et_tok_encode_bound(n);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    long k = ids ? et_tok_encode(t, buf, n, flags, ids, cap) : -1;
    int rc = 0;
    if (k < 0) { fprintf(stderr, "edgetune tokenize: out of memory\n"); rc = 1; }
    for (long i = 0; i < k; i++) printf(i ? " %d" : "%d", ids[i]);
    if (k >= 0) printf("\n");
    free(ids);
    free(buf);
    et_tok_free(t);
    return rc;
}
