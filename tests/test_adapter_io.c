/* Adapter files and model compression (models/adapter_io.h, models/compress.h).
 *
 * A tiny Llama (GQA, 2 layers, dim 64) with a BPE tokenizer is written as GGUF; on it:
 *   - LoRA / IA3 / prompt adapters taken from the model round-trip bit-exactly through
 *     edgetune's format, llama.cpp's GGUF (f32; f16 within half a half-precision ulp) and PEFT
 *     (the q/k row permutation applied on export and undone on import), and attach back;
 *   - the llama.cpp file has the keys and ggml shapes llama.cpp checks; the PEFT file has
 *     torch shapes, and q's lora_B rows are in Hugging Face's rotate-half order;
 *   - merging into the base file equals W + alpha/r·B·A computed in double (tolerance 1e-5
 *     relative to max|W|: one f32 GEMM of rank 4 plus the f32 add), IA3 scales weight rows
 *     and biases are left alone when absent;
 *   - quantize: sizes as the block formats say, metadata (tokenizer) copied, the model loads
 *     through et_lm_load and its mean NLL on a text stays within 2% (q8_0) of the f32 model's;
 *   - prune: exactly 50% zeros per tensor, every group of 4 with >= 2 zeros for 2:4;
 *   - malformed adapters and bad arguments give errors that name the field and value.
 */
#include <math.h>
#include <sys/stat.h>
#include "adapter_io.h"
#include "compress.h"
#include <unistd.h>
#include "harness.h"
#include "io/safetensors.h"
#include "llama_gguf.h"
#include "lm.h"
#include "tok/bpe_train.h"
#include "tok/tok_gguf.h"

#define DIR "build/test-tmp/adapter_io"
static const char *base_path = DIR "/base.gguf";
static const char *text = "the quick brown fox jumps over the lazy dog. a tiny model reads a tiny text, "
                          "and the adapter changes what it says next. ";

static uint64_t rng = 12345;
static float frand(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

static const et_llama_config cfg0 = { .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
                                      .ffn = 128, .max_seq = 64, .rope_theta = 10000.0f, .rms_eps = 1e-5f };

static bool write_base(void) {
    char err[256];
    system("mkdir -p " DIR);
    et_bpe_train_opts o = { .vocab_size = 300, .pretok = ET_PRETOK_GPT2 };
    et_bpe_trainer *tr = et_bpe_trainer_new(&o, err, sizeof err);
    for (int i = 0; tr && i < 5; i++) et_bpe_trainer_feed(tr, text, strlen(text));
    et_tok *tok = tr ? et_bpe_trainer_finish(tr, err, sizeof err) : NULL;
    et_bpe_trainer_free(tr);
    CHECK(tok != NULL, "tokenizer: %s", err);
    if (!tok) return false;
    et_llama_config cfg = cfg0;
    cfg.vocab = et_tok_n_vocab(tok);
    et_ctx *ctx = et_ctx_new(4096);
    et_llama m;
    bool ok = et_llama_init(&m, ctx, &cfg, 7, 0);
    for (int32_t id = 0; ok && id < et_ctx_n_tensors(ctx); id++) {   /* weights far from uniform scores */
        et_tensor *t = et_ctx_tensor(ctx, id);
        if (t->ne[1] > 1) for (int64_t i = 0; i < et_nelements(t); i++) ((float *)t->data)[i] *= 5.0f;
    }
    et_gguf_writer *w = et_gguf_writer_new();
    et_llama_to_gguf(&m, w, "adapter-test");
    et_gguf_writer_set_str(w, "test.marker", "kept");
    ok = ok && et_tok_to_gguf(tok, w, err, sizeof err) == 0 && et_gguf_writer_write(w, base_path, err, sizeof err) == 0;
    CHECK(ok, "write base: %s %s", err, et_ctx_error(ctx));
    et_gguf_writer_free(w);
    et_ctx_free(ctx);
    et_tok_free(tok);
    return ok;
}

/* The base loaded from its file, with an adapter of `kind` whose tensors are all random. */
typedef struct { et_gguf *g; et_ctx *ctx; et_llama m; } model;
static bool load(model *x) {
    char err[256];
    x->ctx = et_ctx_new(8192);
    int rc = et_gguf_open(base_path, &x->g, err, sizeof err);
    if (!rc) rc = et_llama_from_gguf(&x->m, x->ctx, x->g, err, sizeof err);
    CHECK(rc == 0, "load base: %s", err);
    return rc == 0;
}
static void unload(model *x) { et_ctx_free(x->ctx); et_gguf_close(x->g); }
static void randomize(et_adapter *a) {
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t j = 0; j < a->t[i].ne[0] * a->t[i].ne[1]; j++) a->t[i].data[j] = frand() * 0.5f + (a->kind == 2);
}
static bool make_adapter(int kind, et_adapter *a) {
    model x;
    char err[256];
    if (!load(&x)) return false;
    bool ok = kind == 1 ? et_llama_add_lora(&x.m, 4, 8.0f, 0, "all", 3) : kind == 2 ? et_llama_add_ia3(&x.m)
                                                                            : et_llama_add_prompt(&x.m, 3, 3);
    int rc = ok ? et_adapter_from_llama(&x.m, a, err, sizeof err) : -1;
    CHECK(rc == 0, "adapter from model: %s %s", err, et_ctx_error(x.ctx));
    unload(&x);
    if (rc == 0) randomize(a);
    return rc == 0;
}

