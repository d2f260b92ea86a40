/* The Llama builder and its adapters against an independent PyTorch reference.
 *
 * tests/py/gen_llama_parity.py writes random tiny models as GGUF (llama.cpp's tensor names:
 * llama with GQA, qwen2 with q/k/v biases and neox rope, mistral with a sliding window, gemma3
 * with q/k norms, post norms, GEGLU, scaled embeddings and local (windowed, own rope base) layers
 * between global ones; tied and untied embeddings) plus, per model, a ".ref.gguf" with the inputs (batch 2, answer
 * positions only), the trained tensors' starting values and what tests/py/torch_llama.py
 * computes in float64: per-position NLL, the mean loss, every trained tensor's gradient, its
 * value after one torch.optim.AdamW step, and all logits of sequence 0.  Cases: LoRA (all
 * modules / a subset), IA3, prompt tuning, full fine-tuning, QLoRA (NF4), LoRA / IA3 over
 * Q8_0, Q4_0, Q4_K and Q5_0 bases, LoRA over a BF16 base and head (the bf16-compute
 * setting).  For each model this test
 *
 *   1. loads the GGUF with et_llama_from_gguf (quantized bases: compresses the linear layers
 *      with et_llama_compress and checks they dequantize to exactly the reference's values),
 *   2. adds the adapter and copies the golden starting values into every PARAM tensor (LoRA B
 *      is random and nonzero, so dL/dA is not trivially zero; IA3 scales are not all 1),
 *   3. compares et_llama_nll at the answer positions,
 *   4. decodes sequence 0 with the KV cache (a 5-token prefill, then one token per step) and
 *      compares each step's logits with the reference's full forward,
 *   5. runs et_llama_loss -> backward -> AdamW in one graph and compares the loss, every
 *      gradient and every parameter after the step; then runs the graph again (a second step
 *      on the same batch) and compares loss, gradients, AdamW's moments and the parameters
 *      (AdamW's eps is 1e-4 here: with a tiny eps the step-1 update lr·g/(|g| + eps) of a
 *      gradient element near 0 is ill-conditioned, and its f32 noise, legitimately within the
 *      gradient bound, would move the step-2 gradients by more than theirs).
 * and, for some models, the training step again with activation recomputation, and the
 * adapter merged into the base (et_llama_merge_adapter) against the unmerged reference --
 * once on a model file over 1 MiB, which the GGUF reader maps read-only.  Last, models written
 * back with et_llama_to_gguf must read back as the same config and tensors (qwen2's biases and
 * rope, mistral's window, gemma3's norms, pattern and local rope base).
 *
 * Tolerances.  The reference is float64, so each bound is the engine's own f32 error
 * (measured: the worst element of any case uses at most ~0.4 of its bound):
 *   NLL / loss   |d| <= 2e-5 + 2e-5·|want|: f32 sums over dim <= 256 and vocab <= 4200 through
 *                one or two blocks land near 1e-6 relative.
 *   logits       |d| <= 2e-5 · max|logits of that step|: same reasoning, one matmul more.
 *   gradients    |d_i| <= 2e-4·|g_i| + 2e-5·max|g|: backward re-accumulates in other orders
 *                (a few 1e-6 relative seen); the max-scaled floor covers elements that are
 *                small through cancellation, whose relative error is not meaningful.
 *   AdamW step   derived from the gradient bound: at step 1 the update is lr·g/(|g| + eps),
 *                whose derivative in g is at most 1/(|g| + eps), so a gradient error d_i
 *                moves the parameter by at most lr·d_i/(|g_i| + eps); plus 4 ulp of |p|.
 *   quantized    A quantized base (QLoRA's NF4; LoRA/IA3 over Q8_0, Q4_0, Q4_K; the bf16-compute
 *   bases        setting's BF16, whose head is BF16 too: et_llama_compress_head) is compressed
 *                by et_llama_compress and must dequantize to exactly the reference's weights.
 *                The fast paths then round on purpose: NF4 and BF16 on AVX512-BF16 round activations
 *                and weights to bf16 (2^-9 relative), the int8 family quantizes activations in
 *                groups of 32 as Q8_0 does (up to 1/254 of the group's max) -- the logits
 *                move by ~0.7% of their range, too much for an exact-reference bound that
 *                still catches bugs.  So the reference also emulates the path's roundings
 *                (torch_llama.py base_emu: the int8 family's dX from unrounded W and dY as
 *                the f32 dX kernel computes it; the bf16 family's dX rounds dY and W to bf16
 *                as its kernel does, and so does every type's on AVX512-BF16, where the int8
 *                family is held to "int8b": its forward, that dX, the bf16 gradient bounds; a bf16 head as the fused cross-entropy rounds it,
 *                torch_llama.EmuHeadNLL), and NLL, loss, gradients and step are held to the
 *                emulation.  int8: 5x the f32 bounds (NLL 1e-4, gradients 1e-3·|g_i| +
 *                1e-4·max|g|): a different f32 accumulation order can flip a rounding of an
 *                element near a tie.  bf16: such a flip moves a product by a whole bf16 step
 *                (2^-8 of it), and in the backward every dY is rounded, so a flip in a large
 *                dY element moves gradients upstream by up to ~2^-8 of their largest term
 *                (the emulation with f32-sized noise, 1e-7·max|dY|, added before each dY
 *                rounding moves its own gradients by 1.5-4x the int8 bound): gradients
 *                1e-2·|g_i| + 4e-3·max|g|, NLL 2e-3 + 1e-3·|want| (measured over seeds
 *                15-21 of the case: at most 0.54 and 0.31 of these; the emulation's own
 *                distance from the exact reference is ~4% of max|g| and up to 2.5e-2 in NLL).
 *                That noise is as large as dX's own rounding (the engine is 1-3e-3 from the
 *                emulation in 2-norm, rounding dY or not moves the emulation by 3e-3), so
 *                this test cannot tell whether dX rounds: test_kernels holds the bf16 dX
 *                kernel to the same emulation within the f32 bound instead.
 *                Decoding's logits are held to the exact reference within the f32 bound
 *                plus 2x the emulation's own largest distance from it over the sequence
 *                (one-token decoding runs the matvec kernels, which round differently
 *                again).  Each quantized case runs again on a path
 *                that computes the type in f32 (AVX-512 for NF4) or the double-accumulating
 *                reference kernels, against the exact reference with the f32 bounds.
 * Missing goldens fail (run tests/py/gen_llama_parity.py, or tests/run.sh which does).
 */
