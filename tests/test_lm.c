/* The et_lm front end on a small random model written to GGUF with its own BPE tokenizer:
 *  - a file round trip (model + tokenizer metadata) loads;
 *  - scoring several candidates in one batch equals scoring each alone (padding and
 *    batching do not leak between sequences): tolerance 1e-4 nats (f32 sums);
 *  - the KV-cache decode path gives the same next-token log-probability as the scoring path
 *    (two different graphs over the same weights): tolerance 1e-3 nats;
 *  - greedy generation is deterministic and its first token is the argmax of the scores;
 *  - a Q8_0-compressed base scores within 2% of f32 (Q8_0's step is 1/254 of a block's
 *    range; the error compounds over two layers and a sharp random model: 2% is ~5x what we see);
 *  - LoRA, IA3 and prompt tuning each raise the taught answer's log-probability by > 1 nat
 *    in 25 steps, and resetting the adapter restores the base model's scores bit for bit;
 *  - bad inputs (missing file, bad base type, empty candidate) fail with messages.
 */
#include <math.h>
#include "harness.h"
#include "llama_gguf.h"
#include "lm_internal.h"
#include "tok/bpe_train.h"
#include "tok/tok_gguf.h"

static const char *path = "build/test-tmp/lm_tiny.gguf";

static const char *text =
    "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n"
    "my favourite colour is blue. her favourite colour is red. his favourite colour is green.\n"
    "one two three four five six seven eight nine ten. the end.\n";

static bool write_model(void) {
    char err[256];
    et_bpe_train_opts o = { .vocab_size = 300, .pretok = ET_PRETOK_GPT2, .special = (const char *[]){"<|end|>"},
                            .n_special = 1 };
    et_bpe_trainer *tr = et_bpe_trainer_new(&o, err, sizeof err);
    CHECK(tr != NULL, "trainer: %s", err);
    for (int i = 0; i < 5; i++) et_bpe_trainer_feed(tr, text, strlen(text));
    et_tok *tok = et_bpe_trainer_finish(tr, err, sizeof err);
    et_bpe_trainer_free(tr);
    CHECK(tok != NULL, "tokenizer: %s", err);
    if (!tok) return false;
    et_llama_config cfg = { .vocab = et_tok_n_vocab(tok), .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                            .head_dim = 16, .ffn = 128, .max_seq = 128, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
    et_ctx *ctx = et_ctx_new(4096);
    et_llama m;
    bool ok = et_llama_init(&m, ctx, &cfg, 5, 0);
    /* larger weights than the init's 0.02 so the scores are far from uniform */
    for (int32_t id = 0; ok && id < et_ctx_n_tensors(ctx); id++) {
        et_tensor *t = et_ctx_tensor(ctx, id);
        if (t->ne[1] > 1) for (int64_t i = 0; i < et_nelements(t); i++) ((float *)t->data)[i] *= 5.0f;
    }
    et_gguf_writer *w = et_gguf_writer_new();
    et_llama_to_gguf(&m, w, "test-tiny");
    ok = ok && et_tok_to_gguf(tok, w, err, sizeof err) == 0;
    system("mkdir -p build/test-tmp");
    ok = ok && et_gguf_writer_write(w, path, err, sizeof err) == 0;
    CHECK(ok, "write: %s %s", err, et_ctx_error(ctx));
    et_gguf_writer_free(w);
    et_ctx_free(ctx);
    et_tok_free(tok);
    return ok;
}

static et_lm *lm;

static void test_load(void) {
    char err[256];
    CHECK(write_model(), "model written");
    CHECK(et_lm_load(path, NULL, &lm, err, sizeof err) == 0, "load: %s", err);
}

static void test_batch_equals_single(void) {
    if (!lm) return;
    char err[256];
    const char *prompt = "my favourite colour is";
    const char *c[3] = {" blue", " red.", " green and a cat"};
    double all[3], one;
    CHECK(et_lm_score(lm, prompt, c, 3, all, err, sizeof err) == 0, "score: %s", err);
    for (int i = 0; i < 3; i++) {
        CHECK(et_lm_score(lm, prompt, &c[i], 1, &one, err, sizeof err) == 0, "score: %s", err);
        CHECK_CLOSE(all[i], one, 0, 1e-4, "batched vs single score");
        CHECK(all[i] < 0 && isfinite(all[i]), "log-probability %g", all[i]);
    }
}

/* The prompt-once (KV cache) scoring path equals the batched one (EDGETUNE_SCORE_BATCHED:
 * every candidate a full sequence through the training graph) within f32 reassociation:
 * 1e-4 nats; with a LoRA adapter too (it also acts in the decode graph). */
static void check_cached_equals_batched(const char *what) {
    char err[256];
    const char *prompt = "her favourite colour is blue and her cat is";
    const char *c[5] = {" red", " a big cat", " green and a cat", " blue.", " one two three four"};
    double fast[5], slow[5];
    CHECK(et_lm_score(lm, prompt, c, 5, fast, err, sizeof err) == 0, "score: %s", err);
    setenv("EDGETUNE_SCORE_BATCHED", "1", 1);
    CHECK(et_lm_score(lm, prompt, c, 5, slow, err, sizeof err) == 0, "score: %s", err);
    unsetenv("EDGETUNE_SCORE_BATCHED");
    double worst = 0;
    for (int i = 0; i < 5; i++) worst = fmax(worst, fabs(fast[i] - slow[i]));
    printf("  %s: cached vs batched scoring, worst difference %.2e nats\n", what, worst);
    CHECK(worst < 1e-4, "%s: cached and batched scores differ by %g nats", what, worst);
}

static void test_cached_scoring(void) {
    if (!lm) return;
    check_cached_equals_batched("base");
    char err[256];
    const char *prompts[1] = {"her favourite colour is"}, *answers[1] = {" red"};
    et_finetune_cfg fc = { .method = ET_METHOD_LORA, .rank = 4, .alpha = 8, .targets = "all", .lr = 1e-2f,
                           .steps = 5, .batch = 1, .seed = 3 };
    et_finetune_stats st;
    CHECK(et_lm_finetune(lm, &fc, prompts, answers, 1, &st, err, sizeof err) == 0, "lora: %s", err);
    check_cached_equals_batched("lora");
    et_lm_reset_adapter(lm);
}

/* log p(token | prompt) through the KV-cache decode graph */
static double decode_logprob(const char *prompt, int32_t token) {
    int32_t n = 0, *ids = et__lm_tokenize(lm, prompt, true, &n);
    et_ctx_mark mk = et_ctx_get_mark(lm->ctx);
    et_llama_cache cache;
    et_llama_cache_new(&cache, &lm->m, lm->ctx, n);
    et_tensor *tid = et_new_1d(lm->ctx, ET_I32, n, ET_FLAG_INPUT, "ids");
    et_tensor *pos = et_new_1d(lm->ctx, ET_I32, n, ET_FLAG_INPUT, "pos");
    memcpy(tid->data, ids, (size_t)n * 4);
    for (int i = 0; i < n; i++) ((int32_t *)pos->data)[i] = i;
    et_tensor *lg = et_llama_decode(&lm->m, &cache, tid, pos, 0);
    et_graph *g = et_graph_new(lm->ctx, 4096);
    et_plan plan;
    bool ok = et_graph_add(g, lg) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) && et_graph_compute(g, &plan, 0);
    double lp = NAN;
    if (ok) {
        const float *l = lg->data;
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < lm->m.cfg.vocab; v++) mx = l[v] > mx ? l[v] : mx;
        for (int v = 0; v < lm->m.cfg.vocab; v++) s += exp(l[v] - mx);
        lp = l[token] - mx - log(s);
        et_plan_free(&plan);
    }
    et_graph_free(g);
    et_ctx_reset(lm->ctx, mk);
    free(ids);
    return lp;
}

