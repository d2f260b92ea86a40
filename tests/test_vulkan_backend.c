/* The same graph on the CPU backend and on the Vulkan backend (engine/backend.h), compared.
 *
 * The graph is a small transformer block plus a few backward ops: get_rows from a Q8_0 table,
 * rmsnorm·gain, Q/K/V projections (Q4_K, NF4, Q8_0), rope on Q and K, causal GQA attention,
 * output projection (Q4_0) with residual, rmsnorm, SwiGLU MLP (Q4_0 gate, F16 up, Q8_0 down),
 * then dX through the down projection, rmsnorm_back, silu_back and scale.  It runs twice:
 * with the weights in those types, and with every weight in F32.
 *
 * Tolerances (normalized error per output): 1e-4 against the CPU's reference kernels
 * (EDGETUNE_ISA=ref path: dequantized weights times float activations, like the shaders; both
 * sides are float, sums in different orders over K <= 256; measured ~2e-6).  Against the
 * CPU's fastest path the quantized graph differs by design — it quantizes activations to int8
 * (Q8_0-style) or bf16 for quantized weights: measured 0.5% after one projection and 1.6-1.9%
 * after the chain of five — so that run is held to 5e-2 only (still catches wiring errors,
 * which give O(1) errors; exactness is the ref comparison's job).
 * Also: one optimizer step (MATMUL_DW then ADAMW in place) matches, and the Vulkan backend refuses at plan time an op it has no shader for, naming
 * the op and the node.
 */
#include "test_vulkan.h"
#include "backend.h"
#include "kernels.h"
#include "graph.h"
#include "engine/vulkan/vk_backend.h"
#include "ref/quant_ref.h"

enum { D = 256, T = 8, HD = 32, NH = 4, NKV = 2, F = 96, V = 50 };

static et_tensor *weight(et_ctx *ctx, et_type t, int64_t K, int64_t N, uint64_t seed,
                         const char *name) {
    et_tensor *w = et_new_2d(ctx, t, K, N, ET_FLAG_FROZEN, name);
    float *f = malloc((size_t)(K * N) * 4);
    et_t_fill(f, K * N, seed, 0.3f);
    if (t == ET_F32) memcpy(w->data, f, (size_t)(K * N) * 4);
    else if (t == ET_NF4) et_ref_quantize_nf4(f, w->data, K * N);
    else et_type_get(t)->from_f32(f, w->data, K * N);
    free(f);
    return w;
}