/* Bit-exact (tol 0) or within tol·max|x| equality of two adapters. */
static void check_same(const et_adapter *a, const et_adapter *b, double tol, const char *what) {
    CHECK(a->kind == b->kind && a->n == b->n && a->rank == b->rank && a->alpha == b->alpha &&
              a->targets == b->targets && a->n_prompt == b->n_prompt,
          "%s: kind %d/%d n %lld/%lld rank %d/%d alpha %g/%g targets %x/%x", what, a->kind, b->kind, (long long)a->n,
          (long long)b->n, a->rank, b->rank, a->alpha, b->alpha, a->targets, b->targets);
    for (int64_t i = 0; i < a->n; i++) {
        const et_adapter_tensor *t = &a->t[i], *u = et_adapter_find(b, t->name);
        CHECK(u && u->ne[0] == t->ne[0] && u->ne[1] == t->ne[1], "%s: tensor %s missing or reshaped", what, t->name);
        if (!u || u->ne[0] != t->ne[0] || u->ne[1] != t->ne[1]) return;
        double bad = 0;
        for (int64_t j = 0; j < t->ne[0] * t->ne[1]; j++) {
            double d = fabs((double)t->data[j] - u->data[j]);
            if (d > tol * (fabs((double)t->data[j]) + 1e-30) && d > bad) bad = d;
        }
        CHECK(bad == 0, "%s: tensor %s differs by %g (tol %g relative)", what, t->name, bad, tol);
    }
}

static void test_native_roundtrip(void) {
    char err[256];
    for (int kind = 1; kind <= 3; kind++) {
        et_adapter a, b;
        if (!make_adapter(kind, &a)) return;
        CHECK(et_adapter_save(&a, "llama", DIR "/native.gguf", err, sizeof err) == 0, "save: %s", err);
        CHECK(et_adapter_load(DIR "/native.gguf", NULL, &b, err, sizeof err) == 0, "load: %s", err);
        check_same(&a, &b, 0, "native");
        /* attach to a fresh model and take it out again: the same tensors */
        model x;
        if (load(&x)) {
            et_adapter c;
            CHECK(et_adapter_attach(&b, &x.m, err, sizeof err) == 0, "attach: %s", err);
            CHECK(et_adapter_from_llama(&x.m, &c, err, sizeof err) == 0, "from model: %s", err);
            check_same(&a, &c, 0, "attached");
            et_adapter_free(&c);
            unload(&x);
        }
        et_adapter_free(&a);
        et_adapter_free(&b);
    }
}

