/* `edgetune finetune`: customize a GGUF Llama-family model on a JSON-lines file of
 * {"prompt": ..., "answer": ...} examples with LoRA, QLoRA, IA3, prompt tuning or full
 * fine-tuning, and write the trained adapter (or weights) as a GGUF file.
 *
 * Thin by design: it parses and validates arguments, loads the model (models/llama_gguf.h)
 * and its tokenizer (engine/tok), optionally recompresses the base (--base), adds the
 * adapter, tokenizes the data (prompt with BOS, then the answer and EOS; the loss counts the
 * answer and EOS tokens only) and hands everything to et_train (models/trainer.h), which
 * runs the steps on --device (the CPU, or a Vulkan device).
 *
 * --out writes edgetune's adapter file (models/adapter_io.h: GGUF with the trained tensors
 * and edgetune.adapter.* keys; a LoRA file is also a llama.cpp LoRA), or for full
 * fine-tuning the whole model as GGUF with the input's tokenizer.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "adapter_io.h"
#include "cli.h"
#include "io/gguf.h"
#include "llama_gguf.h"
#include "llama_hf.h"
#include "tok/tok_gguf.h"
#include "trainer.h"
#include "vulkan/vk_backend.h"

static const char *et__usage =
    "usage: edgetune finetune --model M.gguf --data FILE.jsonl [options]\n"
    "  --method lora|qlora|ia3|prompt|full   (default lora; qlora = lora over an nf4 base, its head and\n"
    "                                        embeddings in bf16, the MLP recomputed (--recompute-mlp): the\n"
    "                                        QLoRA recipe's storage types and its activation savings)\n"
    "  --targets q,k,v,o,gate,up,down|all    LoRA target modules (default all)\n"
    "  --rank R --alpha A --dropout P        LoRA (default 8, 16, 0)\n"
    "  --prompt-tokens N                     prompt tuning: virtual tokens (default 8)\n"
    "  --base f32|f16|bf16|q8_0|q4_0|q4_k|nf4  recompress the base's linear layers (default: as stored);\n"
    "                                        bf16 is the bf16-compute setting: head and embeddings too, and\n"
    "                                        the trunk's and head's products in bf16 where the CPU has them;\n"
    "                                        nf4 also puts head and embeddings in bf16 (as --method qlora)\n"
    "  --steps N | --epochs N | --time-budget 60s   budget (default --epochs 1)\n"
    "  --lr X --weight-decay X --clip X --schedule constant|cosine --warmup N\n"
    "  --batch N --accum N --seq-len N --seed N --threads N\n"
    "  --eval FILE.jsonl | --eval-every N (holds out 10%% when no --eval) --early-stop N\n"
    "  --recompute --mem-limit 512M --ckpt FILE [--ckpt-every N] [--resume] --out ADAPTER.gguf\n"
    "  --keep-activations                    keep the elementwise ops' outputs for backward (default:\n"
    "                                        recompute them, a quarter less activation memory), and with\n"
    "                                        --method qlora the MLP's gate and up products\n"
    "  --recompute-mlp                       recompute the MLP's gate and up products in backward (two\n"
    "                                        matmuls a layer) instead of keeping them: 2 x ffn floats a\n"
    "                                        token a layer less\n"
    "  --profile DIR [--profile-limits KERNELS.jsonl]   per-op table, profile.jsonl, trace.json, roofline.png, memory.png\n"
    "  --device cpu|vulkan[:N]|auto          where the steps run (default cpu; EDGETUNE_VK_DEVICE=N picks\n"
    "                                        the device plain 'vulkan' opens; with --profile: GPU times)\n";

/* ---------------------------------------------------------------- argument parsing */

static bool et__int(const char *opt, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "edgetune finetune: %s '%s' is not an integer in %lld..%lld\n", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool et__float(const char *opt, const char *s, double lo, double hi, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "edgetune finetune: %s '%s' is not a number in %g..%g\n", opt, s, lo, hi);
        return false;
    }
    *out = (float)v;
    return true;
}

/* "512M", "1G", "100K", "123456" (bytes) */
static bool et__bytes(const char *s, size_t *out) {
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1048576.0, end++;
    else if (*end == 'G' || *end == 'g') mul = 1073741824.0, end++;
    if (*end == 'i') end++;
    if (*end == 'B') end++;
    if (end == s || *end || !(v > 0) || v * mul > 1e15) {
        fprintf(stderr, "edgetune finetune: --mem-limit '%s' is not a size like 512M or 2G\n", s);
        return false;
    }
    *out = (size_t)(v * mul);
    return true;
}