static void run_graph(bool quantized, double tol) {
    et_ctx *ctx = et_ctx_new(4096);
    et_type tq = quantized ? ET_Q4_K : ET_F32, tk = quantized ? ET_NF4 : ET_F32;
    et_type tv = quantized ? ET_Q8_0 : ET_F32, to = quantized ? ET_Q4_0 : ET_F32;
    et_type tu = quantized ? ET_F16 : ET_F32;
    et_tensor *emb = weight(ctx, tv, D, V, 1, "emb");
    et_tensor *Wq = weight(ctx, tq, D, NH * HD, 2, "Wq"), *Wk = weight(ctx, tk, D, NKV * HD, 3, "Wk");
    et_tensor *Wv = weight(ctx, tv, D, NKV * HD, 4, "Wv"), *Wo = weight(ctx, to, NH * HD, D, 5, "Wo");
    et_tensor *Wg = weight(ctx, to, D, F, 6, "Wg"), *Wu = weight(ctx, tu, D, F, 7, "Wu");
    et_tensor *Wd = weight(ctx, tv, F, D, 8, "Wd");
    et_tensor *x = et_new_2d(ctx, ET_F32, D, T, ET_FLAG_INPUT, "x");
    et_tensor *gain = et_new_1d(ctx, ET_F32, D, 0, "gain");
    et_tensor *ids = et_new_1d(ctx, ET_I32, T, ET_FLAG_INPUT, "ids");
    et_tensor *pos = et_new_1d(ctx, ET_I32, T, ET_FLAG_INPUT, "pos");
    et_t_fill(x->data, D * T, 9, 1.0f);
    et_t_fill(gain->data, D, 10, 0.5f);
    for (int i = 0; i < D; i++) ((float *)gain->data)[i] += 1.0f;
    for (int i = 0; i < T; i++) {
        ((int32_t *)ids->data)[i] = (i * 7 + 3) % V;
        ((int32_t *)pos->data)[i] = i;
    }
    const float eps = 1e-5f;
    et_tensor *x0 = et_add(ctx, x, et_get_rows(ctx, emb, ids));
    et_tensor *h = et_mul(ctx, et_rmsnorm(ctx, x0, eps), gain);
    et_tensor *q = et_rope(ctx, et_reshape_4d(ctx, et_matmul(ctx, Wq, h), HD, NH, T, 1), pos, HD,
                           ET_ROPE_NORM, 10000.0f);
    et_tensor *k = et_rope(ctx, et_reshape_4d(ctx, et_matmul(ctx, Wk, h), HD, NKV, T, 1), pos, HD,
                           ET_ROPE_NORM, 10000.0f);
    et_tensor *v = et_reshape_4d(ctx, et_matmul(ctx, Wv, h), HD, NKV, T, 1);
    et_tensor *att = et_reshape_2d(ctx, et_attention(ctx, q, k, v, 1.0f / sqrtf(HD), 0, 0), NH * HD, T);
    et_tensor *x2 = et_add(ctx, x0, et_matmul(ctx, Wo, att));
    et_tensor *h2 = et_mul(ctx, et_rmsnorm(ctx, x2, eps), gain);
    et_tensor *gt = et_matmul(ctx, Wg, h2);
    et_tensor *m = et_swiglu(ctx, gt, et_matmul(ctx, Wu, h2));
    et_tensor *y = et_add(ctx, x2, et_matmul(ctx, Wd, m));
    et_tensor *dm = et_matmul_dx(ctx, Wd, y);
    et_tensor *dg = et_silu_back(ctx, gt, dm);
    et_tensor *rb = et_scale(ctx, et_rmsnorm_back(ctx, x2, y, eps), 0.5f);
    et_tensor *outs[] = { y, dm, dg, rb, q, att };
    const char *names[] = { "y", "dX(down)", "silu_back", "rmsnorm_back", "rope(q)", "attention" };
    enum { NO = 6 };
    CHECK(!et_ctx_failed(ctx), "graph build: %s", et_ctx_error(ctx));
    if (et_ctx_failed(ctx)) { et_ctx_free(ctx); return; }
    et_graph *g = et_graph_new(ctx, 512);
    for (int i = 0; i < NO; i++) {
        outs[i]->flags |= ET_FLAG_OUTPUT;
        et_graph_add(g, outs[i]);
    }
    et_plan plan;
    bool ok = et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
    CHECK(ok, "plan: %s", et_ctx_error(ctx));
    et_backend *cpu = et_backend_cpu();
    ok = ok && cpu->run(cpu, g, &plan, 0, g->n_nodes);
    CHECK(ok, "cpu run: %s", et_ctx_error(ctx));
    float *want[NO];
    for (int i = 0; i < NO; i++) {
        want[i] = malloc(et_nbytes(outs[i]));
        if (ok) memcpy(want[i], outs[i]->data, et_nbytes(outs[i]));
        memset(outs[i]->data, 0xff, et_nbytes(outs[i]));   /* NaN: Vulkan must overwrite */
    }
    char err[200];
    et_backend *vk = et_vk_backend_new(-1, err, sizeof err);
    CHECK(vk != NULL, "vulkan backend: %s", err);
    if (ok && vk) {
        ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes);
        CHECK(ok, "vulkan run: %s", et_ctx_error(ctx));
        for (int i = 0; i < NO && ok; i++) {
            int64_t n = et_nelements(outs[i]);
            CHECK(vk->download(vk, outs[i]), "download %s", names[i]);
            double *w = malloc((size_t)n * 8);
            for (int64_t j = 0; j < n; j++) w[j] = want[i][j];
            int nonfinite = 0;
            for (int64_t j = 0; j < n; j++) nonfinite += !isfinite(((float *)outs[i]->data)[j]);
            double e = vkt_nerr(outs[i]->data, w, n);
            printf("#   %s weights: %-13s normalized error %.2e\n", quantized ? "quantized" : "f32",
                   names[i], e);
            CHECK(nonfinite == 0 && e <= tol, "%s weights: %s error %.3g > %.3g (%d non-finite)",
                  quantized ? "quantized" : "f32", names[i], e, tol, nonfinite);
            free(w);
        }
    }
    if (vk) vk->free(vk);
    for (int i = 0; i < NO; i++) free(want[i]);
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

static void test_block_f32_weights(void) {
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    run_graph(false, 1e-4);
}
static void test_block_quantized_weights(void) {
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    run_graph(true, 1e-4);
}
/* The same block under phone limits with 16 KiB bindings: every weight is split into row chunks
 * (up to 16 for Wq), no subgroups, no fp16; still 1e-4 against the reference CPU kernels. */
static void test_block_tiled_mobile(void) {
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    setenv("EDGETUNE_VK_LIMITS", "mobile:16384", 1);
    run_graph(false, 1e-4);
    run_graph(true, 1e-4);
    unsetenv("EDGETUNE_VK_LIMITS");
}

static void test_block_quantized_vs_fast_cpu(void) {
    CHECK(et_kern_set_isa(et_kern_isa_best()), "cannot select the best kernels");
    run_graph(true, 5e-2);
}

/* One optimizer step of a trainable f32 weight: dW = dyᵀ·x (MATMUL_DW), then AdamW in place on
 * W, m, v with hyperparameters from an f32 [8] leaf — on the CPU, then from the same starting
 * values on Vulkan.  Tolerance 1e-5 normalized on W, m, v (float updates, sums over 8 tokens). */
