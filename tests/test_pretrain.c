/* Base-model pretraining (models/pretrain.c):
 *   - the presets: non-embedding sizes span >= 10x (~0.3M / ~1.2M / ~3.1M), tiny's body
 *     outweighs its embedding, budgets are step counts with a final phase at the full
 *     context of 1024 holding the tokens per step;
 *   - a step-counted run is reproducible: two runs with one seed write byte-identical GGUF
 *     files (exact: same kernels, same thread count, same order of every reduction);
 *   - both phases run, the held-out windows are the long phase's, the metadata says so;
 *   - a wall-clock override (--minutes) still runs both phases;
 *   - invalid budgets are refused with a message naming the fields.
 * The runs use a very small model and synthetic text so the test takes seconds. */
#include "harness.h"
#include "io/gguf.h"
#include "pretrain.h"
#include "tok/bpe_train.h"

static const char *text =
    "the cat sat on the mat. the dog sat on the log. a bird sang in the tree by the river.\n"
    "one two three four five six seven eight nine ten. the end of the little story.\n";

static void test_presets(void) {
    et_pretrain_cfg t, s, m, x;
    CHECK(et_pretrain_preset("tiny", &t) && et_pretrain_preset("small", &s) && et_pretrain_preset("medium", &m),
          "presets");
    CHECK(!et_pretrain_preset("huge", &x), "unknown preset accepted");
    t.model.vocab = s.model.vocab = m.model.vocab = 4096;   /* `make models`' tokenizer */
    double nt = (double)et_llama_n_params(&t.model, false), ns = (double)et_llama_n_params(&s.model, false),
           nm = (double)et_llama_n_params(&m.model, false);
    printf("  non-embedding parameters: tiny %.0f, small %.0f, medium %.0f (medium/tiny %.1fx)\n", nt, ns, nm, nm / nt);
    CHECK(nt > 0.2e6 && nt < 0.4e6 && ns > 0.8e6 && ns < 1.6e6 && nm > 2.5e6 && nm < 4e6, "sizes %g %g %g", nt, ns, nm);
    CHECK(nm / nt >= 10, "sizes span %.1fx, issue 7 asks >= 10x", nm / nt);
    CHECK(nt > 4096.0 * t.model.dim, "tiny's body %.0f is smaller than its embedding %d", nt, 4096 * t.model.dim);
    const et_pretrain_cfg *all[3] = { &t, &s, &m };
    for (int i = 0; i < 3; i++) {
        const et_pretrain_cfg *c = all[i];
        CHECK(c->steps > 0 && c->minutes == 0, "preset %d: a step budget (%lld steps, %g min)", i, (long long)c->steps,
              c->minutes);
        CHECK(c->long_steps == c->steps / 8 && c->long_steps > 0, "preset %d: long phase %lld of %lld", i,
              (long long)c->long_steps, (long long)c->steps);
        CHECK(c->long_seq_len == c->model.max_seq && c->model.max_seq >= 1024, "preset %d: context %d / %d", i,
              c->long_seq_len, c->model.max_seq);
        CHECK(c->batch * c->seq_len == c->long_batch * c->long_seq_len, "preset %d: tokens per step differ", i);
    }
}

static et_tok *make_tok(void) {
    char err[256];
    et_bpe_train_opts o = { .vocab_size = 280, .pretok = ET_PRETOK_GPT2, .special = (const char *[]){"<|end|>"},
                            .n_special = 1 };
    et_bpe_trainer *tr = et_bpe_trainer_new(&o, err, sizeof err);
    if (!tr) return NULL;
    for (int i = 0; i < 5; i++) et_bpe_trainer_feed(tr, text, strlen(text));
    et_tok *tok = et_bpe_trainer_finish(tr, err, sizeof err);
    et_bpe_trainer_free(tr);
    return tok;
}

static et_pretrain_cfg small_cfg(const et_tok *tok) {
    et_pretrain_cfg c;
    et_pretrain_preset("tiny", &c);
    c.model.vocab = et_tok_n_vocab(tok);
    c.model.dim = 32, c.model.n_layers = 2, c.model.n_heads = 2, c.model.n_kv_heads = 1, c.model.head_dim = 16;
    c.model.ffn = 64, c.model.max_seq = 64;
    c.seq_len = 16, c.batch = 8, c.long_seq_len = 64, c.long_batch = 2;
    c.steps = 12, c.long_steps = 4, c.warmup = 2, c.n_threads = 1;
    return c;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    *n = b && fread(b, 1, (size_t)sz, f) == (size_t)sz ? (size_t)sz : 0;
    fclose(f);
    return b;
}