/* "60s", "5m", "1h", "90" (seconds) */
static bool et__seconds(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    double mul = 1;
    if (*end == 's') end++;
    else if (*end == 'm') mul = 60, end++;
    else if (*end == 'h') mul = 3600, end++;
    if (end == s || *end || !(v > 0) || v * mul > 1e7) {
        fprintf(stderr, "edgetune finetune: --time-budget '%s' is not a duration like 60s, 5m or 1h\n", s);
        return false;
    }
    *out = v * mul;
    return true;
}

/* ---------------------------------------------------------------- data */

typedef struct et__data {
    et_example *ex;
    int32_t   **ids;
    int64_t     n, cap;
} et__data;

static void et__data_free(et__data *d) {
    for (int64_t i = 0; i < d->n; i++) free(d->ids[i]);
    free(d->ids);
    free(d->ex);
    memset(d, 0, sizeof *d);
}

static long et__encode(const et_tok *tok, const char *s, unsigned flags, int32_t **out) {
    size_t len = strlen(s);
    long cap = et_tok_encode_bound(len) + 2;
    *out = malloc((size_t)cap * sizeof **out);
    if (!*out) return -1;
    return et_tok_encode(tok, s, len, flags, *out, cap);
}

/* One example per non-blank line: {"prompt": "...", "answer": "..."}. */
static int et__load_jsonl(const char *path, const et_tok *tok, et__data *d) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "edgetune finetune: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    long lineno = 0;
    int rc = 0;
    int32_t eos = et_tok_eos(tok);
    while (getline(&line, &lcap, f) >= 0) {
        lineno++;
        const char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (!*p) continue;
        cJSON *j = cJSON_Parse(line);
        const cJSON *jp = j ? cJSON_GetObjectItemCaseSensitive(j, "prompt") : NULL;
        const cJSON *ja = j ? cJSON_GetObjectItemCaseSensitive(j, "answer") : NULL;
        if (!j || !cJSON_IsObject(j) || !cJSON_IsString(jp) || !cJSON_IsString(ja) || !ja->valuestring[0]) {
            fprintf(stderr, "edgetune finetune: %s:%ld: %s\n", path, lineno,
                    !j || !cJSON_IsObject(j) ? "not a JSON object"
                    : !cJSON_IsString(jp)    ? "field \"prompt\" missing or not a string"
                                             : "field \"answer\" missing, empty or not a string");
            cJSON_Delete(j);
            rc = -1;
            break;
        }
        int32_t *pi = NULL, *ai = NULL;
        long np = et__encode(tok, jp->valuestring, ET_TOK_ADD_SPECIAL, &pi);
        long na = et__encode(tok, ja->valuestring, 0, &ai);
        cJSON_Delete(j);
        if (np < 0 || na < 0 || np + na + 1 > (1L << 30)) {
            fprintf(stderr, "edgetune finetune: %s:%ld: tokenization failed (out of memory)\n", path, lineno);
            free(pi); free(ai);
            rc = -1;
            break;
        }
        if (d->n == d->cap) {
            d->cap = d->cap ? 2 * d->cap : 64;
            et_example *ne = realloc(d->ex, (size_t)d->cap * sizeof *ne);
            if (ne) d->ex = ne;
            int32_t **ni = realloc(d->ids, (size_t)d->cap * sizeof *ni);
            if (ni) d->ids = ni;
            if (!ne || !ni) { free(pi); free(ai); rc = -1; break; }
        }
        int32_t n = (int32_t)(np + na + (eos >= 0));
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        if (!ids) { free(pi); free(ai); rc = -1; break; }
        memcpy(ids, pi, (size_t)np * sizeof *ids);
        memcpy(ids + np, ai, (size_t)na * sizeof *ids);
        if (eos >= 0) ids[n - 1] = eos;
        free(pi);
        free(ai);
        int32_t n_answer = n - (int32_t)np;
        if (np < 1) {   /* no BOS and an empty prompt: the first answer token cannot be predicted */
            n_answer--;
        }
        if (n < 2 || n_answer < 1) {
            fprintf(stderr, "edgetune finetune: %s:%ld: the example has %d tokens, too few to learn from\n", path,
                    lineno, n);
            free(ids);
            rc = -1;
            break;
        }
        d->ids[d->n] = ids;
        d->ex[d->n++] = (et_example){ .ids = ids, .n = n, .n_answer = n_answer };
    }
    free(line);
    fclose(f);
    if (rc == 0 && d->n == 0) {
        fprintf(stderr, "edgetune finetune: %s: no examples\n", path);
        rc = -1;
    }
    return rc;
}