#include "harness.h"
#include "io/gguf.h"
#include "kernels.h"
#include "llama_gguf.h"
#include "optim.h"

/* Goldens live in $ET_GOLDEN_DIR/llama (default build/golden/llama), as for test_quant. */
static const char *golden_dir(void) {
    const char *d = getenv("ET_GOLDEN_DIR");
    return d && *d ? d : "build/golden";
}

typedef struct tol {
    const char *prefix;   /* which reference: "" exact, "bf16." the bf16-path emulation */
    double nll_abs, nll_rel, logit_rel, grad_rel, grad_floor, step_ulps;   /* see the header */
} tol;
static const tol TOL_F32 = {"", 2e-5, 2e-5, 2e-5, 2e-4, 2e-5, 4};
/* against the emulation of a fast path (bf16 / int8); prefix set to the family's at run time */
static const tol TOL_EMU = {"", 1e-4, 1e-4, 0, 1e-3, 1e-4, 4};
/* ... and for the bf16 family, whose dX rounds dY to bf16 too (see the header) */
static const tol TOL_EMU_BF16 = {"", 2e-3, 1e-3, 0, 1e-2, 4e-3, 4};

/* ---------------------------------------------------------------- golden access */

static et_gguf *ref;

/* The golden tensor named ref_prefix + prefix + name, checked to hold n elements of type. */
static const et_gguf_tensor *golden_ref(const char *ref_prefix, const char *prefix, const char *name, et_type type,
                                        int64_t n) {
    char full[160];
    snprintf(full, sizeof full, "%s%s%s", ref_prefix, prefix, name);
    const et_gguf_tensor *t = et_gguf_tensor_find(ref, full);
    CHECK(t, "golden tensor %s missing in %s", full, et_gguf_name(ref));
    if (!t) return NULL;
    int64_t have = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    CHECK(t->type == type && have == n, "golden %s: type %d with %lld elements, expected type %d with %lld", full,
          (int)t->type, (long long)have, (int)type, (long long)n);
    return t->type == type && have == n ? t : NULL;
}

static const et_gguf_tensor *golden(const char *prefix, const char *name, et_type type, int64_t n) {
    return golden_ref("", prefix, name, type, n);
}

static float ref_f32(const char *key) {
    char err[256];
    float v = 0;
    CHECK(et_gguf_get_f32(ref, key, &v, err, sizeof err) == 0, "%s", err);
    return v;
}
static uint32_t ref_u32(const char *key) {
    char err[256];
    uint32_t v = 0;
    CHECK(et_gguf_get_u32(ref, key, &v, err, sizeof err) == 0, "%s", err);
    return v;
}
static void ref_str(const char *key, char *out, size_t len) {
    char err[256];
    et_gguf_str s = {0};
    out[0] = 0;
    if (et_gguf_get_str(ref, key, &s, err, sizeof err) == 0)
        snprintf(out, len, "%.*s", (int)(s.len < len - 1 ? s.len : len - 1), s.ptr);
    else
        CHECK(0, "%s", err);
}

/* Elementwise |got - want| <= abs + rel·|want|; reports the worst element. */
static double cmp(const char *what, const float *got, const float *want, int64_t n, double rel, double abs) {
    double worst = 0;
    int64_t bad = 0, at = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]), lim = abs + rel * fabs(want[i]);
        if (!(d <= lim)) bad++;
        if (!(d <= worst * lim) || at < 0) { worst = lim > 0 ? d / lim : d; at = i; }
    }
    CHECK(bad == 0, "%s: %lld of %lld elements out of bounds; worst [%lld] got %.9g want %.9g", what, (long long)bad,
          (long long)n, (long long)at, at >= 0 ? got[at] : 0.0, at >= 0 ? want[at] : 0.0);
    return worst;   /* fraction of the bound used by the worst element */
}

