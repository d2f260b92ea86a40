/* et_lm on the Vulkan backend (et_lm_opts.device = "vulkan", what `--device vulkan` of
 * `edgetune generate` and `edgetune perplexity` passes), against the same model on the CPU:
 *  - greedy generation gives the CPU's tokens, 24 of them through the KV cache (the cache
 *    stays on the device across steps; each step's own tensors are forgotten and re-created);
 *    a second call on the same model gives them again (nothing stale from the first call);
 *  - sampled generation with one seed gives the CPU's tokens too (same logits up to float
 *    rounding, same draws);
 *  - perplexity (full mode, two windows) within 1e-4 relative of the CPU (f32 reductions in a
 *    different order over two layers; measured ~1e-6);
 *  - et_lm_finetune (LoRA) on the device, then scoring with the adapter it trained: the CPU's
 *    losses and candidate log-probabilities (tolerances at the test);
 *  - a graph the device cannot hold (EDGETUNE_VK_LIMITS=mobile:1024: the prompt's 1280 bytes
 *    of embeddings, and the 8 KiB KV cache, exceed one binding) fails with a message naming
 *    the backend, the op, the tensor and the limit: nothing silently runs on the CPU.  (Every weight type now has a shader; the
 *    iq4_nl base this case used to refuse runs, and gives the CPU's greedy tokens.)
 * The model is random with weights 5x the init's scale, so the logits are sharp and the
 * greedy choice is never a near tie that float rounding could flip.
 */
#include "test_vulkan.h"
#include "llama_gguf.h"
#include "lm_internal.h"
#include "tok/bpe_train.h"
#include "tok/tok_gguf.h"

static const char *path = "build/test-tmp/vk_lm_tiny.gguf";

