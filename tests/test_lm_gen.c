/* Generation, sampling, chat turns, llama-mode perplexity and KL divergence (models/lm.h) on
 * small random models with a SentencePiece-style vocabulary that has BOS/EOS (the models of
 * tests/test_lm.c have none, so llama mode could not run on them):
 *  - top-k = 1 gives the greedy tokens whatever the temperature and seed;
 *  - top-p / top-k / temperature keep the right candidate set on fixed distributions, and
 *    draws follow the kept set's renormalized probabilities (500 draws: each frequency within
 *    0.1 of its probability, > 4 binomial standard deviations);
 *  - one seed reproduces its output exactly, another seed changes it;
 *  - a stop string cuts the output where it first occurs and is never streamed; streamed
 *    pieces concatenate to the returned text, with and without stop strings;
 *  - --chat: the prompt in the model's template (special tokens parsed into single ids), and
 *    decoding stops at the end-of-turn token, which without --chat is just another token;
 *  - --ppl-mode llama: BOS first in every window, second half scored — equal to summing the
 *    KV-cache decode path's log-probabilities over the same positions (two different graphs:
 *    1e-3 nats per token, as test_lm's decode-vs-score check);
 *  - KL of a model against itself is exactly 0 with 100% top-1 agreement; against a Q4_0
 *    copy positive and small; different vocabularies are an error naming what differs.
 */
#include <math.h>
#include "harness.h"
#include "llama_gguf.h"
#include "lm_internal.h"
#include "tok/tok_gguf.h"

static const char *path_bos = "build/test-tmp/lmgen_bos.gguf";
static const char *path_chat = "build/test-tmp/lmgen_chat.gguf";
static const char *path_eot = "build/test-tmp/lmgen_eot.gguf";
static const char *path_other = "build/test-tmp/lmgen_other.gguf";

static const char *const kWords[] = { "\xe2\x96\x81the", "\xe2\x96\x81" "cat", "\xe2\x96\x81sat", "\xe2\x96\x81on",
                                      "\xe2\x96\x81mat", ".", "\xe2\x96\x81" "dog", "\xe2\x96\x81" "a", "\xe2\x96\x81" "and",
                                      "\xe2\x96\x81log", "\xe2\x96\x81my", "\xe2\x96\x81is", "\xe2\x96\x81" "blue",
                                      "\xe2\x96\x81red", "\xe2\x96\x81" };

/* <unk> <s> </s> [<|im_start|> <|im_end|>] <0x20>..<0xFF> words: printable bytes only, so no
 * generated text holds a NUL.  `other` renames one word (same size, different vocabulary). */
static et_tok *spm_tok(bool chat, bool other) {
    static char bytes[224][8];
    const char *toks[320];
    int32_t types[320];
    float scores[320];
    int n = 0;
    toks[n] = "<unk>", types[n] = ET_TOKT_UNKNOWN, scores[n++] = 0;
    toks[n] = "<s>", types[n] = ET_TOKT_CONTROL, scores[n++] = 0;
    toks[n] = "</s>", types[n] = ET_TOKT_CONTROL, scores[n++] = 0;
    if (chat) {
        toks[n] = "<|im_start|>", types[n] = ET_TOKT_CONTROL, scores[n++] = 0;
        toks[n] = "<|im_end|>", types[n] = ET_TOKT_CONTROL, scores[n++] = 0;
    }
    for (int b = 0x20; b < 0x100; b++) {
        snprintf(bytes[b - 0x20], sizeof bytes[0], "<0x%02X>", b);
        toks[n] = bytes[b - 0x20], types[n] = ET_TOKT_BYTE, scores[n++] = 0;
    }
    for (size_t i = 0; i < sizeof kWords / sizeof kWords[0]; i++) {
        toks[n] = other && i == 3 ? "\xe2\x96\x81off" : kWords[i];
        types[n] = ET_TOKT_NORMAL, scores[n++] = -(float)i;
    }
    et_tok_spec sp;
    et_tok_spec_init(&sp, ET_TOK_SPM);
    sp.n_vocab = n, sp.tokens = toks, sp.types = types, sp.scores = scores;
    sp.unk = 0, sp.bos = 1, sp.eos = 2, sp.add_bos = 1;
    sp.chat = chat ? ET_CHAT_CHATML : ET_CHAT_NONE;
    char err[256];
    et_tok *t = et_tok_create(&sp, err, sizeof err);
    CHECK(t != NULL, "spm tokenizer: %s", err);
    return t;
}