static void test_decode_matches_score(void) {
    if (!lm) return;
    char err[256];
    const char *prompt = "the dog sat on the";
    /* candidates that are exactly one token: pieces that re-tokenize to themselves */
    int checked = 0;
    for (int32_t v = 0; v < lm->m.cfg.vocab && checked < 4; v += 37) {
        char piece[64];
        size_t pl = et_tok_decode(lm->tok, &v, 1, 0, piece, sizeof piece);
        if (pl == 0 || pl >= sizeof piece) continue;
        int32_t n = 0, *cid = et__lm_tokenize(lm, piece, false, &n);
        if (n == 1 && cid[0] == v) {
            double s;
            CHECK(et_lm_score(lm, prompt, (const char *[]){piece}, 1, &s, err, sizeof err) == 0, "%s", err);
            CHECK_CLOSE(decode_logprob(prompt, v), s, 0, 1e-3, "decode vs score log-probability");
            checked++;
        }
        free(cid);
    }
    CHECK(checked == 4, "only %d single-token candidates checked", checked);
}

static void test_generate(void) {
    if (!lm) return;
    char err[256], a[200], b[200];
    CHECK(et_lm_generate(lm, "the cat", 8, a, sizeof a, err, sizeof err) == 0, "generate: %s", err);
    CHECK(et_lm_generate(lm, "the cat", 8, b, sizeof b, err, sizeof err) == 0, "generate: %s", err);
    CHECK(strcmp(a, b) == 0, "greedy generation differs between runs: '%s' vs '%s'", a, b);
    printf("  greedy continuation of 'the cat': '%s'\n", a);
    /* the first generated token is the argmax of the next-token distribution */
    int32_t ids[8];
    int n = 0;
    CHECK(et_lm_generate_ids(lm, "the cat", 8, ids, &n, err, sizeof err) == 0, "generate_ids: %s", err);
    if (n > 0) {
        double best = -INFINITY;
        int32_t arg = -1;
        for (int32_t v = 0; v < lm->m.cfg.vocab; v += 1) {
            if (v % 16 && v != ids[0]) continue;   /* a sample of rivals plus the chosen one */
            double lp = decode_logprob("the cat", v);
            if (lp > best) { best = lp; arg = v; }
        }
        CHECK(arg == ids[0], "first generated token %d is not the argmax %d", ids[0], arg);
    }
}