static bool write_model(void) {
    static const char *text = "the cat sat on the mat. the dog sat on the log. one two three four five six.\n";
    char err[256];
    et_bpe_train_opts o = { .vocab_size = 280, .pretok = ET_PRETOK_GPT2 };
    et_bpe_trainer *tr = et_bpe_trainer_new(&o, err, sizeof err);
    if (!tr) return false;
    for (int i = 0; i < 5; i++) et_bpe_trainer_feed(tr, text, strlen(text));
    et_tok *tok = et_bpe_trainer_finish(tr, err, sizeof err);
    et_bpe_trainer_free(tr);
    if (!tok) return false;
    et_llama_config cfg = { .vocab = et_tok_n_vocab(tok), .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                            .head_dim = 16, .ffn = 128, .max_seq = 64, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
    et_ctx *ctx = et_ctx_new(4096);
    et_llama m;
    bool ok = et_llama_init(&m, ctx, &cfg, 9, 0);
    for (int32_t id = 0; ok && id < et_ctx_n_tensors(ctx); id++) {
        et_tensor *t = et_ctx_tensor(ctx, id);
        if (t->ne[1] > 1) for (int64_t i = 0; i < et_nelements(t); i++) ((float *)t->data)[i] *= 5.0f;
    }
    et_gguf_writer *w = et_gguf_writer_new();
    et_llama_to_gguf(&m, w, "test-vk-lm");
    ok = ok && et_tok_to_gguf(tok, w, err, sizeof err) == 0;
    system("mkdir -p build/test-tmp");
    ok = ok && et_gguf_writer_write(w, path, err, sizeof err) == 0;
    CHECK(ok, "write: %s %s", err, et_ctx_error(ctx));
    et_gguf_writer_free(w);
    et_ctx_free(ctx);
    et_tok_free(tok);
    return ok;
}

static et_lm *cpu, *vk;
static const int32_t kPrompt[5] = { 40, 7, 99, 120, 3 };

static void test_load(void) {
    char err[256];
    CHECK(write_model(), "model written");
    CHECK(et_lm_load(path, NULL, &cpu, err, sizeof err) == 0, "cpu: %s", err);
    et_lm_opts o = { .device = "vulkan" };
    CHECK(et_lm_load(path, &o, &vk, err, sizeof err) == 0, "vulkan: %s", err);
    CHECK(vk && vk->be && !strcmp(vk->be->name, "vulkan"), "the model is not on the Vulkan backend");
}

static void test_greedy_tokens(void) {
    if (!cpu || !vk) return;
    char err[256];
    int32_t a[24], b[24];
    int na = 0, nb = 0;
    CHECK(et_lm_generate_tokens(cpu, kPrompt, 5, 24, NULL, false, a, &na, NULL, err, sizeof err) == 0, "cpu: %s", err);
    for (int rep = 0; rep < 2; rep++) {
        CHECK(et_lm_generate_tokens(vk, kPrompt, 5, 24, NULL, false, b, &nb, NULL, err, sizeof err) == 0, "vulkan: %s", err);
        int first = -1;
        for (int i = 0; i < 24 && first < 0; i++) if (a[i] != b[i]) first = i;
        CHECK(na == 24 && nb == 24 && first < 0, "call %d: vulkan greedy differs from the CPU at token %d (%d vs %d)",
              rep + 1, first, first >= 0 ? b[first] : 0, first >= 0 ? a[first] : 0);
    }
    /* text generation through the same path (tokenizer, stop at newline) */
    char ta[128], tb[128];
    CHECK(et_lm_generate(cpu, "the cat", 12, ta, sizeof ta, err, sizeof err) == 0, "%s", err);
    CHECK(et_lm_generate(vk, "the cat", 12, tb, sizeof tb, err, sizeof err) == 0, "%s", err);
    CHECK(!strcmp(ta, tb), "text: '%s' (vulkan) vs '%s' (cpu)", tb, ta);
}

static void test_sampled_tokens(void) {
    if (!cpu || !vk) return;
    char err[256];
    int32_t a[16], b[16];
    int na = 0, nb = 0;
    et_sample_opts so = { .temperature = 0.8f, .top_k = 40, .top_p = 0.9f, .seed = 11 };
    CHECK(et_lm_generate_tokens(cpu, kPrompt, 5, 16, &so, false, a, &na, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(et_lm_generate_tokens(vk, kPrompt, 5, 16, &so, false, b, &nb, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(na == 16 && nb == 16 && !memcmp(a, b, sizeof a), "sampled tokens differ between vulkan and the CPU");
}

static void test_perplexity(void) {
    if (!cpu || !vk) return;
    char err[256];
    int32_t ids[90];
    uint64_t s = 17;
    for (int i = 0; i < 90; i++) ids[i] = (int32_t)(et_t_rng_next(&s) % (uint64_t)cpu->m.cfg.vocab);
    double a, b;
    int64_t ca, cb;
    CHECK(et_lm_nll(cpu, ids, 90, 0, 48, &a, &ca, err, sizeof err) == 0, "%s", err);
    CHECK(et_lm_nll(vk, ids, 90, 0, 48, &b, &cb, err, sizeof err) == 0, "%s", err);
    CHECK(ca == 89 && cb == 89, "scored %lld / %lld", (long long)ca, (long long)cb);
    CHECK_CLOSE(b, a, 1e-4, 0, "vulkan vs cpu summed NLL");
    printf("#   perplexity cpu %.6f vulkan %.6f\n", exp(a / ca), exp(b / cb));
}

/* et_lm_finetune on the model's device (what the study's cells call with --device): LoRA for
 * 6 steps through the trainer on Vulkan, then scoring with the trained adapter (downloaded at
 * the end of training, uploaded again by the next graph) — against the same on the CPU.
 * Tolerances: losses 1e-3 absolute (float sums in different orders through 6 AdamW steps;
 * the finetune CLI test measures agreement to 4 decimals), candidate log-probabilities 1e-3
 * relative; and the adapter must have changed the scores (a stale base-only score fails). */
static void test_finetune_then_score(void) {
    if (!cpu || !vk) return;
    char err[256];
    const char *prompts[4] = { "the cat sat on", "the dog sat on", "one two three", "four five" };
    const char *answers[4] = { " the mat.", " the log.", " four five", " six." };
    const char *cands[2] = { " the mat.", " the log." };
    double before[2], lc[2], lv[2];
    CHECK(et_lm_score(vk, "the cat sat on", cands, 2, before, err, sizeof err) == 0, "%s", err);
    et_finetune_cfg fc = { .method = ET_METHOD_LORA, .rank = 4, .alpha = 8.0f, .targets = "all", .lr = 1e-2f,
                           .steps = 6, .batch = 2, .seed = 3 };
    et_finetune_stats sc, sv;
    CHECK(et_lm_finetune(cpu, &fc, prompts, answers, 4, &sc, err, sizeof err) == 0, "cpu: %s", err);
    CHECK(et_lm_finetune(vk, &fc, prompts, answers, 4, &sv, err, sizeof err) == 0, "vulkan: %s", err);
    CHECK(fabs(sc.first_loss - sv.first_loss) <= 1e-3 && fabs(sc.final_loss - sv.final_loss) <= 1e-3,
          "losses: cpu %.5f -> %.5f, vulkan %.5f -> %.5f", sc.first_loss, sc.final_loss, sv.first_loss, sv.final_loss);
    CHECK(et_lm_score(cpu, "the cat sat on", cands, 2, lc, err, sizeof err) == 0, "%s", err);
    CHECK(et_lm_score(vk, "the cat sat on", cands, 2, lv, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 2; i++)
        CHECK_CLOSE(lv[i], lc[i], 1e-3, 0, "log p(candidate) after finetuning, vulkan vs cpu");
    CHECK(fabs(lv[0] - before[0]) > 1e-2, "scoring on the device ignores the trained adapter (%.4f before, %.4f after)",
          before[0], lv[0]);
    printf("#   finetune: cpu %.4f -> %.4f, vulkan %.4f -> %.4f; log p(' the mat.') %.4f -> %.4f (cpu %.4f)\n",
           sc.first_loss, sc.final_loss, sv.first_loss, sv.final_loss, before[0], lv[0], lc[0]);
    et_lm_reset_adapter(cpu);
    et_lm_reset_adapter(vk);
}

static void test_unsupported_type(void) {
    char err[256];
    et_lm *q = NULL;
    /* an iq4_nl base (the compressor's fallback for q4_k rows of 64) runs on the device */
    et_lm_opts o = { .device = "vulkan", .base_type = "iq4_nl" };
    et_lm_opts oc = { .base_type = "iq4_nl" };
    et_lm *qc = NULL;
    CHECK(et_lm_load(path, &o, &q, err, sizeof err) == 0 && et_lm_load(path, &oc, &qc, err, sizeof err) == 0, "%s", err);
    int32_t out[8], outc[8];
    int n = 0, nc = 0;
    if (q && qc) {
        CHECK(et_lm_generate_tokens(q, kPrompt, 5, 8, NULL, false, out, &n, NULL, err, sizeof err) == 0, "iq4_nl: %s", err);
        CHECK(et_lm_generate_tokens(qc, kPrompt, 5, 8, NULL, false, outc, &nc, NULL, err, sizeof err) == 0, "%s", err);
        CHECK(n == 8 && nc == 8 && !memcmp(out, outc, sizeof out), "iq4_nl on vulkan: greedy tokens differ from the CPU's");
    }
    et_lm_free(q);
    et_lm_free(qc);
    q = NULL;
    setenv("EDGETUNE_VK_LIMITS", "mobile:1024", 1);
    CHECK(et_lm_load(path, &(et_lm_opts){ .device = "vulkan" }, &q, err, sizeof err) == 0, "%s", err);
    unsetenv("EDGETUNE_VK_LIMITS");
    if (!q) return;
    CHECK(et_lm_generate_tokens(q, kPrompt, 5, 4, NULL, false, out, &n, NULL, err, sizeof err) != 0 &&
          strstr(err, "vulkan") && strstr(err, "exceeds one storage binding") && strstr(err, "1024"),
          "a graph over the binding limit on vulkan: '%s'", err);
    printf("#   %s\n", err);
    double nll;
    int64_t c;
    CHECK(et_lm_nll(q, kPrompt, 5, 0, 0, &nll, &c, err, sizeof err) != 0 && strstr(err, "1024"), "perplexity: '%s'", err);
    et_lm_free(q);
    CHECK(et_lm_load(path, &(et_lm_opts){ .device = "vulkan:x" }, &q, err, sizeof err) != 0 && strstr(err, "vulkan:x"),
          "bad --device: '%s'", err);
}

int main(void) {
    if (vkt_opted_out()) return 0;
    RUN(test_load);
    RUN(test_greedy_tokens);
    RUN(test_sampled_tokens);
    RUN(test_perplexity);
    RUN(test_finetune_then_score);
    RUN(test_unsupported_type);
    et_lm_free(cpu);
    et_lm_free(vk);
    return DONE();
}