static void test_weight_update(void) {
    enum { K = 32, N = 16, TT = 8 };
    et_ctx *ctx = et_ctx_new(64);
    et_tensor *w = et_new_2d(ctx, ET_F32, K, N, ET_FLAG_PARAM, "w");
    et_tensor *m = et_new_2d(ctx, ET_F32, K, N, 0, "m"), *v = et_new_2d(ctx, ET_F32, K, N, 0, "v");
    et_tensor *x = et_new_2d(ctx, ET_F32, K, TT, ET_FLAG_INPUT, "x");
    et_tensor *dy = et_new_2d(ctx, ET_F32, N, TT, ET_FLAG_INPUT, "dy");
    et_tensor *hp = et_new_1d(ctx, ET_F32, 8, ET_FLAG_INPUT, "hp");
    et_t_fill(w->data, K * N, 30, 1.0f);
    et_t_fill(x->data, K * TT, 31, 1.0f);
    et_t_fill(dy->data, N * TT, 32, 1.0f);
    et_t_fill(m->data, K * N, 33, 0.01f);
    for (int i = 0; i < K * N; i++) ((float *)v->data)[i] = 1e-4f * (1 + i % 7);
    const float hpv[8] = { 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, 0.19f, 0.002f, 0.7f };
    memcpy(hp->data, hpv, sizeof hpv);
    size_t nb = (size_t)K * N * 4;
    float *w0 = malloc(nb), *m0 = malloc(nb), *v0 = malloc(nb);
    memcpy(w0, w->data, nb); memcpy(m0, m->data, nb); memcpy(v0, v->data, nb);
    et_tensor *upd = et_adamw(ctx, w, et_matmul_dw(ctx, dy, x), m, v, hp);
    CHECK(upd && !et_ctx_failed(ctx), "build: %s", et_ctx_error(ctx));
    et_graph *g = et_graph_new(ctx, 16);
    et_plan plan;
    bool ok = upd && et_graph_add(g, upd) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
              et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
    CHECK(ok, "cpu: %s", et_ctx_error(ctx));
    float *wc = malloc(nb), *mc = malloc(nb), *vc = malloc(nb);
    memcpy(wc, w->data, nb); memcpy(mc, m->data, nb); memcpy(vc, v->data, nb);
    memcpy(w->data, w0, nb); memcpy(m->data, m0, nb); memcpy(v->data, v0, nb);
    char err[200];
    et_backend *vk = ok ? et_vk_backend_new(-1, err, sizeof err) : NULL;
    CHECK(!ok || vk, "vulkan backend: %s", err);
    if (vk) {
        ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes) &&
             vk->download(vk, w) && vk->download(vk, m) && vk->download(vk, v);
        CHECK(ok, "vulkan: %s", et_ctx_error(ctx));
        const float *got[3] = { w->data, m->data, v->data }, *want[3] = { wc, mc, vc };
        const char *nm[3] = { "w", "m", "v" };
        for (int i = 0; i < 3 && ok; i++) {
            double d[K * N];
            for (int j = 0; j < K * N; j++) d[j] = want[i][j];
            double e = vkt_nerr(got[i], d, K * N);
            CHECK(e <= 1e-5, "AdamW %s after one step: normalized error %.3g", nm[i], e);
        }
        CHECK(memcmp(w->data, w0, nb) != 0, "w unchanged by the step");
        vk->free(vk);
    }
    free(w0); free(m0); free(v0); free(wc); free(mc); free(vc);
    et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

/* ATTN_BACK (packed dq|dk|dv, as autodiff emits it) and views at offsets into it, consumed by
 * SCALE nodes: CPU vs Vulkan, with a KV cache (n_past 3, S = T + 3) and no window.
 * Tolerance 1e-5 normalized (float sums over <= 11 keys and 32 dims, exp). */