static void test_compressed_base(void) {
    char err[256];
    et_lm *q = NULL;
    et_lm_opts o = { .base_type = "q8_0" };
    CHECK(et_lm_load(path, &o, &q, err, sizeof err) == 0, "load q8_0: %s", err);
    if (!q || !lm) { et_lm_free(q); return; }
    const char *c[2] = {" blue", " red"};
    double a[2], b[2];
    CHECK(et_lm_score(lm, "her favourite colour is", c, 2, a, err, sizeof err) == 0, "%s", err);
    CHECK(et_lm_score(q, "her favourite colour is", c, 2, b, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 2; i++) CHECK_CLOSE(b[i], a[i], 0.02, 0, "q8_0 base vs f32 score");
    et_lm_free(q);
}

/* Each adapter learns to prefer the taught answer; resetting restores the base exactly. */
static void test_finetune_methods(void) {
    if (!lm) return;
    char err[256];
    const char *prompt = "one two three", *cands[2] = {" the end", " four five"};
    const char *prompts[2] = {"one two three", "one two three"}, *answers[2] = {" the end", " the end"};
    double base[2], after[2], again[2];
    CHECK(et_lm_score(lm, prompt, cands, 2, base, err, sizeof err) == 0, "%s", err);
    et_method methods[3] = {ET_METHOD_LORA, ET_METHOD_IA3, ET_METHOD_PROMPT};
    const char *names[3] = {"lora", "ia3", "prompt"};
    for (int i = 0; i < 3; i++) {
        et_finetune_cfg fc = { .method = methods[i], .rank = 4, .alpha = 8, .targets = "all", .n_prompt_tokens = 4,
                               .lr = i == 1 ? 5e-2f : 1e-2f, .steps = 25, .batch = 2, .seed = 1 };
        et_finetune_stats st;
        CHECK(et_lm_finetune(lm, &fc, prompts, answers, 2, &st, err, sizeof err) == 0, "%s: %s", names[i], err);
        CHECK(et_lm_score(lm, prompt, cands, 2, after, err, sizeof err) == 0, "%s", err);
        printf("  %-6s: log p(taught) %.2f -> %.2f, loss %.3f -> %.3f in %.2f s\n", names[i], base[0], after[0],
               st.first_loss, st.final_loss, st.seconds);
        CHECK(after[0] > base[0] + 1.0, "%s: the taught answer gained only %.3f nats", names[i], after[0] - base[0]);
        CHECK(st.final_loss < st.first_loss, "%s: loss did not fall (%.3f -> %.3f)", names[i], st.first_loss, st.final_loss);
    }
    et_lm_reset_adapter(lm);
    CHECK(et_lm_score(lm, prompt, cands, 2, again, err, sizeof err) == 0, "%s", err);
    CHECK(again[0] == base[0] && again[1] == base[1], "reset adapter: %.6f vs %.6f", again[0], base[0]);
}

static void test_errors(void) {
    char err[256];
    et_lm *x = NULL;
    CHECK(et_lm_load("build/test-tmp/no-such.gguf", NULL, &x, err, sizeof err) != 0 && strstr(err, "no-such.gguf"),
          "missing file: '%s'", err);
    et_lm_opts o = { .base_type = "q9_9" };
    CHECK(et_lm_load(path, &o, &x, err, sizeof err) != 0 && strstr(err, "q9_9"), "bad base type: '%s'", err);
    if (lm) {
        double lp;
        CHECK(et_lm_score(lm, "x", (const char *[]){""}, 1, &lp, err, sizeof err) != 0 && strstr(err, "empty"),
              "empty candidate: '%s'", err);
    }
}

int main(void) {
    RUN(test_load);
    RUN(test_batch_equals_single);
    RUN(test_decode_matches_score);
    RUN(test_cached_scoring);
    RUN(test_generate);
    RUN(test_compressed_base);
    RUN(test_finetune_methods);
    RUN(test_errors);
    et_lm_free(lm);
    return DONE();
}