static double max_abs(const float *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* ---------------------------------------------------------------- one case */

typedef struct parity_case {
    et_ctx *ctx;
    et_gguf *model_file;
    et_llama m;
    et_llama_batch b;
    int64_t T, B, P, n_prompt;
    char kind[16], base[8];
} parity_case;

static bool run_graph(et_ctx *ctx, et_tensor *out, et_graph **gp, et_plan *plan) {
    et_graph *g = et_graph_new(ctx, 1 << 14);
    *gp = g;
    return g && et_graph_add(g, out) && et_graph_plan(g, plan) && et_graph_alloc(g, plan) && et_graph_compute(g, plan, 2);
}

/* Load the model, compress (QLoRA), add the adapter with golden values, fill the batch. */
static bool setup(parity_case *pc, const char *name) {
    char path[256], err[400];
    memset(pc, 0, sizeof *pc);
    snprintf(path, sizeof path, "%s/llama/%s.ref.gguf", golden_dir(), name);
    if (et_gguf_open(path, &ref, err, sizeof err)) { CHECK(0, "%s (run tests/py/gen_llama_parity.py)", err); return false; }
    snprintf(path, sizeof path, "%s/llama/%s.gguf", golden_dir(), name);
    if (et_gguf_open(path, &pc->model_file, err, sizeof err)) { CHECK(0, "%s", err); return false; }
    pc->ctx = et_ctx_new(1 << 16);
    if (et_llama_from_gguf(&pc->m, pc->ctx, pc->model_file, err, sizeof err)) { CHECK(0, "%s", err); return false; }
    et_llama *m = &pc->m;
    ref_str("parity.kind", pc->kind, sizeof pc->kind);
    ref_str("parity.base", pc->base, sizeof pc->base);

    if (strcmp(pc->base, "f32")) {
        et_type qt = et_type_from_name(pc->base);
        if (qt == ET_TYPE_COUNT) { CHECK(0, "parity.base '%s' unknown", pc->base); return false; }
        if (!et_llama_compress(m, qt, NULL, NULL)) { CHECK(0, "compress: %s", et_ctx_error(pc->ctx)); return false; }
        /* the reference ran on independently quantized + dequantized weights: ours must be
         * the same values (the quantizers are byte-exact with those ports, see test_quant) */
        for (int l = 0; l < m->cfg.n_layers; l++) {
            et_llama_layer *L = &m->layers[l];
            et_tensor *ws[7] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
            for (int i = 0; i < 7; i++) {
                int64_t K = ws[i]->ne[0], N = ws[i]->ne[1];
                CHECK(ws[i]->type == qt, "%s is not %s after compress", ws[i]->name, pc->base);
                const et_gguf_tensor *want = golden("deq.", ws[i]->name, ET_F32, K * N);
                if (!want) return false;
                float *f = malloc((size_t)(K * N) * sizeof *f);
                if (!f) { CHECK(0, "out of memory"); return false; }
                et_kern_to_f32(qt, ws[i]->data, f, K, N, ws[i]->nb[1]);
                int64_t diff = 0;
                for (int64_t j = 0; j < K * N; j++) diff += f[j] != ((const float *)want->data)[j];
                CHECK(diff == 0, "%s: %lld of %lld %s values dequantize differently from the reference's", ws[i]->name,
                      (long long)diff, (long long)(K * N), pc->base);
                free(f);
            }
        }
    }

    char head[16];
    ref_str("parity.head", head, sizeof head);
    if (strcmp(head, "f32")) {   /* the bf16-compute setting's head */
        et_type ht = et_type_from_name(head);
        if (!et_llama_compress_head(m, ht)) { CHECK(0, "compress head: %s", et_ctx_error(pc->ctx)); return false; }
        int64_t K = m->output->ne[0], N = m->output->ne[1];
        const et_gguf_tensor *want = golden("deq.", "output.weight", ET_F32, K * N);
        float *f = want ? malloc((size_t)(K * N) * sizeof *f) : NULL;
        if (!f) { CHECK(0, "deq.output.weight missing or out of memory"); return false; }
        et_kern_to_f32(m->output->type, m->output->data, f, K, N, m->output->nb[1]);
        int64_t diff = 0;
        for (int64_t j = 0; j < K * N; j++) diff += f[j] != ((const float *)want->data)[j];
        CHECK(m->output->type == ht && diff == 0, "output.weight: %lld of %lld %s values differ from the reference's",
              (long long)diff, (long long)(K * N), head);
        free(f);
    }

    bool ok;
    if (!strcmp(pc->kind, "lora")) {
        char targets[64];
        ref_str("parity.targets", targets, sizeof targets);
        ok = et_llama_add_lora(m, (int)ref_u32("parity.rank"), ref_f32("parity.alpha"), 0.0f, targets, 1);
    } else if (!strcmp(pc->kind, "ia3")) {
        ok = et_llama_add_ia3(m);
    } else if (!strcmp(pc->kind, "full")) {
        ok = et_llama_train_all(m);   /* small goldens are read into memory, not mapped: writable */
    } else if (!strcmp(pc->kind, "prompt")) {
        pc->n_prompt = ref_u32("parity.n_prompt");
        ok = et_llama_add_prompt(m, (int)pc->n_prompt, 1);
    } else {
        CHECK(0, "parity.kind '%s' unknown", pc->kind);
        return false;
    }
    if (!ok) { CHECK(0, "adapter: %s", et_ctx_error(pc->ctx)); return false; }

    /* every PARAM gets its golden starting value; the golden must hold exactly these */
    int n_params = 0;
    for (int32_t id = 0; id < et_ctx_n_tensors(pc->ctx); id++) {
        et_tensor *t = et_ctx_tensor(pc->ctx, id);
        if (!(t->flags & ET_FLAG_PARAM)) continue;
        const et_gguf_tensor *g = golden("init.", t->name, ET_F32, et_nelements(t));
        if (!g) return false;
        memcpy(t->data, g->data, (size_t)et_nelements(t) * sizeof(float));
        n_params++;
    }
    int n_golden = 0;
    for (int64_t i = 0; i < et_gguf_n_tensors(ref); i++) n_golden += !strncmp(et_gguf_tensor_at(ref, i)->name, "init.", 5);
    CHECK(n_params == n_golden && n_params > 0, "%d adapter tensors in the model, %d in the golden", n_params, n_golden);

    const et_gguf_tensor *ids = et_gguf_tensor_find(ref, "ids");
    if (!ids) { CHECK(0, "golden ids missing"); return false; }
    pc->T = ids->ne[0];
    pc->B = ids->ne[1];
    const et_gguf_tensor *st = et_gguf_tensor_find(ref, "sel_t");
    if (!st) { CHECK(0, "golden sel_t missing"); return false; }
    pc->P = st->ne[0];
    const et_gguf_tensor *sb = golden("", "sel_b", ET_I32, pc->P), *tg = golden("", "targets", ET_I32, pc->P);
    if (ids->type != ET_I32 || st->type != ET_I32 || !sb || !tg) { CHECK(0, "golden inputs malformed"); return false; }
    if (!et_llama_batch_new(&pc->b, m, pc->T, pc->B, pc->P)) { CHECK(0, "batch: %s", et_ctx_error(pc->ctx)); return false; }
    memcpy(pc->b.ids->data, ids->data, (size_t)(pc->T * pc->B) * 4);
    memcpy(pc->b.targets->data, tg->data, (size_t)pc->P * 4);
    for (int64_t p = 0; p < pc->P; p++)
        ((int32_t *)pc->b.sel->data)[p] =
            et_llama_sel_index(m, &pc->b, ((const int32_t *)st->data)[p], ((const int32_t *)sb->data)[p]);
    return true;
}

static void teardown(parity_case *pc) {
    if (pc->ctx) et_ctx_free(pc->ctx);
    if (pc->model_file) et_gguf_close(pc->model_file);
    if (ref) et_gguf_close(ref);
    ref = NULL;
}

/* Per-position NLL at the answer positions (the head runs only there). */
static void check_nll(parity_case *pc, const tol *tl) {
    et_ctx_mark mark = et_ctx_get_mark(pc->ctx);
    et_tensor *nll = et_llama_nll(&pc->m, &pc->b);
    et_graph *g = NULL;
    et_plan plan = {0};
    if (nll) nll->flags |= ET_FLAG_OUTPUT;
    bool ok = nll && run_graph(pc->ctx, nll, &g, &plan);
    CHECK(ok, "nll graph: %s", et_ctx_error(pc->ctx));
    const et_gguf_tensor *want = golden_ref(tl->prefix, "", "nll", ET_F32, pc->P);
    if (ok && want) {
        double w = cmp("nll", nll->data, want->data, pc->P, tl->nll_rel, tl->nll_abs);
        printf("  nll: worst element uses %.2f of the bound\n", w);
    }
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_reset(pc->ctx, mark);
}

/* KV-cache decoding of sequence 0: prefill 5 tokens, then one token per step; the logits of
 * each step's last token against the reference's full forward. */
static void check_decode(parity_case *pc, const tol *tl) {
    et_llama *m = &pc->m;
    int64_t T = pc->T, V = m->cfg.vocab;
    /* always against the exact forward; on a rounding path the bound is widened by 2x the
     * emulation's own largest distance from it over the sequence (see the header) */
    const et_gguf_tensor *want = golden("", "logits0", ET_F32, T * V);
    const et_gguf_tensor *emu = tl->prefix[0] ? golden_ref(tl->prefix, "", "logits0", ET_F32, T * V) : NULL;
    if (!want || (tl->prefix[0] && !emu)) return;
    double dev = 0;   /* the emulation's largest distance from the exact logits, any position */
    for (int64_t i = 0; emu && i < T * V; i++)
        dev = fmax(dev, fabs((double)((const float *)emu->data)[i] - ((const float *)want->data)[i]));
    et_llama_cache cache;
    if (!et_llama_cache_new(&cache, m, pc->ctx, (int32_t)T)) { CHECK(0, "cache: %s", et_ctx_error(pc->ctx)); return; }
    double worst = 0;
    const int prefill = 5;
    for (int n_past = 0; n_past < T;) {
        int n_new = n_past == 0 ? prefill : 1;
        et_ctx_mark mark = et_ctx_get_mark(pc->ctx);
        et_tensor *ids = et_new_1d(pc->ctx, ET_I32, n_new, ET_FLAG_INPUT, "ids");
        et_tensor *pos = et_new_1d(pc->ctx, ET_I32, n_new, ET_FLAG_INPUT, "pos");
        for (int i = 0; ids && pos && i < n_new; i++) {
            ((int32_t *)ids->data)[i] = ((const int32_t *)pc->b.ids->data)[n_past + i];
            ((int32_t *)pos->data)[i] = n_past + i;
        }
        et_tensor *logits = et_llama_decode(m, &cache, ids, pos, n_past);
        et_graph *g = NULL;
        et_plan plan = {0};
        bool ok = logits && run_graph(pc->ctx, logits, &g, &plan);
        CHECK(ok, "decode at %d: %s", n_past, et_ctx_error(pc->ctx));
        if (ok) {
            int64_t at = n_past + n_new - 1;
            const float *w = (const float *)want->data + at * V;
            double bound = TOL_F32.logit_rel * max_abs(w, V) + 2 * dev;
            char what[64];
            snprintf(what, sizeof what, "decode logits at position %lld", (long long)at);
            worst = fmax(worst, cmp(what, logits->data, w, V, 0, bound));
        }
        et_plan_free(&plan);
        et_graph_free(g);
        et_ctx_reset(pc->ctx, mark);
        if (!ok) return;
        n_past += n_new;
    }
    printf("  decode logits: worst element uses %.2f of the bound\n", worst);
}

/* The bound on a gradient element (see the header). */
static double grad_bound(const tol *tl, double g, double gmax) { return tl->grad_rel * fabs(g) + tl->grad_floor * gmax; }

/* The bound on a parameter after step 1 (see the header). */
static double step1_bound(const tol *tl, const et_adamw_cfg *ac, double g, double gmax, double p0) {
    return ac->lr * grad_bound(tl, g, gmax) / (fabs(g) + ac->eps) + tl->step_ulps * 1.2e-7 * (fabs(p0) + ac->lr);
}

/* A second step on the same batch (the graph run again: gradients must not accumulate across
 * runs, the moments must carry over).  Gradients and loss against the reference's with the
 * same bounds (the parameters differ only by step 1's rounding); the moments and parameters
 * with bounds propagated from the two gradients' through
 *   m2 = b1(1-b1)g1 + (1-b1)g2,  v2 = b2(1-b2)g1² + (1-b2)g2²,
 *   p2 = p1(1 - lr·wd) - (lr/bc1)·m2 / (sqrt(v2/bc2) + eps),  bc_k = 1 - b_k².
 * Returns the worst fraction of a bound used. */
static double check_second_step(parity_case *pc, const tol *tl, et_optim *opt, et_graph *g, et_plan *plan,
                                et_tensor *loss, const et_adamw_cfg *ac) {
    et_optim_next_step(opt, ac->lr, 1.0f);
    bool ok = et_graph_compute(g, plan, 2);
    CHECK(ok, "train step 2: %s", et_ctx_error(pc->ctx));
    const et_gguf_tensor *wl = golden_ref(tl->prefix, "", "loss2", ET_F32, 1);
    if (!ok || !wl) return 0;
    CHECK_CLOSE(*(float *)loss->data, *(const float *)wl->data, tl->nll_rel, tl->nll_abs, "loss at step 2");
    double b1 = ac->beta1, b2 = ac->beta2, bc1 = 1 - b1 * b1, bc2 = 1 - b2 * b2, worst = 0;
    for (int32_t i = 0; i < opt->n_params; i++) {
        et_tensor *p = opt->params[i];
        int64_t n = et_nelements(p);
        const et_gguf_tensor *t1 = golden_ref(tl->prefix, "grad.", p->name, ET_F32, n),
                             *t2 = golden_ref(tl->prefix, "grad2.", p->name, ET_F32, n),
                             *tm = golden_ref(tl->prefix, "m2.", p->name, ET_F32, n),
                             *tv = golden_ref(tl->prefix, "v2.", p->name, ET_F32, n),
                             *tp = golden_ref(tl->prefix, "step2.", p->name, ET_F32, n),
                             *t0 = golden("init.", p->name, ET_F32, n);
        if (!t1 || !t2 || !tm || !tv || !tp || !t0) continue;
        const float *g1 = t1->data, *g2 = t2->data, *m2 = tm->data, *v2 = tv->data, *p2 = tp->data, *p0 = t0->data;
        const float *cm = opt->m[i]->data, *cv = opt->v[i]->data, *cp = p->data;
        double g1max = max_abs(g1, n), g2max = max_abs(g2, n);
        char what[128];
        snprintf(what, sizeof what, "step-2 grad %s", p->name);
        worst = fmax(worst, cmp(what, p->grad->data, g2, n, tl->grad_rel, tl->grad_floor * g2max));
        int64_t bad_m = 0, bad_v = 0, bad_p = 0, at = -1;
        for (int64_t j = 0; j < n; j++) {
            double d1 = grad_bound(tl, g1[j], g1max), d2 = grad_bound(tl, g2[j], g2max);
            double ulp = tl->step_ulps * 1.2e-7;
            double dm = (1 - b1) * (b1 * d1 + d2) + ulp * fabs(m2[j]);
            double dv = (1 - b2) * (b2 * (2 * fabs(g1[j]) + d1) * d1 + (2 * fabs(g2[j]) + d2) * d2) + ulp * v2[j];
            double s = sqrt(v2[j] / bc2);
            double ds = fmin(v2[j] > 0 ? dv / (2 * sqrt(bc2 * v2[j])) : INFINITY, sqrt(dv / bc2));
            double dp = step1_bound(tl, ac, g1[j], g1max, p0[j]) +
                        ac->lr / bc1 * (dm / (s + ac->eps) + fabs(m2[j]) * ds / ((s + ac->eps) * (s + ac->eps))) +
                        ulp * (fabs(p2[j]) + ac->lr);
            double em = fabs((double)cm[j] - m2[j]), ev = fabs((double)cv[j] - v2[j]), ep = fabs((double)cp[j] - p2[j]);
            bad_m += !(em <= dm);
            bad_v += !(ev <= dv);
            if (!(ep <= dp)) { bad_p++; at = j; }
            worst = fmax(worst, fmax(em / dm, fmax(ev / dv, ep / dp)));
        }
        CHECK(bad_m == 0 && bad_v == 0 && bad_p == 0,
              "AdamW step 2 %s: %lld m, %lld v, %lld parameters out of bounds (e.g. [%lld] got %.9g want %.9g)",
              p->name, (long long)bad_m, (long long)bad_v, (long long)bad_p, (long long)at, at >= 0 ? cp[at] : 0.0,
              at >= 0 ? p2[at] : 0.0);
    }
    return worst;
}

/* Loss, every gradient, one AdamW step, then a second step. */
static void check_train_step(parity_case *pc, const tol *tl, bool recompute, bool cheap, bool marked) {
    et_ctx *ctx = pc->ctx;
    et_ctx_mark mark = et_ctx_get_mark(ctx);
    et_adamw_cfg ac = {ref_f32("parity.lr"), ref_f32("parity.beta1"), ref_f32("parity.beta2"), ref_f32("parity.eps"),
                       ref_f32("parity.weight_decay")};
    et_tensor *loss = et_llama_loss(&pc->m, &pc->b, recompute);
    et_graph *g = et_graph_new(ctx, 1 << 14);
    et_optim opt = {0};
    et_plan plan = {0};
    bool ok = loss && g && et_graph_backward(g, loss, &(et_backward_opts){.recompute = recompute, .recompute_cheap = cheap, .recompute_marked = marked}) && et_optim_adamw_init(&opt, g, &ac) &&
              et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
    CHECK(ok, "train graph: %s", et_ctx_error(ctx));
    if (ok && (cheap || marked)) {   /* the graph really recomputes: elementwise ops, and with
                                        marked only the builder's RECOMPUTABLE nodes besides */
        int n_re = 0, n_mm = 0, n_stray = 0;
        for (int32_t i = 0; i < g->n_nodes; i++) {
            const et_tensor *t = g->nodes[i];
            if (!(t->flags & ET_FLAG_RECOMPUTE) || t->op == ET_OP_VIEW) continue;
            bool elementwise = t->op == ET_OP_SWIGLU || t->op == ET_OP_GEGLU || t->op == ET_OP_RMSNORM ||
                               t->op == ET_OP_MUL || t->op == ET_OP_SCALE;
            n_re += elementwise;
            n_mm += t->op == ET_OP_MATMUL && (t->flags & ET_FLAG_RECOMPUTABLE);
            n_stray += !elementwise && !(marked && (t->flags & ET_FLAG_RECOMPUTABLE));
        }
        if (cheap)
            CHECK(n_re > 0 && n_stray == 0, "recompute_cheap: %d elementwise and %d other nodes recomputed", n_re,
                  n_stray);
        else
            CHECK(n_mm >= 2 * pc->m.cfg.n_layers && n_stray == 0,
                  "recompute_marked: %d marked matmuls recomputed (want >= %d), %d unmarked non-elementwise nodes",
                  n_mm, 2 * pc->m.cfg.n_layers, n_stray);
    }
    /* keep the starting values: the AdamW node updates the parameters in place */
    if (ok) {
        et_optim_next_step(&opt, ac.lr, 1.0f);
        ok = et_graph_compute(g, &plan, 2);
        CHECK(ok, "train step: %s", et_ctx_error(ctx));
    }
    const et_gguf_tensor *wl = golden_ref(tl->prefix, "", "loss", ET_F32, 1);
    if (ok && wl) CHECK_CLOSE(*(float *)loss->data, *(const float *)wl->data, tl->nll_rel, tl->nll_abs, "loss");
    double worst_g = 0, worst_s = 0;
    int n_checked = 0;
    for (int32_t i = 0; ok && i < opt.n_params; i++) {
        et_tensor *p = opt.params[i];
        int64_t n = et_nelements(p);
        const et_gguf_tensor *gw = golden_ref(tl->prefix, "grad.", p->name, ET_F32, n),
                             *sw = golden_ref(tl->prefix, "step.", p->name, ET_F32, n),
                             *iw = golden("init.", p->name, ET_F32, n);
        CHECK(p->grad != NULL, "%s has no gradient", p->name);
        if (!gw || !sw || !iw || !p->grad) continue;
        const float *gref = gw->data, *sref = sw->data, *p0 = iw->data;
        double gmax = max_abs(gref, n);
        char what[128];
        snprintf(what, sizeof what, "grad %s", p->name);
        worst_g = fmax(worst_g, cmp(what, p->grad->data, gref, n, tl->grad_rel, tl->grad_floor * gmax));
        /* the step's bound, element by element, from the gradient's (see the header) */
        const float *pc1 = p->data;
        int64_t bad = 0, at = -1;
        double wr = 0;
        for (int64_t j = 0; j < n; j++) {
            double lim = step1_bound(tl, &ac, gref[j], gmax, p0[j]);
            double d = fabs((double)pc1[j] - sref[j]);
            if (!(d <= lim)) { bad++; at = j; }
            wr = fmax(wr, d / lim);
        }
        CHECK(bad == 0, "AdamW step %s: %lld of %lld out of bounds, e.g. [%lld] got %.9g want %.9g (from %.9g)", p->name,
              (long long)bad, (long long)n, (long long)at, at >= 0 ? pc1[at] : 0.0, at >= 0 ? sref[at] : 0.0,
              at >= 0 ? p0[at] : 0.0);
        worst_s = fmax(worst_s, wr);
        n_checked++;
    }
    CHECK(!ok || n_checked == opt.n_params, "%d of %d parameters checked", n_checked, opt.n_params);
    printf("  loss %.6f; %d trained tensors: gradients use %.2f, AdamW step %.2f of their bounds\n",
           ok ? *(float *)loss->data : 0.0f, n_checked, worst_g, worst_s);
    /* Not on a rounding fast path: there step 1's last-bit differences in the parameters flip
     * bf16 / int8 roundings of activations at step 2, which the emulation cannot follow; the
     * exact-path run of the same case checks step 2. */
    if (ok && n_checked == opt.n_params && !tl->prefix[0])
        printf("  second step: gradients, moments and parameters use %.2f of their bounds\n",
               check_second_step(pc, tl, &opt, g, &plan, loss, &ac));
    et_plan_free(&plan);
    et_optim_free(&opt);
    et_graph_free(g);
    et_ctx_reset(ctx, mark);
}

typedef enum { RUN_ALL, RUN_RECOMPUTE, RUN_CHEAP, RUN_MLP, RUN_MERGED } run_mode;

/* RUN_ALL: NLL, decode, train step.  RUN_RECOMPUTE: the train step with activation
 * checkpointing (the same numbers within the same bounds); RUN_CHEAP: with only the
 * elementwise ops recomputed (recompute_cheap, the trainer's default); RUN_MLP: those and the MLP's
 * gate and up products (recompute_marked, finetune --recompute-mlp).  RUN_MERGED: the adapter folded
 * into the base with et_llama_merge_adapter, then NLL and decode against the reference that
 * ran with the adapter unmerged (PEFT's merge_and_unload gives the same model). */
static void run_case_mode(const char *name, const tol *tl, run_mode mode) {
    parity_case pc;
    if (setup(&pc, name)) {
        if (mode == RUN_MERGED) {
            bool ok = et_llama_merge_adapter(&pc.m);
            CHECK(ok, "merge: %s", et_ctx_error(pc.ctx));
            if (ok) {
                check_nll(&pc, tl);
                check_decode(&pc, tl);
            }
        } else if (mode == RUN_RECOMPUTE || mode == RUN_CHEAP || mode == RUN_MLP) {
            check_train_step(&pc, tl, mode == RUN_RECOMPUTE, mode == RUN_CHEAP, mode == RUN_MLP);
        } else {
            check_nll(&pc, tl);
            if (strcmp(pc.kind, "prompt")) check_decode(&pc, tl);   /* decode takes no soft prompt */
            check_train_step(&pc, tl, false, false, false);
        }
    }
    teardown(&pc);
}
static void run_case(const char *name, const tol *tl) { run_case_mode(name, tl, RUN_ALL); }

/* ---------------------------------------------------------------- cases */

static void test_llama_gqa_lora(void) { run_case("llama_gqa_lora", &TOL_F32); }
static void test_qwen2_tied_lora(void) { run_case("qwen2_tied_lora", &TOL_F32); }
static void test_mistral_swa_ia3(void) { run_case("mistral_swa_ia3", &TOL_F32); }
static void test_llama_prompt(void) { run_case("llama_prompt", &TOL_F32); }
static void test_qwen2_full(void) { run_case("qwen2_full", &TOL_F32); }
static void test_llama_gqa_lora_recompute(void) { run_case_mode("llama_gqa_lora", &TOL_F32, RUN_RECOMPUTE); }
static void test_qwen2_full_recompute(void) { run_case_mode("qwen2_full", &TOL_F32, RUN_RECOMPUTE); }
/* only the elementwise ops recomputed: LoRA over GQA, full fine-tuning (the norm weights'
 * gradients need the recomputed RMSNorm outputs), IA3 (its scales multiply kept matmul
 * outputs), gemma3 (GEGLU, post norms, scaled embeddings) */
static void test_llama_gqa_lora_cheap(void) { run_case_mode("llama_gqa_lora", &TOL_F32, RUN_CHEAP); }
static void test_qwen2_full_cheap(void) { run_case_mode("qwen2_full", &TOL_F32, RUN_CHEAP); }
static void test_mistral_ia3_cheap(void) { run_case_mode("mistral_swa_ia3", &TOL_F32, RUN_CHEAP); }
static void test_gemma3_lora_cheap(void) { run_case_mode("gemma3_lora", &TOL_F32, RUN_CHEAP); }
/* the MLP's gate and up recomputed as well: LoRA on them (their branches are redone too),
 * IA3 (its scale on up is a kept parameter the recomputed product multiplies) */
static void test_llama_gqa_lora_mlp(void) { run_case_mode("llama_gqa_lora", &TOL_F32, RUN_MLP); }
static void test_mistral_ia3_mlp(void) { run_case_mode("mistral_swa_ia3", &TOL_F32, RUN_MLP); }
static void test_mistral_ia3_merged(void) { run_case_mode("mistral_swa_ia3", &TOL_F32, RUN_MERGED); }
/* a model file over 1 MiB: memory-mapped read-only, so merging must not write into it */
static void test_llama_big_lora_merged(void) { run_case_mode("llama_big_lora", &TOL_F32, RUN_MERGED); }
/* ... and full fine-tuning must not update the mapped bytes in place */
static void test_llama_big_full(void) { run_case("llama_big_full", &TOL_F32); }

/* A quantized base on the path this CPU picks: against the emulation of that path's kernel
 * family (bf16 or int8) where it rounds, else against the exact reference. */
static void run_quant_case(const char *name, et_type type) {
    static char prefix[16];
    const char *fam = et_kern_matmul_family(type);
    printf("  path %s, %s matmul family: %s\n", et_isa_name(et_kern_isa()), et_type_get(type)->name, fam);
    const bool dx16 = !strcmp(et_kern_matmul_dx_family(type), "bf16");
    printf("  dX family: %s\n", et_kern_matmul_dx_family(type));
    if (!strcmp(fam, "bf16") || !strcmp(fam, "int8")) {
        /* int8 with a bf16 dX: the int8 forward's NLL bounds, the bf16 dX's gradient ones */
        tol t = !strcmp(fam, "bf16") ? TOL_EMU_BF16 : TOL_EMU;
        if (!strcmp(fam, "int8") && dx16) {
            t.grad_rel = TOL_EMU_BF16.grad_rel;
            t.grad_floor = TOL_EMU_BF16.grad_floor;
        }
        snprintf(prefix, sizeof prefix, "%s%s.", fam, !strcmp(fam, "int8") && dx16 ? "b" : "");
        t.prefix = prefix;
        run_case(name, &t);
    } else {
        run_case(name, &TOL_F32);
    }
}

/* The same on a path that computes the type in f32 (or the double-accumulating reference),
 * against the exact reference with the f32 bounds. */
static void run_quant_case_exact_path(const char *name, et_type type) {
    et_isa saved = et_kern_isa(), cand[3] = {ET_ISA_AVX512, ET_ISA_AVX2, ET_ISA_REF}, use = ET_ISA_COUNT;
    for (int i = 0; i < 3 && use == ET_ISA_COUNT; i++) {
        if (!et_kern_set_isa(cand[i])) continue;
        const char *fam = et_kern_matmul_family(type);
        if (!strcmp(fam, "f32") || !strcmp(fam, "ref")) use = cand[i];
    }
    CHECK(use != ET_ISA_COUNT && et_kern_set_isa(use), "no f32 path for %s", et_type_get(type)->name);
    if (use != ET_ISA_COUNT) {
        printf("  path %s, %s matmul family: %s\n", et_isa_name(use), et_type_get(type)->name,
               et_kern_matmul_family(type));
        run_case(name, &TOL_F32);
    }
    et_kern_set_isa(saved);
}

static void test_llama_bf16_lora(void) { run_quant_case("llama_bf16_lora", ET_BF16); }
static void test_llama_bf16_lora_exact_path(void) { run_quant_case_exact_path("llama_bf16_lora", ET_BF16); }
static void test_llama_qlora(void) { run_quant_case("llama_qlora", ET_NF4); }
static void test_llama_qlora_exact_path(void) { run_quant_case_exact_path("llama_qlora", ET_NF4); }
static void test_llama_q8_0_lora(void) { run_quant_case("llama_q8_0_lora", ET_Q8_0); }
static void test_llama_q8_0_lora_exact_path(void) { run_quant_case_exact_path("llama_q8_0_lora", ET_Q8_0); }
static void test_qwen2_q4_0_lora(void) { run_quant_case("qwen2_q4_0_lora", ET_Q4_0); }
static void test_qwen2_q4_0_lora_exact_path(void) { run_quant_case_exact_path("qwen2_q4_0_lora", ET_Q4_0); }
static void test_llama_q4_k_ia3(void) { run_quant_case("llama_q4_k_ia3", ET_Q4_K); }
static void test_llama_q4_k_ia3_exact_path(void) { run_quant_case_exact_path("llama_q4_k_ia3", ET_Q4_K); }

static void test_gemma3_lora(void) { run_case("gemma3_lora", &TOL_F32); }
static void test_gemma3_lora_recompute(void) { run_case_mode("gemma3_lora", &TOL_F32, RUN_RECOMPUTE); }
static void test_gemma3_lora_merged(void) { run_case_mode("gemma3_lora", &TOL_F32, RUN_MERGED); }
static void test_gemma3_full(void) { run_case("gemma3_full", &TOL_F32); }
static void test_gemma3_prompt(void) { run_case("gemma3_prompt", &TOL_F32); }
static void test_gemma3_q5_0_ia3(void) { run_quant_case("gemma3_q5_0_ia3", ET_Q5_0); }
static void test_gemma3_q5_0_ia3_exact_path(void) { run_quant_case_exact_path("gemma3_q5_0_ia3", ET_Q5_0); }

/* et_llama_to_gguf then et_llama_from_gguf: the same config (mistral comes back as llama,
 * the architecture llama.cpp knows, with its window) and byte-identical tensors. */
static void roundtrip_case(const char *name) {
    char path[256], out[256], err[400];
    snprintf(path, sizeof path, "%s/llama/%s.gguf", golden_dir(), name);
    snprintf(out, sizeof out, "%s/llama/%s.rewritten.gguf", golden_dir(), name);
    et_gguf *g = NULL, *g2 = NULL;
    et_ctx *ctx = et_ctx_new(1 << 16), *ctx2 = et_ctx_new(1 << 16);
    et_llama m, m2;
    bool ok = et_gguf_open(path, &g, err, sizeof err) == 0 && et_llama_from_gguf(&m, ctx, g, err, sizeof err) == 0;
    CHECK(ok, "%s: %s", name, err);
    et_gguf_writer *w = ok ? et_gguf_writer_new() : NULL;
    if (w) {
        et_llama_to_gguf(&m, w, name);
        ok = et_gguf_writer_write(w, out, err, sizeof err) == 0;
        CHECK(ok, "write: %s", err);
        et_gguf_writer_free(w);
    }
    if (ok) {
        ok = et_gguf_open(out, &g2, err, sizeof err) == 0 && et_llama_from_gguf(&m2, ctx2, g2, err, sizeof err) == 0;
        CHECK(ok, "read back: %s", err);
    }
    if (ok) {
        et_llama_config want = m.cfg;
        if (want.arch == ET_ARCH_MISTRAL) want.arch = ET_ARCH_LLAMA;
        CHECK(!memcmp(&want, &m2.cfg, sizeof want), "%s: the config read back differs (arch %d -> %d, window %d -> %d, "
              "period %d -> %d, theta_swa %g -> %g)", name, want.arch, m2.cfg.arch, want.sliding_window,
              m2.cfg.sliding_window, want.swa_period, m2.cfg.swa_period, want.rope_theta_swa, m2.cfg.rope_theta_swa);
        int n = 0, same = 0;
        for (int64_t i = 0; i < et_gguf_n_tensors(g); i++) {
            const et_gguf_tensor *a = et_gguf_tensor_at(g, i), *b = et_gguf_tensor_find(g2, a->name);
            n++;
            same += b && a->type == b->type && a->nbytes == b->nbytes && !memcmp(a->data, b->data, a->nbytes);
        }
        CHECK(n == same && n == et_gguf_n_tensors(g2), "%s: %d of %d tensors came back identical (%lld written)", name,
              same, n, (long long)et_gguf_n_tensors(g2));
        printf("  %s: arch %s -> %s, %d tensors\n", name, et_llama_arch_names[m.cfg.arch],
               et_llama_arch_names[m2.cfg.arch], n);
    }
    if (g2) et_gguf_close(g2);
    if (g) et_gguf_close(g);
    et_ctx_free(ctx);
    et_ctx_free(ctx2);
    remove(out);
}

static void test_to_gguf_roundtrip(void) {
    const char *names[] = {"llama_gqa_lora", "qwen2_tied_lora", "mistral_swa_ia3", "gemma3_lora", "gemma3_full"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) roundtrip_case(names[i]);
}

int main(void) {
    RUN(test_llama_gqa_lora);
    RUN(test_qwen2_tied_lora);
    RUN(test_mistral_swa_ia3);
    RUN(test_llama_prompt);
    RUN(test_qwen2_full);
    RUN(test_llama_gqa_lora_recompute);
    RUN(test_qwen2_full_recompute);
    RUN(test_llama_gqa_lora_cheap);
    RUN(test_qwen2_full_cheap);
    RUN(test_mistral_ia3_cheap);
    RUN(test_gemma3_lora_cheap);
    RUN(test_llama_gqa_lora_mlp);
    RUN(test_mistral_ia3_mlp);
    RUN(test_mistral_ia3_merged);
    RUN(test_llama_big_lora_merged);
    RUN(test_llama_big_full);
    RUN(test_llama_bf16_lora);
    RUN(test_llama_bf16_lora_exact_path);
    RUN(test_llama_qlora);
    RUN(test_llama_qlora_exact_path);
    RUN(test_llama_q8_0_lora);
    RUN(test_llama_q8_0_lora_exact_path);
    RUN(test_qwen2_q4_0_lora);
    RUN(test_qwen2_q4_0_lora_exact_path);
    RUN(test_llama_q4_k_ia3);
    RUN(test_llama_q4_k_ia3_exact_path);
    RUN(test_gemma3_lora);
    RUN(test_gemma3_lora_recompute);
    RUN(test_gemma3_lora_merged);
    RUN(test_gemma3_full);
    RUN(test_gemma3_prompt);
    RUN(test_gemma3_q5_0_ia3);
    RUN(test_gemma3_q5_0_ia3_exact_path);
    RUN(test_to_gguf_roundtrip);
    return DONE();
}