static void test_attention_backward(void) {
    enum { HD = 32, NH = 4, NKV = 2, TT = 6, S = 9 };
    et_ctx *ctx = et_ctx_new(64);
    et_tensor *q = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NH, TT, 1 }, ET_FLAG_INPUT, "q");
    et_tensor *k = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NKV, S, 1 }, ET_FLAG_INPUT, "k");
    et_tensor *v = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NKV, S, 1 }, ET_FLAG_INPUT, "v");
    et_tensor *dO = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NH, TT, 1 }, ET_FLAG_INPUT, "dO");
    et_t_fill(q->data, HD * NH * TT, 40, 1.0f); et_t_fill(k->data, HD * NKV * S, 41, 1.0f);
    et_t_fill(v->data, HD * NKV * S, 42, 1.0f); et_t_fill(dO->data, HD * NH * TT, 43, 1.0f);
    et_tensor *att = et_attention(ctx, q, k, v, 0.2f, 3, 0);
    /* the node autodiff's rule (engine/ops/attention.c) builds, and its views */
    int64_t nq = HD * NH * TT, nk = HD * NKV * S;
    et_tensor *pk = et__new_node(ctx, ET_OP_ATTN_BACK, ET_F32, 1, (int64_t[]){ nq + 2 * nk });
    et_tensor *outs[4] = { att, NULL, NULL, NULL };
    if (pk && att) {
        pk->src[0] = q; pk->src[1] = k; pk->src[2] = v; pk->src[3] = att; pk->src[4] = dO;
        memcpy(pk->params, att->params, sizeof pk->params);
        et_tensor *parts[3] = { q, k, v };
        size_t offs[3] = { 0, (size_t)nq * 4, (size_t)(nq + nk) * 4 };
        for (int i = 0; i < 3; i++) {
            const int64_t *ne = parts[i]->ne;
            size_t nb[4] = { 4, 4 * (size_t)ne[0], 4 * (size_t)(ne[0] * ne[1]),
                             4 * (size_t)(ne[0] * ne[1] * ne[2]) };
            outs[1 + i] = et_scale(ctx, et_view(ctx, pk, 4, ne, nb, offs[i]), 1.0f);
        }
    }
    CHECK(!et_ctx_failed(ctx), "build: %s", et_ctx_error(ctx));
    et_graph *g = et_graph_new(ctx, 32);
    for (int i = 0; i < 4 && outs[i]; i++) { outs[i]->flags |= ET_FLAG_OUTPUT; et_graph_add(g, outs[i]); }
    et_plan plan;
    bool ok = !et_ctx_failed(ctx) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
              et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
    CHECK(ok, "cpu: %s", et_ctx_error(ctx));
    char err[200];
    et_backend *vk = ok ? et_vk_backend_new(-1, err, sizeof err) : NULL;
    CHECK(!ok || vk, "vulkan backend: %s", err);
    if (vk) {
        double *want[4];
        for (int i = 0; i < 4; i++) {
            int64_t n = et_nelements(outs[i]);
            want[i] = malloc((size_t)n * 8);
            for (int64_t j = 0; j < n; j++) want[i][j] = ((float *)outs[i]->data)[j];
            memset(outs[i]->data, 0xff, (size_t)n * 4);
        }
        ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes);
        CHECK(ok, "vulkan: %s", et_ctx_error(ctx));
        const char *nm[4] = { "o", "dq", "dk", "dv" };
        for (int i = 0; i < 4 && ok; i++) {
            CHECK(vk->download(vk, outs[i]), "download %s", nm[i]);
            double e = vkt_nerr(outs[i]->data, want[i], et_nelements(outs[i]));
            CHECK(e <= 1e-5, "attention backward %s: normalized error %.3g", nm[i], e);
        }
        for (int i = 0; i < 4; i++) free(want[i]);
        vk->free(vk);
    }
    if (ok) et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

/* Fused head + cross-entropy (mean and per position) and its backward to h (Q8_0 head) and to
 * W (F32 head), built as autodiff builds them: CPU (reference kernels) vs Vulkan, with
 * unscored positions (target -1).  Tolerance 1e-5 normalized (float sums over D = 64 and
 * V = 40, exp/log). */
/* The fused head + cross-entropy (mean and per position) and its backward to h and to W, Q8_0
 * and f32 heads, on the CPU's reference kernels and on Vulkan, 1e-5 normalized (float sums
 * over D = 64 and over the vocabulary in different orders).  `limits` and the sizes choose
 * whether the vocabulary is split into chunks (EDGETUNE_VK_LIMITS=mobile: 1 MiB bindings, so
 * 96 positions x 3000 rows run in two chunks, and the Q8_0 head's chunks straddle its row
 * tiles).  With dw = false the dW case is left out (its [V][D] output would not fit). */
