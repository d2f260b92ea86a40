/* models/lm_cost.c: the FLOPs / bytes of et_lm calls and the weight types a model runs on.
 *   - scoring: FLOPs against an independent count from the shapes (2·params per token for
 *     the linear layers, (4·hd+4) per causal (query, key) pair per head for attention,
 *     2·dim·vocab per scored position for the head); the op table adds elementwise work
 *     (norms, rope, SwiGLU, softmax bookkeeping) on top, so the ratio must lie in
 *     [1, 1.25] — the elementwise share of this small model's step;
 *   - bytes: at least every linear weight once at its storage size, and a Q8_0 base moves
 *     fewer bytes than the f32 one by at least 90% of the weights' size difference;
 *   - generation: each extra decode step adds at least one token's linear FLOPs, and the
 *     steps grow (one more cached key each);
 *   - weight types: q8_0 is used as asked; q4_k on rows of 64 (not whole 256-blocks) falls
 *     back to iq4_nl, and the string says so. */
#include "harness.h"
#include "io/gguf.h"
#include "llama_gguf.h"
#include "lm.h"
#include "lm_cost.h"
#include "tok/bpe_train.h"
#include "tok/tok_gguf.h"

static const char *text = "the cat sat on the mat. the dog sat on the log. one two three four five.\n";
static char path[512];
static const et_llama_config cfg0 = { .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
                                      .ffn = 128, .max_seq = 128, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
                                      .tied_embeddings = true };
static int32_t vocab;

static bool write_model(void) {
    char err[256];
    et_bpe_train_opts o = { .vocab_size = 280, .pretok = ET_PRETOK_GPT2, .special = (const char *[]){"<|end|>"},
                            .n_special = 1 };
    et_bpe_trainer *tr = et_bpe_trainer_new(&o, err, sizeof err);
    if (!tr) return false;
    for (int i = 0; i < 5; i++) et_bpe_trainer_feed(tr, text, strlen(text));
    et_tok *tok = et_bpe_trainer_finish(tr, err, sizeof err);
    et_bpe_trainer_free(tr);
    if (!tok) return false;
    et_llama_config cfg = cfg0;
    cfg.vocab = vocab = et_tok_n_vocab(tok);
    et_ctx *ctx = et_ctx_new(4096);
    et_llama m;
    bool ok = et_llama_init(&m, ctx, &cfg, 5, 0);
    et_gguf_writer *w = et_gguf_writer_new();
    et_llama_to_gguf(&m, w, "cost-test");
    ok = ok && et_tok_to_gguf(tok, w, err, sizeof err) == 0 && et_gguf_writer_write(w, path, err, sizeof err) == 0;
    CHECK(ok, "write: %s", err);
    et_gguf_writer_free(w);
    et_ctx_free(ctx);
    et_tok_free(tok);
    return ok;
}

static et_lm *load(const char *base) {
    et_lm_opts o = { .base_type = base, .n_threads = 1 };
    et_lm *lm = NULL;
    char err[256];
    CHECK(et_lm_load(path, &o, &lm, err, sizeof err) == 0, "load %s: %s", base, err);
    return lm;
}

