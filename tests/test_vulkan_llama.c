/* The Llama builder's own graphs on Vulkan vs the CPU (models/llama.h):
 *  - a LoRA training step (rank 4 on every linear layer, B filled non-zero so every adapter
 *    gradient is non-trivial) on the toy task: loss and every adapter gradient;
 *  - a QLoRA step: the same with the base weights quantized to NF4 (et_llama_compress);
 *  - generation: prefill of 5 tokens then 3 single-token decode steps through the KV cache:
 *    the logits of every step;
 *  - greedy parity over 32 decode steps: both sides are fed the CPU's greedy token (so every
 *    step compares the same prefix), every logit within 1e-5 of the step's largest |logit|
 *    (absolute), and the Vulkan argmax may differ from the CPU's only where the CPU's top-2
 *    gap is below twice the step's measured max |Δlogit| (a swap needs the two logits to move
 *    toward each other by the gap), which the tolerance bounds.  The model keeps the init's
 *    small weights, so its logits are close together and near ties are possible.
 * The CPU runs its reference kernels (EDGETUNE_ISA=ref path: float activations, like the
 * shaders), so both sides compute the same math in float with different summation orders.
 * Tolerance 1e-5 normalized for the loss, gradients and logits (two layers of float
 * reductions, exp/log, backward through attention; measured below 1e-6: a 10× margin).
 */
#include "test_vulkan.h"
#include "backend.h"
#include "graph.h"
#include "kernels.h"
#include "engine/vulkan/vk_backend.h"
#include "models/llama.h"
#include "models/toy.h"

static const et_llama_config kCfg = {
    .vocab = 64, .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16,
    .ffn = 128, .max_seq = 32, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
    .rope_mode = ET_ROPE_NORM,
};

static double worst;   /* largest normalized error of the current case, for the log */

static void compare(const char *what, et_tensor *t, const float *want, double tol) {
    int64_t n = et_nelements(t);
    double *w = malloc((size_t)n * 8);
    for (int64_t j = 0; j < n; j++) w[j] = want[j];
    double e = vkt_nerr(t->data, w, n);
    if (e > worst) worst = e;
    CHECK(e <= tol, "%s: normalized error %.3g > %.3g", what, e, tol);
    free(w);
}

static void lora_step(bool quantized) {
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    et_ctx *ctx = et_ctx_new(1 << 14);
    et_llama m;
    bool ok = et_llama_init(&m, ctx, &kCfg, 7, 0);
    double sparsity;
    if (ok && quantized) ok = et_llama_compress(&m, ET_NF4, NULL, &sparsity);
    if (ok && quantized)
        CHECK(m.layers[0].wq->type == ET_NF4 && m.layers[1].w_down->type == ET_NF4,
              "base weights not NF4 after et_llama_compress");
    ok = ok && et_llama_add_lora(&m, 4, 8.0f, 0.0f, "all", 11);
    CHECK(ok, "model: %s", et_ctx_error(ctx));
    if (!ok) { et_ctx_free(ctx); return; }
    for (int l = 0; l < kCfg.n_layers; l++)
        for (int i = 0; i < ET_LIN_COUNT; i++)
            if (m.layers[l].lora_b[i])
                et_t_fill(m.layers[l].lora_b[i]->data, et_nelements(m.layers[l].lora_b[i]),
                          100 + 10 * l + i, 0.05f);
    et_llama_batch b;
    const int64_t T = 8, B = 2, P = (T - 1) * B;
    ok = et_llama_batch_new(&b, &m, T, B, P);
    if (ok) et_toy_fill_batch(&b, kCfg.vocab, 5);
    et_tensor *loss = ok ? et_llama_loss(&m, &b, false) : NULL;
    et_graph *g = et_graph_new(ctx, 8192);
    et_backward_opts bo = { 0 };
    ok = loss && et_graph_add(g, loss) && et_graph_backward(g, loss, &bo);
    CHECK(ok, "graph: %s", et_ctx_error(ctx));
    /* outputs: the loss and every adapter gradient */
    et_tensor *outs[1 + 2 * ET_LLAMA_MAX_LAYERS * ET_LIN_COUNT];
    int no = 0;
    if (ok) {
        outs[no++] = loss;
        for (int l = 0; l < kCfg.n_layers; l++)
            for (int i = 0; i < ET_LIN_COUNT; i++) {
                if (m.layers[l].lora_a[i]) outs[no++] = m.layers[l].lora_a[i]->grad;
                if (m.layers[l].lora_b[i]) outs[no++] = m.layers[l].lora_b[i]->grad;
            }
        for (int i = 0; i < no; i++) {
            CHECK(outs[i] != NULL, "output %d missing", i);
            if (!outs[i]) ok = false; else outs[i]->flags |= ET_FLAG_OUTPUT;
        }
    }
    et_plan plan;
    ok = ok && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan) &&
         et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
    CHECK(ok, "cpu: %s", et_ctx_error(ctx));
    char err[200];
    et_backend *vk = ok ? et_vk_backend_new(-1, err, sizeof err) : NULL;
    CHECK(!ok || vk, "vulkan: %s", err);
    if (vk) {
        worst = 0;
        float **want = malloc((size_t)no * sizeof *want);
        for (int i = 0; i < no; i++) {
            size_t nb = et_nbytes(outs[i]);
            want[i] = malloc(nb);
            memcpy(want[i], outs[i]->data, nb);
            memset(outs[i]->data, 0xff, nb);
        }
        ok = et_backend_check(vk, g) && vk->prepare(vk, g, &plan) &&
             vk->run(vk, g, &plan, 0, g->n_nodes);
        CHECK(ok, "vulkan run (%d nodes): %s", g->n_nodes, et_ctx_error(ctx));
        for (int i = 0; i < no && ok; i++) {
            CHECK(vk->download(vk, outs[i]), "download %s", outs[i]->name);
            char what[96];
            snprintf(what, sizeof what, "%s %s", quantized ? "qlora" : "lora", outs[i]->name);
            compare(what, outs[i], want[i], 1e-5);
        }
        if (ok) printf("#   %s step: %d nodes, loss %.6f, %d adapter gradients, worst normalized "
                       "error %.2e\n", quantized ? "QLoRA (NF4 base)" : "LoRA", g->n_nodes,
                       ((float *)loss->data)[0], no - 1, worst);
        for (int i = 0; i < no; i++) free(want[i]);
        free(want);
        vk->free(vk);
    }
    if (ok) et_plan_free(&plan);
    et_graph_free(g);
    et_ctx_free(ctx);
}