static void ce_case(const char *limits, int64_t P, int64_t VV, bool dw) {
    enum { DD = 64 };
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    if (limits) setenv("EDGETUNE_VK_LIMITS", limits, 1);
    et_ctx *ctx = et_ctx_new(64);
    et_tensor *h = et_new_2d(ctx, ET_F32, DD, P, ET_FLAG_INPUT, "h");
    et_tensor *wq = weight(ctx, ET_Q8_0, DD, VV, 50, "Wq8");
    et_tensor *wf = weight(ctx, ET_F32, DD, VV, 51, "Wf32");
    et_tensor *tg = et_new_1d(ctx, ET_I32, P, ET_FLAG_INPUT, "targets");
    et_tensor *dl = et_new_1d(ctx, ET_F32, 1, ET_FLAG_INPUT, "dloss");
    et_tensor *dlp = et_new_1d(ctx, ET_F32, P, ET_FLAG_INPUT, "dloss_pos");
    et_t_fill(h->data, DD * P, 52, 2.0f);
    /* unscored positions, the first and last vocabulary rows, and targets in every chunk */
    for (int64_t p = 0; p < P; p++)
        ((int32_t *)tg->data)[p] = p % 5 == 1 ? -1 : p == 2 ? (int32_t)VV - 1 : p == 3 ? 0
                                 : (int32_t)((p * 977) % VV);
    ((float *)dl->data)[0] = 1.3f;
    et_t_fill(dlp->data, P, 53, 1.0f);
    et_tensor *loss = et_cross_entropy(ctx, h, wq, tg);
    et_tensor *lpos = et_cross_entropy_none(ctx, h, wf, tg);
    et_tensor *lmf = et_cross_entropy(ctx, h, wf, tg);   /* the forward dW (mean) reads */
    et_tensor *outs[5] = { loss, lpos, NULL, NULL, NULL };
    /* backward nodes as et__bwd_cross_entropy makes them: params[0] reduction, [1] which,
     * src[4] the forward node whose log-sum-exps the CPU reads */
    const struct { et_tensor *w, *dl, *fwd; int per_pos, dw; } bk[3] = {
        { wq, dl, loss ? loss->view_src : NULL, 0, 0 }, { wf, dlp, lpos ? lpos->view_src : NULL, 1, 0 },
        { wf, dl, lmf ? lmf->view_src : NULL, 0, 1 } };
    const int nout = dw ? 5 : 4;
    for (int i = 0; i < nout - 2 && loss && lpos; i++) {
        int64_t ne[2] = { DD, bk[i].dw ? VV : P };
        et_tensor *d = et__new_node(ctx, ET_OP_CROSS_ENTROPY_BACK, ET_F32, 2, ne);
        if (!d) break;
        d->src[0] = h; d->src[1] = bk[i].w; d->src[2] = tg; d->src[3] = bk[i].dl; d->src[4] = bk[i].fwd;
        d->params[0] = bk[i].per_pos;
        d->params[1] = bk[i].dw;
        outs[2 + i] = d;
    }
    const char *nm[5] = { "loss (mean)", "loss per position", "dh (mean)", "dh (per position)",
                          "dW (mean)" };
    CHECK(!et_ctx_failed(ctx), "build: %s", et_ctx_error(ctx));
    et_graph *g = et_graph_new(ctx, 32);
    for (int i = 0; i < nout && outs[i]; i++) { outs[i]->flags |= ET_FLAG_OUTPUT; et_graph_add(g, outs[i]); }
    et_plan plan;
    bool ok = !et_ctx_failed(ctx) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
              et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
    CHECK(ok, "cpu: %s", et_ctx_error(ctx));
    char err[200];
    et_backend *vk = ok ? et_vk_backend_new(-1, err, sizeof err) : NULL;
    CHECK(!ok || vk, "vulkan backend: %s", err);
    if (vk) {
        double *want[5];
        for (int i = 0; i < nout; i++) {
            int64_t n = et_nelements(outs[i]);
            want[i] = malloc((size_t)n * 8);
            for (int64_t j = 0; j < n; j++) want[i][j] = ((float *)outs[i]->data)[j];
            memset(outs[i]->data, 0xff, (size_t)n * 4);
        }
        ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes);
        CHECK(ok, "vulkan: %s", et_ctx_error(ctx));
        for (int i = 0; i < nout && ok; i++) {
            CHECK(vk->download(vk, outs[i]), "download %s", nm[i]);
            double e = vkt_nerr(outs[i]->data, want[i], et_nelements(outs[i]));
            printf("#   cross-entropy P %lld V %lld%s%s: %-18s normalized error %.2e\n", (long long)P,
                   (long long)VV, limits ? " limits " : "", limits ? limits : "", nm[i], e);
            CHECK(e <= 1e-5, "cross-entropy %s: normalized error %.3g", nm[i], e);
        }
        for (int i = 0; i < nout; i++) free(want[i]);
        vk->free(vk);
    }
    if (ok) et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
    unsetenv("EDGETUNE_VK_LIMITS");
}

static void test_cross_entropy(void) { ce_case(NULL, 6, 40, true); }
/* 96 x 3000 logits are 1.1 MiB: over the mobile binding, so two vocabulary chunks */
static void test_cross_entropy_chunked_mobile(void) { ce_case("mobile", 96, 3000, true); }
/* 16 KiB bindings: 6 positions x 2000 rows in three chunks that straddle the Q8_0 head's tiles
 * of 240 rows; the [2000][64] dW would not fit, so only the losses and dh */
static void test_cross_entropy_chunked_tiles(void) { ce_case("mobile:16384", 6, 2000, false); }

/* An activation larger than one binding is refused at plan time naming the tensor and limit. */
static void test_activation_too_large_named(void) {
    setenv("EDGETUNE_VK_LIMITS", "mobile:16384", 1);
    et_ctx *ctx = et_ctx_new(64);
    et_tensor *x = et_new_2d(ctx, ET_F32, 64, 128, ET_FLAG_INPUT, "big_x");   /* 32 KiB */
    et_tensor *y = et_scale(ctx, et_silu(ctx, x), 2.0f);
    et_graph *g = et_graph_new(ctx, 8);
    et_graph_add(g, y);
    char err[200];
    et_backend *vk = et_vk_backend_new(-1, err, sizeof err);
    CHECK(vk != NULL, "vulkan: %s", err);
    if (vk) {
        CHECK(!et_backend_check(vk, g), "a 32 KiB activation was accepted under 16 KiB bindings");
        const char *e = et_ctx_error(ctx);
        CHECK(strstr(e, "big_x") && strstr(e, "16384") && strstr(e, "silu"),
              "the refusal does not name the tensor, the limit and the op: %s", e);
        vk->free(vk);
    }
    et_graph_free(g);
    et_ctx_free(ctx);
    unsetenv("EDGETUNE_VK_LIMITS");
}