static void test_run(void) {
    et_tok *tok = make_tok();
    CHECK(tok != NULL, "tokenizer");
    if (!tok) return;
    /* a stream of 50 copies of the text: enough windows of 64 */
    int32_t *ids = malloc(sizeof *ids * 40000);
    int64_t n = 0;
    for (int r = 0; r < 50 && n < 39000; r++) {
        long k = et_tok_encode(tok, text, strlen(text), 0, ids + n, 40000 - n);
        if (k > 0) n += k;
    }
    CHECK(n > 64 * 8, "stream of %lld tokens", (long long)n);
    const char *b = getenv("BUILD");
    char dir[256], p1[600], p3[600], err[256];
    snprintf(dir, sizeof dir, "%s/test-pretrain", b ? b : "build");
    snprintf(p1, sizeof p1, "mkdir -p '%s'", dir);
    CHECK(system(p1) == 0, "mkdir");
    snprintf(p1, sizeof p1, "%s/a.gguf", dir);
    snprintf(p3, sizeof p3, "%s/c.gguf", dir);
    et_pretrain_cfg c = small_cfg(tok);
    et_pretrain_result r1, r2, r3;
    int64_t nh = n / 10;                     /* the stream's last tenth as "held-out" */
    size_t n1 = 0, n2 = 0;
    CHECK(et_pretrain_run(&c, tok, ids, n - nh, ids + n - nh, nh, p1, &r1, err, sizeof err) == 0, "run 1: %s", err);
    char *f1 = slurp(p1, &n1);
    CHECK(et_pretrain_run(&c, tok, ids, n - nh, ids + n - nh, nh, p1, &r2, err, sizeof err) == 0, "run 2: %s", err);
    char *f2 = slurp(p1, &n2);
    CHECK(r1.steps == 12 && r1.long_steps == 4, "steps %lld, long %lld", (long long)r1.steps, (long long)r1.long_steps);
    CHECK(r1.tokens == 8 * 16 * 8 + 4 * 2 * 64 && r1.long_tokens == 4 * 2 * 64, "tokens %lld / %lld",
          (long long)r1.tokens, (long long)r1.long_tokens);
    CHECK(r1.heldout_window == 64 && isfinite(r1.heldout_ppl) && r1.heldout_ppl > 1, "held-out: window %d, ppl %g",
          r1.heldout_window, r1.heldout_ppl);
    CHECK(r1.heldout_ppl == r2.heldout_ppl && r1.train_loss == r2.train_loss, "runs differ: ppl %.9g vs %.9g",
          r1.heldout_ppl, r2.heldout_ppl);
    CHECK(n1 > 0 && n1 == n2 && !memcmp(f1, f2, n1), "the two files differ (%zu / %zu bytes)", n1, n2);
    free(f1); free(f2);
    et_gguf *g = NULL;
    CHECK(et_gguf_open(p1, &g, err, sizeof err) == 0, "open: %s", err);
    if (g) {
        uint64_t ls = 0, st = 0;
        CHECK(et_gguf_get_u64(g, "edgetune.pretrain.long_seq_len", &ls, err, sizeof err) == 0 && ls == 64 &&
              et_gguf_get_u64(g, "edgetune.pretrain.steps", &st, err, sizeof err) == 0 && st == 12,
              "metadata long_seq_len %llu, steps %llu: %s", (unsigned long long)ls, (unsigned long long)st, err);
        et_gguf_close(g);
    }
    /* a wall-clock override: both phases run, in proportion */
    c.minutes = 0.5 / 60;
    CHECK(et_pretrain_run(&c, tok, ids, n - nh, ids + n - nh, nh, p3, &r3, err, sizeof err) == 0, "timed: %s", err);
    CHECK(r3.steps > r3.long_steps && r3.long_steps > 0, "timed run: %lld steps, %lld long", (long long)r3.steps,
          (long long)r3.long_steps);
    /* refused budgets */
    c = small_cfg(tok);
    c.long_steps = 20;
    CHECK(et_pretrain_run(&c, tok, ids, n - nh, ids + n - nh, nh, p3, &r3, err, sizeof err) == -1 &&
          strstr(err, "steps 12 of which 20 long"), "long > all: %s", err);
    c = small_cfg(tok);
    c.long_seq_len = 128;
    CHECK(et_pretrain_run(&c, tok, ids, n - nh, ids + n - nh, nh, p3, &r3, err, sizeof err) == -1 &&
          strstr(err, "max_seq 64"), "window beyond max_seq: %s", err);
    free(ids);
    et_tok_free(tok);
}

int main(void) {
    RUN(test_presets);
    RUN(test_run);
    return DONE();
}