static void test_lora_step(void) { lora_step(false); }
static void test_qlora_step(void) { lora_step(true); }

/* Prefill 5 tokens, then 3 decode steps; each step is its own graph over the shared cache. */
static void test_generation_logits(void) {
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    const int32_t prompt[8] = { 3, 17, 5, 40, 9, 22, 61, 0 };
    const int steps[4][2] = { { 0, 5 }, { 5, 1 }, { 6, 1 }, { 7, 1 } };   /* n_past, T */
    float cpu_logits[4][64];
    worst = 0;
    char err[200];
    et_backend *vk = et_vk_backend_new(-1, err, sizeof err);
    CHECK(vk != NULL, "vulkan: %s", err);
    if (!vk) return;
    for (int side = 0; side < 2; side++) {
        et_ctx *ctx = et_ctx_new(1 << 13);
        et_llama m;
        et_llama_cache cache;
        bool ok = et_llama_init(&m, ctx, &kCfg, 7, 0) && et_llama_cache_new(&cache, &m, ctx, 16);
        CHECK(ok, "model: %s", et_ctx_error(ctx));
        for (int s = 0; s < 4 && ok; s++) {
            int np = steps[s][0], T = steps[s][1];
            et_tensor *ids = et_new_1d(ctx, ET_I32, T, ET_FLAG_INPUT, "ids");
            et_tensor *pos = et_new_1d(ctx, ET_I32, T, ET_FLAG_INPUT, "pos");
            for (int i = 0; i < T; i++) {
                ((int32_t *)ids->data)[i] = prompt[np + i];
                ((int32_t *)pos->data)[i] = np + i;
            }
            et_tensor *logits = et_llama_decode(&m, &cache, ids, pos, np);
            et_graph *g = et_graph_new(ctx, 2048);
            et_plan plan;
            ok = logits && et_graph_add(g, logits);
            if (ok) logits->flags |= ET_FLAG_OUTPUT;
            ok = ok && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
            if (ok && side == 0) {
                ok = et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
                if (ok) memcpy(cpu_logits[s], logits->data, sizeof cpu_logits[s]);
            } else if (ok) {
                /* the cache lives on the device across steps: prepare uploads it the first
                 * time only (it is a leaf already known to this backend) */
                ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes) &&
                     vk->download(vk, logits);
                char what[64];
                snprintf(what, sizeof what, "logits after step %d (n_past %d, T %d)", s, np, T);
                if (ok) compare(what, logits, cpu_logits[s], 1e-5);
            }
            CHECK(ok, "%s step %d: %s", side ? "vulkan" : "cpu", s, et_ctx_error(ctx));
            if (ok) et_plan_free(&plan);
            et_graph_free(g);
        }
        et_ctx_free(ctx);
    }
    printf("#   generation: 4 steps, worst normalized logit error %.2e\n", worst);
    vk->free(vk);
}