/* A whole training graph built by autodiff runs on Vulkan: a frozen Q4_0 projection plus a
 * LoRA branch (A, B trainable f32) scaled, a trainable bias broadcast over tokens, SiLU, and a
 * loss of sums over an elementwise product and over a transposed copy (CONT) — so backward
 * emits MATMUL_DW, MATMUL_DX, REPEAT(_BACK), SILU_BACK, MUL, SCALE, SUM and view ops; the input
 * adds rows of a trainable embedding (GET_ROWS_BACK, repeated ids) and the loss a dense row
 * slice of the activations (VIEW_BACK).  Loss and the four gradients: CPU reference kernels
 * vs Vulkan, 1e-5 normalized. */
static void test_autodiff_graph(void) {
    enum { K = 32, R = 4, N = 16, TT = 8 };
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    et_ctx *ctx = et_ctx_new(512);
    et_tensor *W = weight(ctx, ET_Q4_0, K, N, 60, "W");
    et_tensor *A = et_new_2d(ctx, ET_F32, K, R, ET_FLAG_PARAM, "lora_a");
    et_tensor *Bm = et_new_2d(ctx, ET_F32, R, N, ET_FLAG_PARAM, "lora_b");
    et_tensor *bias = et_new_1d(ctx, ET_F32, N, ET_FLAG_PARAM, "bias");
    et_tensor *x0 = et_new_2d(ctx, ET_F32, K, TT, ET_FLAG_INPUT, "x");
    et_tensor *E = et_new_2d(ctx, ET_F32, K, 20, ET_FLAG_PARAM, "emb");
    et_tensor *ids = et_new_1d(ctx, ET_I32, TT, ET_FLAG_INPUT, "ids");
    et_tensor *Rw = et_new_2d(ctx, ET_F32, N, TT, ET_FLAG_INPUT, "r");
    et_t_fill(E->data, K * 20, 66, 0.5f);
    for (int i = 0; i < TT; i++) ((int32_t *)ids->data)[i] = (i * 3) % 7;   /* repeats */
    et_tensor *x = et_add(ctx, x0, et_get_rows(ctx, E, ids));
    et_t_fill(A->data, K * R, 61, 0.3f); et_t_fill(Bm->data, R * N, 62, 0.3f);
    et_t_fill(bias->data, N, 63, 0.5f); et_t_fill(x0->data, K * TT, 64, 1.0f);
    et_t_fill(Rw->data, N * TT, 65, 1.0f);
    et_tensor *y = et_add(ctx, et_add(ctx, et_matmul(ctx, W, x),
                                      et_scale(ctx, et_matmul(ctx, Bm, et_matmul(ctx, A, x)), 0.5f)),
                          bias);
    et_tensor *z = et_silu(ctx, y);
    /* rows 2..4 of z: a dense view at an offset (VIEW_BACK in backward) */
    et_tensor *rows = et_view(ctx, z, 2, (int64_t[]){ N, 3 }, (size_t[]){ 4, 4 * N }, 2 * 4 * N);
    et_tensor *loss = et_add(ctx, et_add(ctx, et_sum(ctx, et_mul(ctx, z, Rw)),
                                         et_scale(ctx, et_sum(ctx, et_cont(ctx, et_transpose(ctx, z))), 0.1f)),
                             et_sum(ctx, et_silu(ctx, rows)));
    CHECK(loss && !et_ctx_failed(ctx), "build: %s", et_ctx_error(ctx));
    et_graph *g = et_graph_new(ctx, 256);
    et_backward_opts bo = { 0 };
    bool ok = loss && et_graph_add(g, loss) && et_graph_backward(g, loss, &bo);
    CHECK(ok, "backward: %s", et_ctx_error(ctx));
    /* the backward really contains the ops this test is about */
    const et_op need[] = { ET_OP_MATMUL_DW, ET_OP_MATMUL_DX, ET_OP_REPEAT, ET_OP_REPEAT_BACK,
                           ET_OP_SILU_BACK, ET_OP_GET_ROWS_BACK, ET_OP_VIEW_BACK, ET_OP_SUM,
                           ET_OP_CONT };
    for (size_t i = 0; i < sizeof need / sizeof need[0] && ok; i++) {
        bool found = false;
        for (int32_t j = 0; j < g->n_nodes; j++) found |= g->nodes[j]->op == need[i];
        CHECK(found, "the graph has no %s node", et_op_name(need[i]));
    }
    et_tensor *outs[5] = { loss, A->grad, Bm->grad, bias->grad, E->grad };
    const char *nm[5] = { "loss", "dA", "dB", "dbias", "demb" };
    for (int i = 0; i < 5 && ok; i++) {
        CHECK(outs[i] != NULL, "no %s", nm[i]);
        if (!outs[i]) ok = false; else outs[i]->flags |= ET_FLAG_OUTPUT;
    }
    et_plan plan;
    ok = ok && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
         et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
    CHECK(ok, "cpu: %s", et_ctx_error(ctx));
    char err[200];
    et_backend *vk = ok ? et_vk_backend_new(-1, err, sizeof err) : NULL;
    CHECK(!ok || vk, "vulkan backend: %s", err);
    if (vk) {
        double *want[5];
        for (int i = 0; i < 5; i++) {
            int64_t n = et_nelements(outs[i]);
            want[i] = malloc((size_t)n * 8);
            for (int64_t j = 0; j < n; j++) want[i][j] = ((float *)outs[i]->data)[j];
            memset(outs[i]->data, 0xff, (size_t)n * 4);
        }
        ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes);
        CHECK(ok, "vulkan: %s", et_ctx_error(ctx));
        for (int i = 0; i < 5 && ok; i++) {
            CHECK(vk->download(vk, outs[i]), "download %s", nm[i]);
            double e = vkt_nerr(outs[i]->data, want[i], et_nelements(outs[i]));
            printf("#   autodiff graph (%d nodes) %-5s normalized error %.2e\n", g->n_nodes, nm[i], e);
            CHECK(e <= 1e-5, "autodiff graph %s: normalized error %.3g", nm[i], e);
        }
        for (int i = 0; i < 5; i++) free(want[i]);
        /* per-node GPU times: every computing node has at least one labelled dispatch */
        const et_vk_timing *tm;
        int nt = et_vk_backend_timings(vk, &tm), missing = 0;
        for (int32_t j = 0; j < g->n_nodes && nt > 0; j++) {
            const et_tensor *t = g->nodes[j];
            if (t->op == ET_OP_VIEW || t->op == ET_OP_NONE) continue;
            bool found = false;
            for (int i = 0; i < nt && !found; i++)
                found = !strcmp(tm[i].label, t->name[0] ? t->name : et_op_name(t->op)) && tm[i].ns >= 0;
            missing += !found;
        }
        CHECK(nt > 0 && missing == 0, "%d timings; %d nodes without one", nt, missing);
        CHECK(et_vk_backend_timings(et_backend_cpu(), &tm) == 0, "cpu backend has timings");
        vk->free(vk);
    }
    if (ok) et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