static void test_llamacpp_export(void) {
    char err[256];
    et_adapter a, b;
    if (!make_adapter(1, &a)) return;
    CHECK(et_adapter_export_llamacpp(&a, "llama", ET_F32, DIR "/lcpp.gguf", err, sizeof err) == 0, "export: %s", err);
    et_gguf *g;
    if (et_gguf_open(DIR "/lcpp.gguf", &g, err, sizeof err) == 0) {
        et_gguf_str s;
        float alpha = 0;
        CHECK(et_gguf_get_str(g, "general.type", &s, err, sizeof err) == 0 && !strcmp(s.ptr, "adapter"), "general.type");
        CHECK(et_gguf_get_str(g, "adapter.type", &s, err, sizeof err) == 0 && !strcmp(s.ptr, "lora"), "adapter.type");
        CHECK(et_gguf_get_str(g, "general.architecture", &s, err, sizeof err) == 0 && !strcmp(s.ptr, "llama"), "arch");
        CHECK(et_gguf_get_f32(g, "adapter.lora.alpha", &alpha, err, sizeof err) == 0 && alpha == 8.0f, "alpha %g", alpha);
        CHECK(et_gguf_find(g, "edgetune.adapter.kind") == NULL, "no edgetune keys in the llama.cpp export");
        const et_gguf_tensor *A = et_gguf_tensor_find(g, "blk.1.ffn_down.weight.lora_a");
        const et_gguf_tensor *B = et_gguf_tensor_find(g, "blk.1.ffn_down.weight.lora_b");
        /* llama.cpp: model->ne[0] == a->ne[0], model->ne[1] == b->ne[1], a->ne[1] == b->ne[0] */
        CHECK(A && B && A->ne[0] == cfg0.ffn && A->ne[1] == 4 && B->ne[0] == 4 && B->ne[1] == cfg0.dim,
              "ffn_down lora shapes");
        et_gguf_close(g);
    } else CHECK(0, "open export: %s", err);
    CHECK(et_adapter_load(DIR "/lcpp.gguf", NULL, &b, err, sizeof err) == 0, "import: %s", err);
    snprintf(b.method, sizeof b.method, "%s", a.method);
    check_same(&a, &b, 0, "llama.cpp f32");
    et_adapter_free(&b);
    CHECK(et_adapter_export_llamacpp(&a, "llama", ET_F16, DIR "/lcpp16.gguf", err, sizeof err) == 0, "f16: %s", err);
    CHECK(et_adapter_load(DIR "/lcpp16.gguf", NULL, &b, err, sizeof err) == 0, "import f16: %s", err);
    check_same(&a, &b, 1.0 / 2048, "llama.cpp f16");   /* round to nearest: half an ulp = 2^-11 relative */
    et_adapter_free(&b);
    et_adapter_free(&a);
    /* IA3 has no llama.cpp form */
    if (!make_adapter(2, &a)) return;
    CHECK(et_adapter_export_llamacpp(&a, "llama", ET_F32, DIR "/x.gguf", err, sizeof err) != 0 &&
              strstr(err, "LoRA adapters only"), "ia3 to llama.cpp refused: %s", err);
    et_adapter_free(&a);
}