/* ---------------------------------------------------------------- output */

/* Adapters go out in edgetune's adapter format (models/adapter_io.h); full fine-tuning
 * writes the whole model (et_llama_to_gguf) with the input's tokenizer metadata copied. */
static int et__write_out(const et_llama *m, const et_gguf *in, const char *method, const char *base, const char *path) {
    char err[512];
    int rc;
    if (strcmp(method, "full")) {
        et_adapter a = {0};
        rc = et_adapter_from_llama(m, &a, err, sizeof err);
        if (rc == 0) {
            snprintf(a.method, sizeof a.method, "%s", method);
            snprintf(a.base_type, sizeof a.base_type, "%s", base);
            et_gguf_str arch = {0};
            char e2[64];
            char archs[64] = "llama";
            if (et_gguf_get_str(in, "general.architecture", &arch, e2, sizeof e2) == 0 && arch.len < sizeof archs) {
                memcpy(archs, arch.ptr, arch.len);
                archs[arch.len] = 0;
            }
            rc = et_adapter_save(&a, archs, path, err, sizeof err);
        }
        if (rc == 0) printf("wrote %s: %s adapter, %lld tensors\n", path, method, (long long)a.n);
        et_adapter_free(&a);
    } else {
        et_gguf_writer *w = et_gguf_writer_new();
        if (!w) return -1;
        et_llama_to_gguf(m, w, "finetuned");
        for (int64_t i = 0; i < et_gguf_n_kv(in); i++) {
            const et_gguf_kv *kv = et_gguf_kv_at(in, i);
            if (!strncmp(kv->key, "tokenizer.", 10)) et_gguf_writer_set_value(w, kv->key, &kv->value);
        }
        rc = et_gguf_writer_write(w, path, err, sizeof err);
        et_gguf_writer_free(w);
        if (rc == 0) printf("wrote %s: the fully fine-tuned model\n", path);
    }
    if (rc) fprintf(stderr, "edgetune finetune: %s\n", err);
    return rc;
}

/* ---------------------------------------------------------------- the command */

int et_cmd_finetune(int argc, char **argv) {
    const char *model_path = NULL, *data_path = NULL, *eval_path = NULL, *method = "lora", *targets = "all";
    const char *base = NULL, *out = NULL;
    long long rank = 8, n_prompt = 8, v;
    float alpha = 16.0f, dropout = 0.0f;
    et_train_cfg c = et_train_defaults();
    c.opt.lr = 1e-4f;
    bool have_budget = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && val && ++i)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(et__usage, stdout); return 0; }
        else if (ARG("--model")) model_path = val;
        else if (ARG("--data")) data_path = val;
        else if (ARG("--eval")) eval_path = val;
        else if (ARG("--method")) method = val;
        else if (ARG("--targets")) targets = val;
        else if (ARG("--base")) base = val;
        else if (ARG("--out")) out = val;
        else if (ARG("--ckpt")) c.ckpt_path = val;
        else if (ARG("--profile")) c.profile_dir = val;
        else if (ARG("--profile-limits")) c.profile_limits = val;
        else if (ARG("--device")) {
            char e[200];
            if (!et_backend_spec_ok(val, e, sizeof e)) { fprintf(stderr, "edgetune finetune: %s\n", e); return 2; }
            c.device = val;
        }
        else if (!strcmp(a, "--resume")) c.resume = true;
        else if (!strcmp(a, "--recompute")) c.recompute = true;
        else if (!strcmp(a, "--keep-activations")) c.keep_activations = true;
        else if (!strcmp(a, "--recompute-mlp")) c.recompute_mlp = true;
        else if (ARG("--rank")) { if (!et__int(a, val, 1, 4096, &rank)) return 2; }
        else if (ARG("--prompt-tokens")) { if (!et__int(a, val, 1, 4096, &n_prompt)) return 2; }
        else if (ARG("--alpha")) { if (!et__float(a, val, 1e-6, 1e6, &alpha)) return 2; }
        else if (ARG("--dropout")) { if (!et__float(a, val, 0, 0.95, &dropout)) return 2; }
        else if (ARG("--lr")) { if (!et__float(a, val, 0, 10, &c.opt.lr)) return 2; }
        else if (ARG("--weight-decay")) { if (!et__float(a, val, 0, 10, &c.opt.weight_decay)) return 2; }
        else if (ARG("--clip")) { if (!et__float(a, val, 0, 1e9, &c.clip)) return 2; }
        else if (ARG("--steps")) { if (!et__int(a, val, 1, 1LL << 40, &v)) return 2; c.steps = v; have_budget = true; }
        else if (ARG("--epochs")) { if (!et__int(a, val, 1, 1000000, &v)) return 2; c.epochs = (int32_t)v; have_budget = true; }
        else if (ARG("--time-budget")) { if (!et__seconds(val, &c.time_budget_s)) return 2; have_budget = true; }
        else if (ARG("--warmup")) { if (!et__int(a, val, 0, 1 << 30, &v)) return 2; c.warmup = (int32_t)v; }
        else if (ARG("--batch")) { if (!et__int(a, val, 1, 65536, &v)) return 2; c.batch = (int32_t)v; }
        else if (ARG("--accum")) { if (!et__int(a, val, 1, 65536, &v)) return 2; c.grad_accum = (int32_t)v; }
        else if (ARG("--seq-len")) { if (!et__int(a, val, 2, 1 << 20, &v)) return 2; c.seq_len = (int32_t)v; }
        else if (ARG("--seed")) { if (!et__int(a, val, 0, INT64_MAX, &v)) return 2; c.seed = (uint64_t)v; }
        else if (ARG("--threads")) { if (!et__int(a, val, 0, 1024, &v)) return 2; c.n_threads = (int)v; }
        else if (ARG("--eval-every")) { if (!et__int(a, val, 1, 1 << 30, &v)) return 2; c.eval_every = (int32_t)v; }
        else if (ARG("--early-stop")) { if (!et__int(a, val, 1, 1 << 30, &v)) return 2; c.early_stop = (int32_t)v; }
        else if (ARG("--ckpt-every")) { if (!et__int(a, val, 1, 1 << 30, &v)) return 2; c.ckpt_every = (int32_t)v; }
        else if (ARG("--mem-limit")) { if (!et__bytes(val, &c.mem_limit)) return 2; }
        else if (!strcmp(a, "--schedule") && val && ++i) {
            if (!strcmp(val, "constant")) c.sched = ET_SCHED_CONSTANT;
            else if (!strcmp(val, "cosine")) c.sched = ET_SCHED_COSINE;
            else { fprintf(stderr, "edgetune finetune: --schedule '%s' is not constant or cosine\n", val); return 2; }
        } else {
            fprintf(stderr, "edgetune finetune: unknown or incomplete option '%s'\n%s", a, et__usage);
            return 2;
        }