/* Decode-time and training-helper ops: KV_STORE of two new tokens into a cache after 3 old
 * ones, then attention over the stored prefix; CONCAT along dim 1; SUMSQ and CLIP_SCALE;
 * DROPOUT.  CPU vs Vulkan, 1e-5 normalized (the clip scale in double on the CPU, float here),
 * and the dropout mask identical element for element (an integer hash, emulated in 32-bit). */
static void test_decode_ops(void) {
    enum { HD = 32, NH = 4, NKV = 2, SMAX = 12, NP = 3, TT = 2 };
    et_ctx *ctx = et_ctx_new(128);
    et_tensor *kc = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NKV, SMAX, 1 }, 0, "k_cache");
    et_tensor *vc = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NKV, SMAX, 1 }, 0, "v_cache");
    et_tensor *q = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NH, TT, 1 }, ET_FLAG_INPUT, "q");
    et_tensor *k = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NKV, TT, 1 }, ET_FLAG_INPUT, "k");
    et_tensor *v = et_new(ctx, ET_F32, 4, (int64_t[]){ HD, NKV, TT, 1 }, ET_FLAG_INPUT, "v");
    et_t_fill(kc->data, HD * NKV * SMAX, 70, 1.0f); et_t_fill(vc->data, HD * NKV * SMAX, 71, 1.0f);
    et_t_fill(q->data, HD * NH * TT, 72, 1.0f); et_t_fill(k->data, HD * NKV * TT, 73, 1.0f);
    et_t_fill(v->data, HD * NKV * TT, 74, 1.0f);
    size_t cb = (size_t)HD * NKV * SMAX * 4;
    float *kc0 = malloc(cb), *vc0 = malloc(cb);
    memcpy(kc0, kc->data, cb); memcpy(vc0, vc->data, cb);
    et_tensor *att = et_attention(ctx, q, et_kv_store(ctx, kc, k, NP), et_kv_store(ctx, vc, v, NP),
                                  0.2f, NP, 0);
    et_tensor *cat = et_concat(ctx, et_reshape_2d(ctx, q, HD * NH, TT), et_reshape_2d(ctx, att, HD * NH, TT));
    et_tensor *ss = et_sumsq(ctx, cat);
    et_tensor *clip = et_clip_scale(ctx, ss, 3.0f);
    et_tensor *seed = et_new_1d(ctx, ET_I32, 1, ET_FLAG_INPUT, "seed");
    ((int32_t *)seed->data)[0] = -123457;
    et_tensor *drop = et_dropout(ctx, cat, seed, 0.3f, 5);
    et_tensor *outs[5] = { att, cat, ss, clip, drop };
    const char *nm[5] = { "attention over the cache", "concat", "sumsq", "clip_scale", "dropout" };
    CHECK(!et_ctx_failed(ctx), "build: %s", et_ctx_error(ctx));
    et_graph *g = et_graph_new(ctx, 64);
    for (int i = 0; i < 5 && !et_ctx_failed(ctx); i++) { outs[i]->flags |= ET_FLAG_OUTPUT; et_graph_add(g, outs[i]); }
    et_plan plan;
    bool ok = !et_ctx_failed(ctx) && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
              et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
    CHECK(ok, "cpu: %s", et_ctx_error(ctx));
    char err[200];
    et_backend *vk = ok ? et_vk_backend_new(-1, err, sizeof err) : NULL;
    CHECK(!ok || vk, "vulkan backend: %s", err);
    if (vk) {
        double *want[5];
        for (int i = 0; i < 5; i++) {
            int64_t n = et_nelements(outs[i]);
            want[i] = malloc((size_t)n * 8);
            for (int64_t j = 0; j < n; j++) want[i][j] = ((float *)outs[i]->data)[j];
            memset(outs[i]->data, 0xff, (size_t)n * 4);
        }
        float *kcc = malloc(cb);
        memcpy(kcc, kc->data, cb);
        memcpy(kc->data, kc0, cb); memcpy(vc->data, vc0, cb);   /* the caches as before the step */
        ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes);
        CHECK(ok, "vulkan: %s", et_ctx_error(ctx));
        for (int i = 0; i < 5 && ok; i++) {
            CHECK(vk->download(vk, outs[i]), "download %s", nm[i]);
            double e = vkt_nerr(outs[i]->data, want[i], et_nelements(outs[i]));
            CHECK(e <= 1e-5, "%s: normalized error %.3g", nm[i], e);
        }
        /* dropout's mask is an integer hash: the kept and dropped elements must agree exactly */
        int64_t nd = et_nelements(drop), mism = 0, zeros = 0;
        for (int64_t j = 0; ok && j < nd; j++) {
            float gv = ((float *)drop->data)[j];
            mism += (gv == 0.0f) != (want[4][j] == 0.0);
            zeros += want[4][j] == 0.0;
        }
        CHECK(mism == 0 && zeros > nd / 5 && zeros < nd * 2 / 5,
              "dropout mask: %lld of %lld differ, %lld dropped (p = 0.3)", (long long)mism,
              (long long)nd, (long long)zeros);
        CHECK(ok && vk->download(vk, kc) && !memcmp(kc->data, kcc, cb),
              "the key cache after KV_STORE differs from the CPU's");
        free(kcc);
        for (int i = 0; i < 5; i++) free(want[i]);
        vk->free(vk);
    }
    free(kc0); free(vc0);
    if (ok) et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