static void test_peft_roundtrip(void) {
    char err[256];
    et_llama_config c = cfg0;
    for (int perm = 0; perm < 2; perm++) {
        c.rope_mode = perm ? ET_ROPE_NORM : ET_ROPE_NEOX;
        et_adapter_layout lay = et_adapter_layout_of(&c);
        for (int kind = 1; kind <= 3; kind++) {
            et_adapter a, b;
            if (!make_adapter(kind, &a)) return;
            CHECK(et_adapter_export_peft(&a, &lay, "tiny", DIR "/peft", err, sizeof err) == 0, "export: %s", err);
            CHECK(et_adapter_load(DIR "/peft", &lay, &b, err, sizeof err) == 0, "import: %s", err);
            check_same(&a, &b, 0, perm ? "peft (permuted q/k)" : "peft");
            et_adapter_free(&b);
            if (kind == 1) {   /* torch shapes, and q's B rows in rotate-half order */
                et_st *st;
                CHECK(et_st_open(DIR "/peft/adapter_model.safetensors", &st, err, sizeof err) == 0, "open: %s", err);
                const et_st_tensor *A = et_st_tensor_find(st, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
                const et_st_tensor *B = et_st_tensor_find(st, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
                const et_adapter_tensor *gb = et_adapter_find(&a, "blk.0.attn_q.weight.lora_b");
                CHECK(A && B && A->shape[0] == 4 && A->shape[1] == c.dim && B->shape[0] == 64 && B->shape[1] == 4,
                      "peft shapes");
                if (B && gb) {
                    const float *hf = B->data;
                    int hd = c.head_dim, bad = 0;
                    for (int h = 0; h < c.n_heads; h++)
                        for (int i = 0; i < hd / 2; i++)
                            for (int j = 0; j < 2; j++) {
                                int g = h * hd + 2 * i + j, f = perm ? h * hd + j * hd / 2 + i : g;
                                bad += memcmp(hf + f * 4, gb->data + g * 4, 16) != 0;
                            }
                    CHECK(bad == 0, "%d q rows not where the rope layout puts them", bad);
                }
                et_st_close(st);
            }
            et_adapter_free(&a);
        }
    }
}

static void test_merge(void) {
    char err[256];
    et_adapter a;
    if (!make_adapter(1, &a)) return;
    et_gguf *base, *mg;
    if (et_gguf_open(base_path, &base, err, sizeof err)) { CHECK(0, "%s", err); return; }
    int n = et_adapter_merge_gguf(&a, base, ET_TYPE_COUNT, DIR "/merged.gguf", err, sizeof err);
    CHECK(n == 14, "merged %d tensors (want 2 layers x 7): %s", n, err);
    if (n > 0 && et_gguf_open(DIR "/merged.gguf", &mg, err, sizeof err) == 0) {
        CHECK(et_gguf_find(mg, "test.marker") && et_gguf_find(mg, "tokenizer.ggml.tokens"), "metadata kept");
        const char *names[2] = {"blk.1.attn_k.weight", "blk.0.ffn_down.weight"};
        for (int k = 0; k < 2; k++) {
            char an[96], bn[96];
            snprintf(an, sizeof an, "%s.lora_a", names[k]);
            snprintf(bn, sizeof bn, "%s.lora_b", names[k]);
            const et_gguf_tensor *w0 = et_gguf_tensor_find(base, names[k]), *w1 = et_gguf_tensor_find(mg, names[k]);
            const et_adapter_tensor *A = et_adapter_find(&a, an), *B = et_adapter_find(&a, bn);
            int64_t K = w0->ne[0], N = w0->ne[1];
            const float *x0 = w0->data, *x1 = w1->data;
            double maxw = 0, bad = 0, moved = 0;
            for (int64_t i = 0; i < K * N; i++) maxw = fmax(maxw, fabs(x0[i]));
            for (int64_t r = 0; r < N; r++)
                for (int64_t k2 = 0; k2 < K; k2++) {
                    double d = 0;
                    for (int q = 0; q < 4; q++) d += (double)B->data[r * 4 + q] * A->data[q * K + k2];
                    double want = x0[r * K + k2] + 2.0 * d;   /* alpha 8 / rank 4 */
                    bad = fmax(bad, fabs(x1[r * K + k2] - want));
                    moved = fmax(moved, fabs(2.0 * d));
                }
            CHECK(bad <= 1e-5 * (maxw + moved) && moved > 0.1, "%s: merged off by %g (max|W| %g, change %g)", names[k],
                  bad, maxw, moved);
        }
        et_gguf_close(mg);
    } else CHECK(0, "open merged: %s", err);
    et_adapter_free(&a);
    /* IA3: rows of attn_v scaled by the vector */
    if (make_adapter(2, &a)) {
        n = et_adapter_merge_gguf(&a, base, ET_TYPE_COUNT, DIR "/merged_ia3.gguf", err, sizeof err);
        CHECK(n == 6, "ia3 merged %d tensors (want 2 layers x 3): %s", n, err);
        if (n > 0 && et_gguf_open(DIR "/merged_ia3.gguf", &mg, err, sizeof err) == 0) {
            const et_gguf_tensor *w0 = et_gguf_tensor_find(base, "blk.0.attn_v.weight"),
                                 *w1 = et_gguf_tensor_find(mg, "blk.0.attn_v.weight");
            const et_adapter_tensor *s = et_adapter_find(&a, "blk.0.attn_v.ia3");
            int bad = 0;
            for (int64_t r = 0; r < w0->ne[1]; r++)
                for (int64_t k = 0; k < w0->ne[0]; k++)
                    bad += ((const float *)w1->data)[r * w0->ne[0] + k] !=
                           ((const float *)w0->data)[r * w0->ne[0] + k] * s->data[r];
            CHECK(bad == 0, "%d ia3-merged weights differ from w * l (exact: one f32 multiply)", bad);
            et_gguf_close(mg);
        }
        et_adapter_free(&a);
    }
    if (make_adapter(3, &a)) {
        CHECK(et_adapter_merge_gguf(&a, base, ET_TYPE_COUNT, DIR "/x.gguf", err, sizeof err) < 0 &&
                  strstr(err, "soft prompt"), "prompt merge refused: %s", err);
        et_adapter_free(&a);
    }
    et_gguf_close(base);
}

/* The merged file scores a text like the base with the adapter attached to the model graph:
 * mean NLL within 1e-4 relative (f32 rounding of W + s·B·A vs W·x + s·B·(A·x), through 2
 * layers), while the adapter moves it by more than 0.3% (30x the tolerance, so the comparison can fail). */
static double nll_of(et_lm *lm) {
    char err[256];
    int32_t n = 0, *ids = et_lm_tokenize(lm, text, true, &n);
    double nll = NAN;
    int64_t cnt = 0;
    if (!ids || et_lm_nll(lm, ids, n, 0, 64, &nll, &cnt, err, sizeof err)) CHECK(0, "nll: %s", err);
    free(ids);
    return cnt ? nll / (double)cnt : NAN;
}

static void test_merge_equals_attached(void) {
    char err[256];
    for (int kind = 1; kind <= 2; kind++) {
        et_adapter a;
        if (!make_adapter(kind, &a)) return;
        for (int64_t i = 0; i < a.n; i++)   /* a gentler adapter: a plausible trained size */
            for (int64_t j = 0; j < a.t[i].ne[0] * a.t[i].ne[1]; j++)
                a.t[i].data[j] = kind == 1 ? a.t[i].data[j] * 0.3f : 1.0f + (a.t[i].data[j] - 1.0f) * 0.5f;
        et_gguf *base;
        et_lm *lm = NULL, *mlm = NULL;
        if (et_gguf_open(base_path, &base, err, sizeof err) == 0) {
            CHECK(et_adapter_merge_gguf(&a, base, ET_TYPE_COUNT, DIR "/m.gguf", err, sizeof err) > 0, "merge: %s", err);
            et_gguf_close(base);
        }
        if (et_lm_load(base_path, NULL, &lm, err, sizeof err) == 0 && et_lm_load(DIR "/m.gguf", NULL, &mlm, err, sizeof err) == 0) {
            double plain = nll_of(lm);
            CHECK(et_adapter_attach_lm(&a, lm, err, sizeof err) == 0, "attach: %s", err);
            double attached = nll_of(lm), merged = nll_of(mlm);
            printf("  %s: mean NLL base %.6f, adapter attached %.6f, merged file %.6f\n", a.method, plain, attached, merged);
            CHECK(fabs(attached - plain) > 0.003 * plain, "%s adapter barely moves the NLL: %g -> %g", a.method, plain,
                  attached);
            CHECK(fabs(merged - attached) <= 1e-4 * attached, "%s: merged NLL %.7f vs attached %.7f", a.method, merged,
                  attached);
            et_lm_reset_adapter(lm);
            CHECK(fabs(nll_of(lm) - plain) == 0, "reset: the base scores as before");
        } else CHECK(0, "load: %s", err);
        et_lm_free(lm);
        et_lm_free(mlm);
        et_adapter_free(&a);
    }
}

static void test_malformed(void) {
    char err[256];
    et_adapter a, b;
    if (!make_adapter(1, &a)) return;
    /* a lora_a without its lora_b */
    b = a;
    b.n = 1;
    CHECK(et_adapter_save(&b, NULL, DIR "/bad.gguf", err, sizeof err) != 0 && strstr(err, "no partner"),
          "unpaired A: %s", err);
    /* rank in the file disagreeing with the tensors */
    et_gguf_writer *w = et_gguf_writer_new();
    et_gguf_writer_set_str(w, "general.type", "adapter");
    et_gguf_writer_set_str(w, "edgetune.adapter.kind", "lora");
    et_gguf_writer_set_u32(w, "edgetune.adapter.rank", 5);
    et_gguf_writer_set_f32(w, "edgetune.adapter.alpha", 8);
    for (int64_t i = 0; i < 2; i++)
        et_gguf_writer_add_tensor(w, a.t[i].name, ET_F32, 2, a.t[i].ne, a.t[i].data, (size_t)(a.t[i].ne[0] * a.t[i].ne[1]) * 4);
    CHECK(et_gguf_writer_write(w, DIR "/bad.gguf", err, sizeof err) == 0, "write: %s", err);
    et_gguf_writer_free(w);
    CHECK(et_adapter_load(DIR "/bad.gguf", NULL, &b, err, sizeof err) != 0 && strstr(err, "rank 5"), "rank: %s", err);
    /* a model is not an adapter */
    CHECK(et_adapter_load(base_path, NULL, &b, err, sizeof err) != 0 && strstr(err, "general.type"), "model: %s", err);
    /* PEFT: unknown peft_type, unsupported option, a key for a layer the model lacks */
    et_adapter_layout lay = et_adapter_layout_of(&cfg0);
    const char *bad_cfgs[3] = {"{\"peft_type\": \"LOHA\"}", "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, "
                               "\"use_dora\": true}", "{\"peft_type\": \"LORA\", \"r\": 4.5, \"lora_alpha\": 8}"};
    const char *want[3] = {"'LOHA'", "use_dora", "r 4.5"};
    CHECK(et_adapter_export_peft(&a, &lay, NULL, DIR "/peft2", err, sizeof err) == 0, "export: %s", err);
    FILE *f = fopen(DIR "/peft2/adapter_model.safetensors", "rb");
    static char st[1 << 20];
    size_t stn = f ? fread(st, 1, sizeof st, f) : 0;
    if (f) fclose(f);
    for (int i = 0; i < 3; i++)
        CHECK(et_adapter_from_peft_memory(bad_cfgs[i], strlen(bad_cfgs[i]), st, stn, "p", &lay, &b, err, sizeof err) != 0 &&
                  strstr(err, want[i]), "bad config %d: %s", i, err);
    et_adapter_layout one = lay;
    one.n_layers = 1;
    const char *good = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8}";
    CHECK(et_adapter_from_peft_memory(good, strlen(good), st, stn, "p", &one, &b, err, sizeof err) != 0 &&
              strstr(err, "layers.1."), "layer beyond the model: %s", err);
    CHECK(et_adapter_from_peft_memory(good, strlen(good), st, stn / 2, "p", &lay, &b, err, sizeof err) != 0,
          "truncated safetensors refused");
    /* merging an adapter for a deeper model: the error names the missing base weight */
    et_gguf *base;
    if (et_gguf_open(base_path, &base, err, sizeof err) == 0) {
        a.t[0].name[4] = a.t[1].name[4] = '7';   /* blk.0.attn_q... -> blk.7.attn_q... */
        CHECK(et_adapter_merge_gguf(&a, base, ET_TYPE_COUNT, DIR "/x.gguf", err, sizeof err) < 0 &&
                  strstr(err, "blk.7.attn_q.weight"), "merge onto a shallower base: %s", err);
        a.t[0].name[4] = a.t[1].name[4] = '0';
        et_gguf_close(base);
    }
    /* attach to a model of another shape */
    model x;
    if (load(&x)) {
        a.t[0].ne[0] = 32;   /* pretend A has 32 inputs */
        a.t[0].ne[1] = 4;
        CHECK(et_adapter_attach(&a, &x.m, err, sizeof err) != 0 && strstr(err, "does not fit"), "attach: %s", err);
        a.t[0].ne[0] = 64;
        unload(&x);
    }
    et_adapter_free(&a);
}

/* ---------------------------------------------------------------- compression */

static double mean_nll(const char *path) {
    char err[256];
    et_lm *lm;
    if (et_lm_load(path, NULL, &lm, err, sizeof err)) { CHECK(0, "et_lm_load %s: %s", path, err); return NAN; }
    int32_t n = 0, *ids = et_lm_tokenize(lm, text, true, &n);
    double nll = NAN;
    int64_t cnt = 0;
    if (!ids || et_lm_nll(lm, ids, n, 0, 64, &nll, &cnt, err, sizeof err)) CHECK(0, "nll: %s", err);
    free(ids);
    et_lm_free(lm);
    return cnt ? nll / (double)cnt : NAN;
}

static void test_quantize(void) {
    char err[256];
    et_compress_report r;
    double f32 = mean_nll(base_path);
    /* linear weights of the tiny model: per layer 4·64·64 (q,o: 64x64; k,v: 32x64 -> 2·2048) ... */
    et_compress_opts o = { .type = ET_Q8_0, .emb_type = ET_TYPE_COUNT };
    CHECK(et_gguf_compress(base_path, DIR "/q8.gguf", &o, &r, err, sizeof err) == 0, "q8_0: %s", err);
    /* q8_0: 34 bytes per 32 weights instead of 128 */
    int64_t nlin = 2 * (64 * 64 * 2 + 32 * 64 * 2 + 3 * 64 * 128);
    CHECK(r.n_changed == 14 && r.tensor_in - r.tensor_out == (uint64_t)(nlin * 4 - nlin / 32 * 34),
          "q8_0 sizes: %lld changed, %llu -> %llu", (long long)r.n_changed, (unsigned long long)r.tensor_in,
          (unsigned long long)r.tensor_out);
    double q8 = mean_nll(DIR "/q8.gguf");
    CHECK(fabs(q8 - f32) <= 0.02 * f32, "q8_0 mean NLL %.5f vs f32 %.5f (2%%)", q8, f32);
    et_gguf *g;
    if (et_gguf_open(DIR "/q8.gguf", &g, err, sizeof err) == 0) {
        CHECK(et_gguf_find(g, "test.marker") && et_gguf_find(g, "tokenizer.ggml.merges"), "metadata copied");
        CHECK(et_gguf_tensor_find(g, "token_embd.weight")->type == ET_F32, "embeddings kept");
        CHECK(et_gguf_tensor_find(g, "blk.1.ffn_up.weight")->type == ET_Q8_0, "ffn_up quantized");
        et_gguf_close(g);
    }
    /* nf4 (edgetune's id) and q4_0 with embeddings in q8_0 also load */
    o.type = ET_NF4;
    o.emb_type = ET_Q8_0;
    CHECK(et_gguf_compress(base_path, DIR "/nf4.gguf", &o, &r, err, sizeof err) == 0, "nf4: %s", err);
    double nf4 = mean_nll(DIR "/nf4.gguf");
    CHECK(isfinite(nf4) && fabs(nf4 - f32) <= 0.25 * f32, "nf4 mean NLL %.5f vs f32 %.5f (25%%)", nf4, f32);
    /* q4_k needs rows of 256: an error naming the tensor and the row length */
    o.type = ET_Q4_K;
    o.emb_type = ET_TYPE_COUNT;
    unlink(DIR "/q4k.gguf");   /* a previous run's fallback file */
    CHECK(et_gguf_compress(base_path, DIR "/q4k.gguf", &o, &r, err, sizeof err) != 0 && strstr(err, "blk.0.attn_q.weight") &&
              strstr(err, "64") && strstr(err, "256"), "q4_k on rows of 64: %s", err);
    struct stat sb;
    CHECK(stat(DIR "/q4k.gguf", &sb) != 0, "nothing left behind after a failed write");
    /* ... or, with fallback (the command line's default), iq4_nl: the same 4.5 bits per weight */
    o.fallback = true;
    CHECK(et_gguf_compress(base_path, DIR "/q4k.gguf", &o, &r, err, sizeof err) == 0 && r.n_fallback == 14,
          "q4_k with fallback: %lld fell back: %s", (long long)r.n_fallback, err);
    if (et_gguf_open(DIR "/q4k.gguf", &g, err, sizeof err) == 0) {
        CHECK(et_gguf_tensor_find(g, "blk.0.attn_q.weight")->type == ET_IQ4_NL, "fallback type iq4_nl");
        et_gguf_close(g);
    }
}

static void test_prune(void) {
    char err[256];
    et_compress_report r;
    et_compress_opts o = { .type = ET_TYPE_COUNT, .emb_type = ET_TYPE_COUNT, .prune = "50%" };
    CHECK(et_gguf_compress(base_path, DIR "/p50.gguf", &o, &r, err, sizeof err) == 0, "50%%: %s", err);
    CHECK(r.pruned_zeros * 2 == r.pruned_n && r.n_changed == 14, "50%%: %lld of %lld zero", (long long)r.pruned_zeros,
          (long long)r.pruned_n);
    et_gguf *g;
    if (et_gguf_open(DIR "/p50.gguf", &g, err, sizeof err) == 0) {
        for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {
            const et_gguf_tensor *t = et_gguf_tensor_at(g, i);
            int64_t n = t->ne[0] * t->ne[1], z = 0;
            for (int64_t j = 0; j < n; j++) z += ((const float *)t->data)[j] == 0.0f;
            bool lin = !strncmp(t->name, "blk.", 4) && t->ne[1] > 1;
            CHECK(lin ? z * 2 == n : z == 0, "%s: %lld of %lld zero", t->name, (long long)z, (long long)n);
        }
        et_gguf_close(g);
    }
    o.prune = "2:4";
    o.type = ET_Q8_0;   /* q8_0 keeps exact zeros */
    CHECK(et_gguf_compress(base_path, DIR "/p24.gguf", &o, &r, err, sizeof err) == 0, "2:4: %s", err);
    if (et_gguf_open(DIR "/p24.gguf", &g, err, sizeof err) == 0) {
        const et_gguf_tensor *t = et_gguf_tensor_find(g, "blk.0.ffn_gate.weight");
        float *f = malloc(64 * 128 * sizeof *f);
        et_type_get(ET_Q8_0)->to_f32(t->data, f, 64 * 128);
        int bad = 0;
        for (int i = 0; i < 64 * 128; i += 4) bad += (f[i] == 0) + (f[i + 1] == 0) + (f[i + 2] == 0) + (f[i + 3] == 0) < 2;
        CHECK(t->type == ET_Q8_0 && bad == 0, "%d groups of 4 with fewer than 2 zeros", bad);
        free(f);
        et_gguf_close(g);
    }
    CHECK(et_prune_parse("150%", err, sizeof err) < 0 && strstr(err, "'150%'"), "150%%: %s", err);
    CHECK(et_prune_parse("50", err, sizeof err) < 0 && strstr(err, "'50'"), "no %% sign: %s", err);
    CHECK(et_prune_parse("3:4", err, sizeof err) < 0 && strstr(err, "'3:4'"), "3:4: %s", err);
}

/* The head in bf16 (the bf16-compute setting), then the embeddings (QLoRA's and that
 * setting's frozen tables): untied and tied, values as bf16 rounds them, the loss still
 * computed; NF4 and a trained head refused with the reason. */
static void test_compress_head(void) {
    for (int tied = 0; tied < 2; tied++) {
        et_llama_config c = cfg0;
        c.vocab = 96;
        c.tied_embeddings = tied;
        et_ctx *ctx = et_ctx_new(1 << 12);
        et_llama m;
        CHECK(et_llama_init(&m, ctx, &c, 3, 0), "init: %s", et_ctx_error(ctx));
        const et_tensor *f32 = m.output, *emb32 = m.tok_emb;
        CHECK(!et_llama_compress_head(&m, ET_NF4) && strstr(et_ctx_error(ctx), "nf4"), "nf4 head: %s",
              et_ctx_error(ctx));
        et_ctx_clear_error(ctx);
        CHECK(et_llama_compress_head(&m, ET_BF16), "bf16 head: %s", et_ctx_error(ctx));
        CHECK(m.output->type == ET_BF16 && (tied ? m.tok_emb == m.output : m.tok_emb->type == ET_F32),
              "tied=%d: head %s, embeddings %s", tied, et_type_get(m.output->type)->name,
              et_type_get(m.tok_emb->type)->name);
        int64_t n = c.dim * c.vocab, bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += et_fp32_to_bf16(((const float *)f32->data)[i]) != ((const uint16_t *)m.output->data)[i];
        CHECK(bad == 0, "tied=%d: %lld of %lld head values are not the f32 ones rounded to bf16", tied, (long long)bad,
              (long long)n);
        const et_tensor *head16 = m.output;
        CHECK(!et_llama_compress_embeddings(&m, ET_NF4) && strstr(et_ctx_error(ctx), "token_embd"),
              "nf4 embeddings: %s", et_ctx_error(ctx));
        et_ctx_clear_error(ctx);
        CHECK(et_llama_frozen_tables_bf16(&m) && m.output == head16 && m.tok_emb->type == ET_BF16 &&
              (tied ? m.tok_emb == m.output : m.tok_emb != m.output), "tied=%d: bf16 tables: %s (embeddings %s)", tied,
              et_ctx_error(ctx), et_type_get(m.tok_emb->type)->name);
        bad = 0;
        for (int64_t i = 0; i < n; i++)
            bad += et_fp32_to_bf16(((const float *)emb32->data)[i]) != ((const uint16_t *)m.tok_emb->data)[i];
        CHECK(bad == 0, "tied=%d: %lld of %lld embedding values are not the f32 ones rounded to bf16", tied,
              (long long)bad, (long long)n);
        /* the loss through the bf16 head and bf16 embedding rows */
        et_llama_batch b;
        bool ok = et_llama_batch_new(&b, &m, 8, 1, 8);
        for (int i = 0; ok && i < 8; i++) {
            ((int32_t *)b.ids->data)[i] = i * 7 % 96;
            ((int32_t *)b.pos->data)[i] = i;
            ((int32_t *)b.sel->data)[i] = i;
            ((int32_t *)b.targets->data)[i] = i * 5 % 96;
        }
        et_tensor *loss = ok ? et_llama_loss(&m, &b, false) : NULL;
        et_graph *g = et_graph_new(ctx, 1 << 12);
        et_plan plan = {0};
        ok = loss && g && et_graph_add(g, loss) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
                  et_graph_compute(g, &plan, 2);
        CHECK(ok && isfinite(*(float *)loss->data) && fabsf(*(float *)loss->data - logf(96.0f)) < 1.0f,
              "tied=%d: loss %g through the bf16 head: %s", tied, ok ? *(float *)loss->data : NAN, et_ctx_error(ctx));
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_free(ctx);
    }
    /* full fine-tuning trains the head: it must stay f32 */
    et_llama_config c = cfg0;
    c.vocab = 96;
    et_ctx *ctx = et_ctx_new(1 << 12);
    et_llama m;
    CHECK(et_llama_init(&m, ctx, &c, 3, 0) && et_llama_train_all(&m), "init: %s", et_ctx_error(ctx));
    CHECK(!et_llama_compress_head(&m, ET_BF16) && strstr(et_ctx_error(ctx), "output.weight") &&
              strstr(et_ctx_error(ctx), "trained"), "trained head: %s", et_ctx_error(ctx));
    et_ctx_free(ctx);
}

int main(void) {
    if (!write_base()) { printf("FAIL setup: cannot write the base model\n"); return 1; }
    RUN(test_native_roundtrip);
    RUN(test_llamacpp_export);
    RUN(test_peft_roundtrip);
    RUN(test_merge);
    RUN(test_merge_equals_attached);
    RUN(test_malformed);
    RUN(test_quantize);
    RUN(test_prune);
    RUN(test_compress_head);
    return DONE();
}