static void test_score_cost(void) {
    et_lm *f = load("f32"), *q = load("q8_0");
    if (!f || !q) { et_lm_free(f); et_lm_free(q); return; }
    char err[256];
    const char *prompt = "the cat sat on the mat. the dog sat on";
    const char *cands[3] = {" the log", " a mat", " one"};
    et_lm_cost cf, cq;
    CHECK(et_lm_score_cost(f, prompt, cands, 3, &cf, err, sizeof err) == 0, "cost: %s", err);
    CHECK(et_lm_score_cost(q, prompt, cands, 3, &cq, err, sizeof err) == 0, "cost: %s", err);
    /* the batch et_lm_score builds: T = prompt (with BOS) + longest candidate, 3 rows */
    int32_t np = 0, *ids = et_lm_tokenize(f, prompt, true, &np), maxc = 0, P = 0;
    free(ids);
    for (int i = 0; i < 3; i++) {
        int32_t nc = 0, *c = et_lm_tokenize(f, cands[i], false, &nc);
        free(c);
        if (nc > maxc) maxc = nc;
        P += nc;
    }
    double T = np + maxc, B = 3, D = cfg0.dim, L = cfg0.n_layers, H = cfg0.n_heads, hd = cfg0.head_dim;
    double kv = cfg0.n_kv_heads * hd, lin = D * H * hd * 2 + D * kv * 2 + 3 * D * cfg0.ffn;   /* per layer */
    double est = 2 * lin * L * T * B + (4 * hd + 4) * T * (T + 1) / 2 * H * L * B + 2 * D * vocab * P;
    printf("  score: T %.0f x B 3, P %d: %.4g FLOPs (shape count %.4g, ratio %.3f), %.4g bytes f32, %.4g q8_0\n", T, P,
           cf.flops, est, cf.flops / est, cf.bytes, cq.bytes);
    CHECK(cf.flops >= est && cf.flops <= 1.25 * est, "FLOPs %.4g vs the shape count %.4g", cf.flops, est);
    CHECK(fabs(cq.flops - cf.flops) <= 0.05 * cf.flops, "a q8_0 base does the same arithmetic: %g vs %g", cq.flops, cf.flops);
    double w32 = lin * L * 4, w8 = lin * L * 34.0 / 32;   /* f32 / q8_0 (34-byte blocks of 32) */
    CHECK(cf.bytes >= w32, "f32 bytes %.4g below the weights' %.4g", cf.bytes, w32);
    CHECK(cf.bytes - cq.bytes >= 0.9 * (w32 - w8), "q8_0 saves %.4g bytes, the weights shrink by %.4g",
          cf.bytes - cq.bytes, w32 - w8);
    /* generation: prefill + decode steps */
    et_lm_cost g1, g4, g5;
    CHECK(et_lm_generate_cost(f, prompt, 8, 1, &g1, err, sizeof err) == 0 &&
          et_lm_generate_cost(f, prompt, 8, 4, &g4, err, sizeof err) == 0 &&
          et_lm_generate_cost(f, prompt, 8, 5, &g5, err, sizeof err) == 0, "generate cost: %s", err);
    double step = g5.flops - g4.flops, step_min = 2 * lin * L + 2 * D * vocab;
    CHECK(step >= step_min && step <= 1.5 * step_min, "a decode step %.4g FLOPs vs the shape count %.4g", step, step_min);
    CHECK((g4.flops - g1.flops) / 3 < step, "steps grow with the cache: mean %.6g, last %.6g", (g4.flops - g1.flops) / 3,
          step);
    CHECK(g5.bytes - g4.bytes >= w32, "each decode step reads every weight: %.4g < %.4g", g5.bytes - g4.bytes, w32);
    CHECK(et_lm_generate_cost(f, prompt, 8, 9, &g1, err, sizeof err) == -1 && strstr(err, "9 steps"),
          "more steps than tokens: %s", err);
    et_lm_free(f);
    et_lm_free(q);
}

static void test_weight_types(void) {
    et_lm *q = load("q8_0"), *k = load("q4_k");
    char buf[160];
    if (q) {
        et_lm_weight_types(q, buf, sizeof buf);
        CHECK(!strncmp(buf, "linear q8_0 x14;", 16), "q8_0: %s", buf);
    }
    if (k) {
        et_lm_weight_types(k, buf, sizeof buf);
        printf("  q4_k asked, rows of 64 and 128: %s\n", buf);
        CHECK(strstr(buf, "iq4_nl") && !strstr(buf, "q4_k"), "q4_k on rows of 64 falls back to iq4_nl: %s", buf);
    }
    CHECK(et_lm_weight_types(q, buf, 4) > 4 && strlen(buf) == 3, "truncation is snprintf's");
    et_lm_free(q);
    et_lm_free(k);
}

int main(void) {
    const char *b = getenv("BUILD");
    char cmd[600];
    snprintf(path, sizeof path, "%s/test-tmp/lm_cost.gguf", b ? b : "build");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/test-tmp'", b ? b : "build");
    if (system(cmd) != 0 || !write_model()) { printf("FAIL setup: cannot write %s\n", path); return 1; }
    RUN(test_score_cost);
    RUN(test_weight_types);
    return DONE();
}