/* A random 2-layer model over that vocabulary.  eot: instead of sharp random logits, every
 * position prefers <|im_end|> (embeddings share a large component 0 and <|im_end|>'s output
 * row reads only it), so a chat turn ends at once. */
static bool write_model(const char *path, bool chat, bool eot, bool other, uint64_t seed) {
    et_tok *tok = spm_tok(chat, other);
    if (!tok) return false;
    et_llama_config cfg = { .vocab = et_tok_n_vocab(tok), .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                            .head_dim = 16, .ffn = 128, .max_seq = 64, .rope_theta = 10000.0f, .rms_eps = 1e-5f };
    et_ctx *ctx = et_ctx_new(4096);
    et_llama m;
    bool ok = et_llama_init(&m, ctx, &cfg, seed, 0);
    for (int32_t id = 0; ok && !eot && id < et_ctx_n_tensors(ctx); id++) {   /* far from uniform */
        et_tensor *t = et_ctx_tensor(ctx, id);
        if (t->ne[1] > 1) for (int64_t i = 0; i < et_nelements(t); i++) ((float *)t->data)[i] *= 5.0f;
    }
    if (ok && eot) {
        int32_t im_end = et_tok_lookup(tok, "<|im_end|>", 10);
        float *emb = m.tok_emb->data, *out = m.output->data;
        for (int32_t v = 0; v < cfg.vocab; v++) emb[(int64_t)v * cfg.dim] += 10.0f;
        memset(out + (int64_t)im_end * cfg.dim, 0, (size_t)cfg.dim * sizeof *out);
        out[(int64_t)im_end * cfg.dim] = 10.0f;
    }
    char err[256] = "";
    et_gguf_writer *w = et_gguf_writer_new();
    et_llama_to_gguf(&m, w, "test-lmgen");
    ok = ok && et_tok_to_gguf(tok, w, err, sizeof err) == 0;
    if (chat) et_gguf_writer_set_str(w, "tokenizer.chat_template", "{% for m in messages %}<|im_start|>...{% endfor %}");
    system("mkdir -p build/test-tmp");
    ok = ok && et_gguf_writer_write(w, path, err, sizeof err) == 0;
    CHECK(ok, "write %s: %s %s", path, err, et_ctx_error(ctx));
    et_gguf_writer_free(w);
    et_ctx_free(ctx);
    et_tok_free(tok);
    return ok;
}

static et_lm *lm, *lm_chat;

static void test_models(void) {
    char err[256];
    CHECK(write_model(path_bos, false, false, false, 3) && write_model(path_chat, true, false, false, 4) &&
          write_model(path_eot, true, true, false, 5) && write_model(path_other, false, false, true, 3),
          "models written");
    CHECK(et_lm_load(path_bos, NULL, &lm, err, sizeof err) == 0, "load: %s", err);
    CHECK(et_lm_load(path_chat, NULL, &lm_chat, err, sizeof err) == 0, "load chat: %s", err);
    if (lm) CHECK(et_tok_bos(lm->tok) == 1, "BOS id %d", et_tok_bos(lm->tok));
}

/* Next-token logits after ids through the KV-cache decode graph (logits: V floats). */
static bool decode_logits(et_lm *m, const int32_t *ids, int n, float *logits) {
    et_ctx_mark mk = et_ctx_get_mark(m->ctx);
    et_llama_cache cache;
    bool ok = et_llama_cache_new(&cache, &m->m, m->ctx, n);
    et_tensor *tid = et_new_1d(m->ctx, ET_I32, n, ET_FLAG_INPUT, "ids");
    et_tensor *pos = et_new_1d(m->ctx, ET_I32, n, ET_FLAG_INPUT, "pos");
    if (ok && tid && pos) {
        memcpy(tid->data, ids, (size_t)n * 4);
        for (int i = 0; i < n; i++) ((int32_t *)pos->data)[i] = i;
    }
    et_tensor *lg = ok && tid && pos ? et_llama_decode(&m->m, &cache, tid, pos, 0) : NULL;
    et_graph *g = et_graph_new(m->ctx, 4096);
    et_plan plan = {0};
    ok = lg && et_graph_add(g, lg) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) && et_graph_compute(g, &plan, 0);
    if (ok) memcpy(logits, lg->data, (size_t)m->m.cfg.vocab * sizeof *logits);
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_reset(m->ctx, mk);
    return ok;
}