/* A node the shaders cannot run (here a partial rotary embedding) is refused at plan time,
 * naming the op, the node and the reason. */
static void test_unsupported_op_named(void) {
    et_ctx *ctx = et_ctx_new(64);
    et_tensor *a = et_new(ctx, ET_F32, 4, (int64_t[]){ 32, 2, 4, 1 }, ET_FLAG_INPUT, "a");
    et_tensor *pos = et_new_1d(ctx, ET_I32, 4, ET_FLAG_INPUT, "pos");
    et_tensor *s = et_rope(ctx, et_silu(ctx, a), pos, 16, ET_ROPE_NORM, 10000.0f);
    et_set_name(s, "the_rope");
    et_graph *g = et_graph_new(ctx, 16);
    et_graph_add(g, s);
    char err[200];
    et_backend *vk = et_vk_backend_new(-1, err, sizeof err);
    CHECK(vk != NULL, "vulkan backend: %s", err);
    if (vk) {
        bool ok = et_backend_check(vk, g);
        CHECK(!ok && strstr(et_ctx_error(ctx), "rope") && strstr(et_ctx_error(ctx), "the_rope") &&
              strstr(et_ctx_error(ctx), "vulkan") && strstr(et_ctx_error(ctx), "n_rot 16"),
              "unsupported node not named: %s",
              et_ctx_error(ctx));
        vk->free(vk);
    }
    et_graph_free(g);
    et_ctx_free(ctx);
}

/* --device parsing: each accepted spelling gives the right backend, bad ones name the value. */
static void test_backend_open(void) {
    char err[200] = "";
    CHECK(et_backend_open("cpu", err, sizeof err) == et_backend_cpu(), "cpu");
    const char *vk_specs[] = { "vulkan", "vulkan:0", "auto" };
    for (int i = 0; i < 3; i++) {
        et_backend *be = et_backend_open(vk_specs[i], err, sizeof err);
        CHECK(be && !strcmp(be->name, "vulkan"), "%s: %s", vk_specs[i], err);
        if (be) be->free(be);
    }
    const char *bad[] = { "gpu", "vulkan:", "vulkan:x", "vulkan:-1" };
    for (int i = 0; i < 4; i++) {
        et_backend *be = et_backend_open(bad[i], err, sizeof err);
        CHECK(!be && strstr(err, bad[i]), "'%s' accepted or not named: %s", bad[i], err);
    }
    CHECK(!et_backend_open("vulkan:7", err, sizeof err) && strstr(err, "7"),
          "vulkan:7 opened on a one-device machine: %s", err);
}

int main(void) {
    if (vkt_opted_out()) return 0;
    RUN(test_block_f32_weights);
    RUN(test_block_quantized_weights);
    RUN(test_block_tiled_mobile);
    RUN(test_block_quantized_vs_fast_cpu);
    RUN(test_weight_update);
    RUN(test_attention_backward);
    RUN(test_cross_entropy);
    RUN(test_cross_entropy_chunked_mobile);
    RUN(test_cross_entropy_chunked_tiles);
    RUN(test_activation_too_large_named);
    RUN(test_autodiff_graph);
    RUN(test_decode_ops);
    RUN(test_unsupported_op_named);
    RUN(test_backend_open);
    return DONE();
}