#undef ARG
    }
    if (!model_path || !data_path) {
        fprintf(stderr, "edgetune finetune: --model and --data are required\n%s", et__usage);
        return 2;
    }
    if (!have_budget) c.epochs = 1;
    if (c.resume && !c.ckpt_path) { fprintf(stderr, "edgetune finetune: --resume needs --ckpt FILE\n"); return 2; }
    bool qlora = !strcmp(method, "qlora");
    if (qlora) {
        if (base && strcmp(base, "nf4")) {
            fprintf(stderr, "edgetune finetune: --method qlora is LoRA over an nf4 base, not --base %s\n", base);
            return 2;
        }
        base = "nf4";
        if (!c.keep_activations) c.recompute_mlp = true;   /* QLoRA trades compute for memory */
    }
    et_type base_type = ET_TYPE_COUNT;
    if (base) {
        static const char *ok[] = { "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k", "nf4" };
        bool known = false;
        for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) known |= !strcmp(base, ok[k]);
        base_type = known ? et_type_from_name(base) : ET_TYPE_COUNT;
        if (base_type == ET_TYPE_COUNT) {
            fprintf(stderr, "edgetune finetune: --base '%s' is not f32, f16, bf16, q8_0, q4_0, q4_k or nf4\n", base);
            return 2;
        }
    }
    if (strcmp(method, "lora") && !qlora && strcmp(method, "ia3") && strcmp(method, "prompt") && strcmp(method, "full")) {
        fprintf(stderr, "edgetune finetune: --method '%s' is not lora, qlora, ia3, prompt or full\n", method);
        return 2;
    }
    char err[1024];
    if (!strcmp(method, "lora") || qlora) {
        if (!et_llama_parse_targets(targets, err, sizeof err)) {
            fprintf(stderr, "edgetune finetune: --targets: %s\n", err);
            return 2;
        }
    }

    /* model, tokenizer, data */
    int rc = 1;
    et_gguf *g = NULL;
    et_tok *tok = NULL;
    et_ctx *ctx = et_ctx_new(1 << 18);
    et__data train = {0}, ev = {0};
    et_llama m;
    if (!ctx) goto done;
    /* a GGUF file, or an HF checkpoint directory converted to GGUF (models/llama_hf.h) */
    if (et_llama_gguf_open(model_path, &g, err, sizeof err) || et_llama_from_gguf(&m, ctx, g, err, sizeof err)) {
        fprintf(stderr, "edgetune finetune: %s\n", err);
        goto done;
    }
    if (!(tok = et_tok_from_gguf(g, err, sizeof err))) {
        fprintf(stderr, "edgetune finetune: %s\n", err);
        goto done;
    }
    if (et__load_jsonl(data_path, tok, &train) || (eval_path && et__load_jsonl(eval_path, tok, &ev))) goto done;
    et_example *eval_ex = ev.ex;
    int64_t n_train = train.n, n_eval = ev.n;
    if (c.eval_every > 0 && !eval_path) {   /* hold out the last 10% */
        n_eval = train.n / 10 > 0 ? train.n / 10 : 1;
        if (n_eval >= train.n) {
            fprintf(stderr, "edgetune finetune: --eval-every needs --eval FILE or at least 2 examples in %s\n", data_path);
            goto done;
        }
        n_train = train.n - n_eval;
        eval_ex = train.ex + n_train;
    }
    if (base && base_type != ET_F32) {
        double sp = 0;
        if (!et_llama_compress(&m, base_type, NULL, &sp) ||
            ((base_type == ET_BF16 || base_type == ET_NF4) && strcmp(method, "full") &&
             !et_llama_frozen_tables_bf16(&m))) {
            fprintf(stderr, "edgetune finetune: --base %s: %s\n", base, et_ctx_error(ctx));
            goto done;
        }
    }
    bool ok = true;
    if (!strcmp(method, "lora") || qlora) ok = et_llama_add_lora(&m, (int)rank, alpha, dropout, targets, c.seed);
    else if (!strcmp(method, "ia3")) ok = et_llama_add_ia3(&m);
    else if (!strcmp(method, "prompt")) ok = et_llama_add_prompt(&m, (int)n_prompt, c.seed);
    else ok = et_llama_train_all(&m);
    if (!ok) {
        fprintf(stderr, "edgetune finetune: --method %s: %s\n", method, et_ctx_error(ctx));
        goto done;
    }
    int64_t max_len = 0;
    for (int64_t i = 0; i < train.n; i++) max_len = train.ex[i].n > max_len ? train.ex[i].n : max_len;
    int32_t max_seq = m.cfg.max_seq - (m.ad.kind == ET_ADAPTER_PROMPT ? m.ad.n_prompt : 0);
    if (c.seq_len > max_len) c.seq_len = (int32_t)(max_len > 2 ? max_len : 2);   /* no padding beyond the data */
    if (c.seq_len > max_seq) {
        fprintf(stderr, "edgetune finetune: --seq-len %d exceeds the model's context %d\n", c.seq_len, max_seq);
        goto done;
    }
    printf("model: %s (%d layers, dim %d, vocab %d), base %s, method %s; %lld training / %lld held-out examples, "
           "sequences of %d tokens\n", model_path, m.cfg.n_layers, m.cfg.dim, m.cfg.vocab, base ? base : "as stored",
           method, (long long)n_train, (long long)n_eval, c.seq_len);
    fflush(stdout);
    c.log = stderr;
    et_train_result res;
    if (et_train(&m, &c, train.ex, n_train, eval_ex, n_eval, &res, err, sizeof err)) {
        fprintf(stderr, "edgetune finetune: %s\n", err);
        goto done;
    }
    printf("trained %lld steps%s in %.2f s: loss %.4f -> %.4f", (long long)res.steps,
           res.resumed ? " (resumed)" : "", res.seconds, res.first_loss, res.final_loss);
    if (res.best_eval < 1e30f) printf(", best held-out %.4f%s", res.best_eval, res.stopped_early ? " (early stop)" : "");
    printf("\n%.0f tokens/s, %.2f GFLOP/s, planned peak %.1f MiB, peak RSS %.1f MiB\n", res.tokens_per_s,
           res.seconds > 0 ? res.flops / res.seconds * 1e-9 : 0, res.planned_peak_bytes / 1048576.0,
           res.peak_rss_bytes / 1048576.0);
    rc = out ? (et__write_out(&m, g, method, base ? base : "stored", out) ? 1 : 0) : 0;
done:
    et__data_free(&train);
    et__data_free(&ev);
    et_tok_free(tok);
    if (ctx) et_ctx_free(ctx);
    if (g) et_gguf_close(g);
    return rc;
}