/* Greedy decoding teacher-forced by the CPU's choices: logits and argmax per step. */
static void test_greedy_parity(void) {
    CHECK(et_kern_set_isa(ET_ISA_REF), "cannot select the reference kernels");
    enum { NP = 5, NSTEP = 32, V = 64 };
    static float cpu_logits[NSTEP + 1][V];
    int32_t toks[NP + NSTEP + 1] = { 3, 17, 5, 40, 9 };
    char err[200];
    et_backend *vk = et_vk_backend_new(-1, err, sizeof err);
    CHECK(vk != NULL, "vulkan: %s", err);
    if (!vk) return;
    int flips = 0, near_ties = 0;
    double worst_abs = 0, min_gap = INFINITY;
    for (int side = 0; side < 2; side++) {
        et_ctx *ctx = et_ctx_new(1 << 14);
        et_llama m;
        et_llama_cache cache;
        et_llama_config cfg = kCfg;
        cfg.max_seq = 64;
        bool ok = et_llama_init(&m, ctx, &cfg, 13, 0) && et_llama_cache_new(&cache, &m, ctx, NP + NSTEP + 1);
        CHECK(ok, "model: %s", et_ctx_error(ctx));
        for (int s = 0; s <= NSTEP && ok; s++) {
            int np = s == 0 ? 0 : NP + s - 1, T = s == 0 ? NP : 1;
            et_ctx_mark mk = et_ctx_get_mark(ctx);
            et_tensor *ids = et_new_1d(ctx, ET_I32, T, ET_FLAG_INPUT, "ids");
            et_tensor *pos = et_new_1d(ctx, ET_I32, T, ET_FLAG_INPUT, "pos");
            for (int i = 0; i < T; i++) {
                ((int32_t *)ids->data)[i] = toks[np + i];
                ((int32_t *)pos->data)[i] = np + i;
            }
            et_tensor *logits = et_llama_decode(&m, &cache, ids, pos, np);
            et_graph *g = et_graph_new(ctx, 2048);
            et_plan plan;
            ok = logits && et_graph_add(g, logits);
            if (ok) logits->flags |= ET_FLAG_OUTPUT;
            ok = ok && et_graph_plan(g, &plan) && et_graph_alloc(g, &plan);
            if (ok && side == 0) ok = et_backend_cpu()->run(et_backend_cpu(), g, &plan, 0, g->n_nodes);
            /* the cache is the only state kept on the device between steps */
            if (ok && side == 1) {
                et_vk_backend_forget(vk, mk.n_tensors);
                ok = vk->prepare(vk, g, &plan) && vk->run(vk, g, &plan, 0, g->n_nodes) && vk->download(vk, logits);
            }
            CHECK(ok, "%s step %d: %s", side ? "vulkan" : "cpu", s, et_ctx_error(ctx));
            const float *lg = ok ? (const float *)logits->data : NULL;   /* the last new token's [V] */
            if (ok && side == 0) {
                memcpy(cpu_logits[s], lg, sizeof cpu_logits[s]);
                int best = 0;
                for (int v = 1; v < V; v++) if (lg[v] > lg[best]) best = v;
                toks[NP + s] = best;   /* the next input of both sides */
            } else if (ok) {
                const float *c = cpu_logits[s];
                int bc = 0, bv = 0;
                double mx = 0, dmax = 0;
                for (int v = 0; v < V; v++) {
                    if (c[v] > c[bc]) bc = v;
                    if (lg[v] > lg[bv]) bv = v;
                    mx = fmax(mx, fabs(c[v]));
                    dmax = fmax(dmax, fabs((double)lg[v] - c[v]));
                }
                double second = -INFINITY, tol = 1e-5 * mx;
                for (int v = 0; v < V; v++) if (v != bc && c[v] > second) second = c[v];
                double gap = c[bc] - second;
                worst_abs = fmax(worst_abs, dmax / (mx > 0 ? mx : 1));
                min_gap = fmin(min_gap, gap);
                near_ties += gap < tol;
                CHECK(dmax <= tol, "step %d: max |dlogit| %.3g > %.3g", s, dmax, tol);
                if (bv != bc) {
                    flips++;
                    CHECK(gap <= 2 * dmax, "step %d: vulkan picks %d, the CPU %d with a top-2 gap of %.3g "
                          "(> 2 x max |dlogit| %.3g)", s, bv, bc, gap, dmax);
                }
            }
            et_plan_free(&plan);
            et_graph_free(g);
            et_ctx_reset(ctx, mk);
        }
        et_ctx_free(ctx);
    }
    printf("#   greedy parity: %d steps, worst max |dlogit| / max |logit| %.2e, smallest CPU top-2 gap %.3g, "
           "%d near ties (gap < tolerance), %d different argmax\n", NSTEP + 1, worst_abs, min_gap, near_ties, flips);
    vk->free(vk);
}

int main(void) {
    if (vkt_opted_out()) return 0;
    RUN(test_lora_step);
    RUN(test_qlora_step);
    RUN(test_generation_logits);
    RUN(test_greedy_parity);
    return DONE();
}