static const int32_t kPrompt[6] = { 1, 230, 30, 239, 77, 241 };   /* BOS, words and bytes */

static void test_topk1_is_greedy(void) {
    if (!lm) return;
    char err[256];
    int32_t greedy[20], samp[20];
    int ng = 0, ns = 0;
    CHECK(et_lm_generate_tokens(lm, kPrompt, 6, 20, NULL, false, greedy, &ng, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(ng == 20, "greedy gave %d tokens", ng);
    for (uint64_t seed = 1; seed <= 3; seed++) {
        et_sample_opts so = { .temperature = 1.5f, .top_k = 1, .top_p = 1, .seed = seed };
        CHECK(et_lm_generate_tokens(lm, kPrompt, 6, 20, &so, false, samp, &ns, NULL, err, sizeof err) == 0, "%s", err);
        CHECK(ns == ng && !memcmp(samp, greedy, sizeof greedy), "top-k 1 (seed %d) differs from greedy", (int)seed);
    }
}

static void test_candidate_sets(void) {
    const float p[5] = { 0.5f, 0.2f, 0.15f, 0.1f, 0.05f };
    float lg[5], probs[5];
    int32_t ids[5];
    for (int i = 0; i < 5; i++) lg[i] = logf(p[4 - i]) + 3.0f;   /* reversed: ids 4,3,2,1,0 most likely first */
    et_sample_opts so = { .temperature = 1, .top_p = 0.8f };
    int32_t n = et_sample_candidates(lg, 5, &so, ids, probs);   /* 0.5 + 0.2 < 0.8 <= 0.5 + 0.2 + 0.15 */
    CHECK(n == 3 && ids[0] == 4 && ids[1] == 3 && ids[2] == 2, "top-p 0.8 kept %d tokens (%d %d %d)", n, ids[0], ids[1], ids[2]);
    for (int i = 0; i < n && n == 3; i++) CHECK_CLOSE(probs[i], p[i] / 0.85, 1e-5, 0, "renormalized top-p probability");
    so = (et_sample_opts){ .temperature = 1, .top_p = 0.95f, .top_k = 2 };
    n = et_sample_candidates(lg, 5, &so, ids, probs);
    CHECK(n == 2 && ids[0] == 4 && ids[1] == 3, "top-k 2 before top-p 0.95 kept %d", n);
    if (n == 2) CHECK_CLOSE(probs[0], 0.5 / 0.7, 1e-5, 0, "top-k renormalized");
    /* temperature 2 flattens to p^(1/2) before top-p: 0.340 0.555 0.741 0.893 cumulative */
    so = (et_sample_opts){ .temperature = 2, .top_p = 0.8f };
    n = et_sample_candidates(lg, 5, &so, ids, probs);
    CHECK(n == 4, "temperature 2 then top-p 0.8 kept %d (want 4)", n);
    so = (et_sample_opts){ .temperature = 0, .top_p = 0.1f };
    n = et_sample_candidates(lg, 5, &so, ids, probs);
    CHECK(n == 1 && ids[0] == 4 && probs[0] == 1.0f, "greedy: %d candidates", n);
    so = (et_sample_opts){ .temperature = 1, .top_p = 1 };
    n = et_sample_candidates(lg, 5, &so, ids, probs);
    double s = 0;
    for (int i = 0; i < n; i++) s += probs[i];
    CHECK(n == 5 && fabs(s - 1) < 1e-6, "no truncation: %d candidates, sum %g", n, s);
}

/* Draws from the model's first-step distribution under top-k 3 stay in the set and follow
 * its probabilities. */
static void test_draw_frequencies(void) {
    if (!lm) return;
    char err[256];
    int32_t V = lm->m.cfg.vocab, ids[512];
    float *lg = malloc((size_t)V * sizeof *lg), probs[512];
    CHECK(decode_logits(lm, kPrompt, 6, lg), "logits");
    et_sample_opts so = { .temperature = 1.0f, .top_k = 3, .top_p = 1 };
    int32_t n = et_sample_candidates(lg, V, &so, ids, probs);
    CHECK(n == 3, "top-k 3 kept %d", n);
    printf("  top-3 of the first step: %d %.3f, %d %.3f, %d %.3f\n", ids[0], probs[0], ids[1], probs[1], ids[2], probs[2]);
    int hits[3] = {0}, draws = 500;
    for (int d = 0; d < draws && n == 3; d++) {
        so.seed = 1000 + (uint64_t)d;
        int32_t t;
        int nt = 0;
        if (et_lm_generate_tokens(lm, kPrompt, 6, 1, &so, false, &t, &nt, NULL, err, sizeof err) || nt != 1) {
            CHECK(0, "draw %d: %s", d, err);
            break;
        }
        int k = t == ids[0] ? 0 : t == ids[1] ? 1 : t == ids[2] ? 2 : -1;
        CHECK(k >= 0, "draw %d: token %d is outside the top-3 set", d, t);
        if (k >= 0) hits[k]++;
    }
    for (int k = 0; k < 3 && n == 3; k++)
        CHECK_CLOSE((double)hits[k] / draws, probs[k], 0, 0.1, "draw frequency vs probability");
    free(lg);
}

static void test_seed_reproduces(void) {
    if (!lm) return;
    char err[256];
    int32_t a[24], b[24], c[24];
    int na, nb, nc;
    et_sample_opts so = { .temperature = 1.0f, .top_p = 0.95f, .seed = 7 };
    CHECK(et_lm_generate_tokens(lm, kPrompt, 6, 24, &so, false, a, &na, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(et_lm_generate_tokens(lm, kPrompt, 6, 24, &so, false, b, &nb, NULL, err, sizeof err) == 0, "%s", err);
    so.seed = 8;
    CHECK(et_lm_generate_tokens(lm, kPrompt, 6, 24, &so, false, c, &nc, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(na == 24 && nb == 24 && !memcmp(a, b, sizeof a), "seed 7 twice gave different tokens");
    CHECK(nc == 24 && memcmp(a, c, sizeof a), "seeds 7 and 8 gave the same 24 tokens");
}

typedef struct { char buf[4096]; size_t n; int calls; } stream_buf;
static void on_text(void *user, const char *t, size_t len) {
    stream_buf *s = user;
    if (s->n + len < sizeof s->buf) { memcpy(s->buf + s->n, t, len); s->n += len; s->buf[s->n] = 0; }
    s->calls++;
}

static void test_stop_and_stream(void) {
    if (!lm) return;
    char err[256], full[4096], cut[4096];
    stream_buf s = {0};
    et_sample_opts so = { .on_text = on_text, .user = &s };
    const char *prompt = " the cat sat on the";
    CHECK(et_lm_generate_ex(lm, prompt, 40, &so, full, sizeof full, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(strlen(full) == s.n && !strcmp(full, s.buf), "streamed text differs from the returned text");
    printf("  greedy text (%zu bytes, %d streamed pieces): '%.60s'\n", s.n, s.calls, full);
    size_t L = strlen(full);
    CHECK(L >= 12, "greedy text too short for a stop string test (%zu bytes)", L);
    if (L < 12) return;
    /* a 3-byte stop string from the middle: output ends where it first occurs */
    char stop[4];
    memcpy(stop, full + L / 2, 3);
    stop[3] = 0;
    size_t at = (size_t)(strstr(full, stop) - full);
    const char *stops[] = { "\x01never", stop, NULL };
    stream_buf s2 = {0};
    so = (et_sample_opts){ .on_text = on_text, .user = &s2, .stop = stops };
    CHECK(et_lm_generate_ex(lm, prompt, 40, &so, cut, sizeof cut, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(strlen(cut) == at && !strncmp(cut, full, at), "stop '%s': output of %zu bytes, want the %zu before it",
          stop, strlen(cut), at);
    CHECK(s2.n == strlen(cut) && !strcmp(s2.buf, cut), "streamed text with a stop string differs from the returned text");
    CHECK(strstr(s2.buf, stop) == NULL, "the stop string was streamed");
    /* sampled, streamed, no stop: still identical */
    stream_buf s3 = {0};
    so = (et_sample_opts){ .temperature = 1.0f, .top_p = 0.9f, .seed = 3, .on_text = on_text, .user = &s3 };
    CHECK(et_lm_generate_ex(lm, prompt, 30, &so, cut, sizeof cut, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(s3.n == strlen(cut) && !strcmp(s3.buf, cut), "sampled: streamed text differs from the returned text");
}

static void test_chat(void) {
    if (!lm || !lm_chat) return;
    char err[256], out[512];
    char *p = et_lm_chat_prompt(lm_chat, NULL, "be brief", "hi", err, sizeof err);
    const char *want = "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n";
    CHECK(p && !strcmp(p, want), "chat prompt '%s'", p ? p : err);
    CHECK(et_lm_chat_prompt(lm, NULL, NULL, "hi", err, sizeof err) == NULL && strstr(err, "chat template"),
          "model without a template: '%s'", err);
    char *q = et_lm_chat_prompt(lm, "chatml", NULL, "hi", err, sizeof err);
    CHECK(q && strstr(q, "<|im_start|>user\nhi"), "--chat-template chatml: %s", q ? q : err);
    free(q);
    if (!p) return;
    /* special tokens parsed: each control token is one id, BOS added once by the tokenizer */
    long cap = et_tok_encode_bound(strlen(p));
    int32_t *tmp = malloc((size_t)cap * sizeof *tmp);
    long want_n = et_tok_encode(lm_chat->tok, p, strlen(p), ET_TOK_ADD_SPECIAL | ET_TOK_PARSE_SPECIAL, tmp, cap);
    CHECK(want_n > 0 && tmp[0] == 1 && tmp[1] == et_tok_lookup(lm_chat->tok, "<|im_start|>", 12), "parsed prompt starts %d %d",
          tmp[0], tmp[1]);
    long plain_n = et_tok_encode(lm_chat->tok, p, strlen(p), 0, tmp, cap) + 1;
    free(tmp);
    et_gen_stats st;
    et_sample_opts so = { .chat = true };
    CHECK(et_lm_generate_ex(lm_chat, p, 4, &so, out, sizeof out, &st, err, sizeof err) == 0, "%s", err);
    CHECK(st.n_prompt == want_n && want_n < plain_n, "chat prompt: %d tokens (parsed %ld, unparsed %ld)", st.n_prompt,
          want_n, plain_n);
    free(p);
    /* the model that always prefers <|im_end|>: a chat turn ends at once; without --chat the
     * token is just a control token (decoded to nothing) and decoding runs to max_new */
    et_lm *e = NULL;
    CHECK(et_lm_load(path_eot, NULL, &e, err, sizeof err) == 0, "%s", err);
    if (!e) return;
    char *t = et_lm_chat_prompt(e, NULL, NULL, "hello", err, sizeof err);
    CHECK(t != NULL, "%s", err);
    if (t) {
        CHECK(et_lm_generate_ex(e, t, 8, &so, out, sizeof out, &st, err, sizeof err) == 0, "%s", err);
        CHECK(st.n_gen == 0 && out[0] == 0, "chat turn did not end at <|im_end|>: %d tokens", st.n_gen);
        et_sample_opts plain = {0};
        CHECK(et_lm_generate_ex(e, t, 8, &plain, out, sizeof out, &st, err, sizeof err) == 0, "%s", err);
        CHECK(st.n_gen == 8, "without chat: %d tokens (want 8 <|im_end|> tokens)", st.n_gen);
    }
    free(t);
    et_lm_free(e);
}

static void test_llama_mode(void) {
    if (!lm) return;
    char err[256];
    enum { N = 50, CTX = 16 };
    int32_t ids[N];
    uint64_t s = 99;
    for (int i = 0; i < N; i++) ids[i] = 3 + (int32_t)(et_t_rng_next(&s) % (uint64_t)(lm->m.cfg.vocab - 3));
    double nll;
    int64_t count;
    CHECK(et_lm_nll(lm, ids, N, 1, CTX, &nll, &count, err, sizeof err) == 0, "llama mode: %s", err);
    CHECK(count == 3 * (CTX - 1 - CTX / 2), "llama mode scored %lld tokens, want 3 windows x 7", (long long)count);
    /* the same sum through the decode graph: window w, BOS then ids, position t predicts t+1 */
    double ref = 0;
    float *lg = malloc((size_t)lm->m.cfg.vocab * sizeof *lg);
    for (int w = 0; w < N / CTX; w++) {
        int32_t win[CTX];
        memcpy(win, ids + w * CTX, sizeof win);
        win[0] = 1;
        for (int t = CTX / 2; t < CTX - 1; t++) {
            if (!decode_logits(lm, win, t + 1, lg)) { CHECK(0, "decode"); break; }
            double mx = -INFINITY, z = 0;
            for (int v = 0; v < lm->m.cfg.vocab; v++) mx = lg[v] > mx ? lg[v] : mx;
            for (int v = 0; v < lm->m.cfg.vocab; v++) z += exp(lg[v] - mx);
            ref -= lg[win[t + 1]] - mx - log(z);
        }
    }
    free(lg);
    CHECK_CLOSE(nll, ref, 0, 1e-3 * (double)count, "llama-mode NLL vs the decode path");
    printf("  llama mode: %lld tokens, mean nll %.4f (decode path %.4f)\n", (long long)count, nll / count, ref / count);
    /* full mode on the same ids: every token after the first, windows overlapping by one */
    CHECK(et_lm_nll(lm, ids, N, 0, CTX, &nll, &count, err, sizeof err) == 0 && count == N - 1, "full mode: %lld", (long long)count);
}

static void test_kl(void) {
    if (!lm) return;
    char err[256];
    int32_t ids[40];
    uint64_t s = 5;
    for (int i = 0; i < 40; i++) ids[i] = 3 + (int32_t)(et_t_rng_next(&s) % (uint64_t)(lm->m.cfg.vocab - 3));
    et_lm_kl_stats k;
    CHECK(et_lm_kl(lm, lm, ids, 40, 0, 0, &k, err, sizeof err) == 0, "%s", err);
    CHECK(k.n == 39 && k.kl_mean == 0 && k.kl_max == 0 && k.top1 == 1 && k.nll == k.nll_base,
          "self KL: n %lld mean %g max %g top1 %g", (long long)k.n, k.kl_mean, k.kl_max, k.top1);
    double nll;
    int64_t count;
    CHECK(et_lm_nll(lm, ids, 40, 0, 0, &nll, &count, err, sizeof err) == 0, "%s", err);
    CHECK_CLOSE(k.nll, nll, 1e-5, 0, "KL run's NLL vs et_lm_nll");
    et_lm *q = NULL;
    et_lm_opts o = { .base_type = "q4_0" };
    CHECK(et_lm_load(path_bos, &o, &q, err, sizeof err) == 0, "%s", err);
    if (q) {
        CHECK(et_lm_kl(q, lm, ids, 40, 1, 16, &k, err, sizeof err) == 0, "%s", err);
        printf("  q4_0 vs f32 (llama mode): KL mean %.5f median %.5f p99 %.5f max %.5f, top-1 %.1f%%\n", k.kl_mean,
               k.kl_median, k.kl_p99, k.kl_max, 100 * k.top1);
        CHECK(k.kl_mean > 1e-5 && k.kl_mean < 0.2 && k.kl_median <= k.kl_p90 && k.kl_p90 <= k.kl_p99 &&
              k.kl_p99 <= k.kl_max, "q4_0: KL mean %g median %g p90 %g p99 %g max %g", k.kl_mean, k.kl_median, k.kl_p90,
              k.kl_p99, k.kl_max);
        et_lm_free(q);
    }
    et_lm *o2 = NULL;
    CHECK(et_lm_load(path_other, NULL, &o2, err, sizeof err) == 0, "%s", err);
    if (o2) {
        CHECK(et_lm_kl(o2, lm, ids, 40, 0, 0, &k, err, sizeof err) != 0 && strstr(err, "token") && strstr(err, "off"),
              "renamed token: '%s'", err);
        et_lm_free(o2);
    }
    if (lm_chat) CHECK(et_lm_kl(lm_chat, lm, ids, 40, 0, 0, &k, err, sizeof err) != 0 && strstr(err, "vocabulary"),
                       "different sizes: '%s'", err);
}

int main(void) {
    RUN(test_models);
    RUN(test_topk1_is_greedy);
    RUN(test_candidate_sets);
    RUN(test_draw_frequencies);
    RUN(test_seed_reproduces);
    RUN(test_stop_and_stream);
    RUN(test_chat);
    RUN(test_llama_mode);
    RUN(test_kl);
    et_lm_free(lm);
    et_lm_free(lm_chat);
    return DONE();
}
